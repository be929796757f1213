// The playground's controller: wires the page's controls to the API and the conversation view.

import { ApiError, isReady, listModels, streamChat } from "./api.js";
import { ConversationView } from "./conversation.js";
import { Attachments, imageFiles } from "./images.js";

const $ = (id) => document.getElementById(id);
const API_KEY_STORAGE = "llava-serve.api-key";
const NARROW_SCREEN = "(max-width: 760px)";
const STATUS_POLL_MS = 5000;

function numberFrom(input) {
  const value = input.valueAsNumber;
  return Number.isFinite(value) ? value : null;
}

function userMessage(text, images) {
  if (!images.length) return { role: "user", content: text };
  const parts = images.map((image) => ({ type: "image_url", image_url: { url: image.url } }));
  if (text) parts.push({ type: "text", text });
  return { role: "user", content: parts };
}

function imageCount(messages) {
  return messages
    .filter((message) => Array.isArray(message.content))
    .flatMap((message) => message.content)
    .filter((part) => part.type === "image_url").length;
}

class Playground {
  constructor() {
    this.history = []; // the turns sent so far; the system prompt is added per request
    this.controller = null; // the AbortController of the answer being streamed
    this.modelsError = null; // why /v1/models failed (e.g. a missing key); shown until it works
    this.epoch = 0; // bumped by Clear, so an answer that settles later stays out of the new history
    this.view = new ConversationView($("conversation"), $("empty-hint"));
    this.attachments = new Attachments($("attachments"), () => this.updateControls());
    $("api-key").value = sessionStorage.getItem(API_KEY_STORAGE) || "";
    if (window.matchMedia(NARROW_SCREEN).matches) $("settings").open = false;
    this.bindComposer();
    this.bindImageInputs();
    this.bindSettings();
    this.updateControls();
    this.loadModels();
    this.pollStatus();
  }

  get apiKey() {
    return $("api-key").value.trim();
  }

  get streaming() {
    return this.controller !== null;
  }

  bindComposer() {
    $("composer").addEventListener("submit", (event) => {
      event.preventDefault();
      this.send();
    });
    $("message").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault(); // Enter sends; Shift+Enter keeps the new line
        this.send();
      }
    });
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && this.streaming) this.stop();
    });
    $("message").addEventListener("input", () => this.updateControls());
    $("stop").addEventListener("click", () => this.stop());
    $("clear").addEventListener("click", () => this.clear());
  }

  bindImageInputs() {
    $("image-file").addEventListener("change", async (event) => {
      await this.attachments.addFiles(event.target.files);
      event.target.value = ""; // choosing the same file again fires `change` again
    });
    $("add-url").addEventListener("click", () => this.addImageUrl());
    $("image-url").addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        this.addImageUrl();
      }
    });
    document.addEventListener("paste", (event) => {
      const files = imageFiles(event.clipboardData, { imagesOnly: true });
      if (files.length) {
        event.preventDefault();
        this.attachments.addFiles(files);
      }
    });
    this.bindDragAndDrop();
  }

  bindDragAndDrop() {
    const overlay = $("drop-overlay");
    const carriesFiles = (event) => event.dataTransfer?.types.includes("Files");
    document.addEventListener("dragover", (event) => {
      if (!carriesFiles(event)) return;
      event.preventDefault();
      overlay.hidden = false;
    });
    document.addEventListener("dragleave", (event) => {
      if (event.relatedTarget === null) overlay.hidden = true; // left the window
    });
    document.addEventListener("drop", (event) => {
      if (!carriesFiles(event)) return;
      event.preventDefault();
      overlay.hidden = true;
      // Every dropped file goes to the server, which says clearly what it cannot read.
      this.attachments.addFiles(imageFiles(event.dataTransfer, { imagesOnly: false }));
    });
  }

  bindSettings() {
    $("api-key").addEventListener("input", () => {
      if (this.apiKey) sessionStorage.setItem(API_KEY_STORAGE, this.apiKey);
      else sessionStorage.removeItem(API_KEY_STORAGE);
    });
    $("api-key").addEventListener("change", () => this.loadModels());
  }

  addImageUrl() {
    const input = $("image-url");
    try {
      this.attachments.addUrl(input.value);
      input.value = "";
      this.note("");
    } catch (error) {
      this.note(error.message);
    }
  }

  note(text) {
    $("composer-note").textContent = text;
  }

  setStatus(state, text) {
    const status = $("server-status");
    status.dataset.state = state;
    status.textContent = text;
  }

  async loadModels() {
    const select = $("model");
    try {
      const models = await listModels(this.apiKey);
      const chosen = select.value;
      select.replaceChildren(...models.map((id) => new Option(id, id)));
      if (models.includes(chosen)) select.value = chosen;
      this.modelsError = null;
    } catch (error) {
      const needsKey = error instanceof ApiError && error.status === 401;
      this.modelsError = needsKey ? "This server needs an API key (Settings)." : error.message;
      this.setStatus("error", this.modelsError);
      if (needsKey) {
        $("settings").open = true;
        $("api-key").focus();
      }
    }
  }

  async pollStatus() {
    const ready = await isReady();
    if (this.modelsError) this.setStatus("error", this.modelsError);
    else if (ready) this.setStatus("ready", "Ready");
    else this.setStatus("loading", "Not ready (loading or unreachable)");
    if (ready && !$("model").options.length) this.loadModels();
    setTimeout(() => this.pollStatus(), STATUS_POLL_MS);
  }

  updateControls() {
    const hasInput = $("message").value.trim() !== "" || this.attachments.items.length > 0;
    $("send").hidden = this.streaming;
    $("send").disabled = !hasInput;
    $("stop").hidden = !this.streaming;
  }

  requestBody(messages) {
    const system = $("system-prompt").value.trim();
    const body = { model: $("model").value, messages };
    if (system) body.messages = [{ role: "system", content: system }, ...messages];
    const options = { temperature: "temperature", top_p: "top-p", max_tokens: "max-tokens" };
    for (const [name, id] of Object.entries(options)) {
      const value = numberFrom($(id));
      if (value !== null) body[name] = value; // left empty: the model's default
    }
    return body;
  }

  async send() {
    const text = $("message").value.trim();
    if (this.streaming || (!text && !this.attachments.items.length)) return;
    const images = this.attachments.take();
    $("message").value = "";
    this.note("");
    const turn = userMessage(text, images);
    const userItem = this.view.addUser(text, images);
    const answer = this.view.addAnswer();
    const messages = [...this.history, turn];
    const epoch = this.epoch;
    const controller = new AbortController();
    this.controller = controller;
    this.updateControls();
    const started = performance.now();
    let ttftMs = null;
    try {
      const result = await streamChat(this.requestBody(messages), {
        apiKey: this.apiKey,
        signal: controller.signal,
        onText: (piece) => {
          if (ttftMs === null) ttftMs = performance.now() - started;
          answer.append(piece);
        },
      });
      const elapsedMs = performance.now() - started;
      answer.finish({ ...result, ttftMs, elapsedMs, imageCount: imageCount(messages) });
      if (epoch === this.epoch) {
        this.history.push(turn, { role: "assistant", content: answer.content });
      }
    } catch (error) {
      if (epoch === this.epoch) this.settleFailure(error, { turn, answer, userItem, text, images });
    } finally {
      if (this.controller === controller) this.controller = null;
      this.updateControls();
      $("message").focus();
    }
  }

  /** A stopped answer keeps what arrived; a failed turn leaves the conversation, for a retry. */
  settleFailure(error, { turn, answer, userItem, text, images }) {
    if (error.name === "AbortError") {
      answer.stopped();
      if (answer.content) {
        this.history.push(turn, { role: "assistant", content: answer.content });
        return;
      }
    } else if (error instanceof ApiError) {
      answer.failed(error, this.wayForward(error, { text, images }));
    } else {
      // fetch() fails with a TypeError when the server cannot be reached at all.
      const reach = error instanceof TypeError ? "Cannot reach the server: " : "";
      answer.failed(new ApiError(`${reach}${error.message || error}`));
    }
    userItem.classList.add("not-sent");
    userItem.title = "Not part of the conversation: fix it and send again.";
    if (!$("message").value) $("message").value = text;
    this.attachments.restore(images);
  }

  /**
   * A model that takes fewer images per request than the conversation now holds: offer to start
   * a new conversation with this turn's pictures and question, instead of only the error.
   */
  wayForward(error, { text, images }) {
    if (error.code !== "too_many_images" || !images.length || !imageCount(this.history)) {
      return null;
    }
    return {
      label: "Start a new conversation with this picture",
      run: () => {
        this.clear();
        this.attachments.restore(images);
        $("message").value = text;
        this.send();
      },
    };
  }

  stop() {
    this.controller?.abort();
  }

  clear() {
    this.stop();
    this.epoch += 1;
    this.history = [];
    this.view.clear();
    this.attachments.take(); // the tray belongs to the conversation being cleared
    this.note("Conversation cleared.");
    $("message").focus();
  }
}

window.playground = new Playground();
