// The conversation as shown on the page: user turns, streamed answers, their figures, errors.

import { imagePreview } from "./images.js";

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function duration(ms) {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

function stat(name, label, value) {
  const item = element("span", "stat");
  item.dataset.stat = name;
  item.append(element("span", "stat-label", `${label} `), element("strong", "", String(value)));
  return item;
}

export class ConversationView {
  constructor(list, emptyHint) {
    this.list = list;
    this.emptyHint = emptyHint;
    // Follow new text while the reader is at the bottom; leave them be once they scroll up.
    // Scroll events arrive late, after layout may have changed, so only a move above where we
    // last scrolled to (the reader's own) unpins.
    this.pinned = true;
    this.autoTop = 0;
    list.addEventListener("scroll", () => {
      const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 48;
      this.pinned = atBottom || (this.pinned && list.scrollTop >= this.autoTop - 1);
    });
    new ResizeObserver(() => this.scroll()).observe(list);
  }

  clear() {
    this.list.replaceChildren();
    this.emptyHint.hidden = false;
  }

  addMessage(role, label) {
    const item = element("li", `message ${role}`);
    item.append(element("p", "role", label));
    this.list.append(item);
    this.emptyHint.hidden = true;
    this.pinned = true;
    this.scroll();
    return item;
  }

  /** Shows a user turn; returns its element. */
  addUser(text, images) {
    const item = this.addMessage("user", "You");
    if (images.length) {
      const strip = element("div", "message-images");
      for (const image of images) {
        strip.append(imagePreview(image.url, `Image sent: ${image.name}`, image.name));
      }
      item.append(strip);
    }
    item.append(element("p", "text", text));
    this.scroll();
    for (const image of item.querySelectorAll("img")) {
      image.addEventListener("load", () => this.scroll()); // its height is known only now
    }
    return item;
  }

  /** Starts an answer; returns an AnswerView that the stream fills in. */
  addAnswer() {
    const item = this.addMessage("assistant", "Assistant");
    return new AnswerView(item, () => this.scroll());
  }

  scroll() {
    if (!this.pinned) return;
    this.list.scrollTop = this.list.scrollHeight;
    this.autoTop = this.list.scrollTop;
  }
}

export class AnswerView {
  constructor(item, scroll) {
    this.item = item;
    this.scroll = scroll;
    this.text = element("p", "text answer");
    this.status = element("p", "answer-status", "Waiting for the first token…");
    this.item.append(this.text, this.status);
    // Screen readers hear the answer once it is complete, not token by token.
    this.item.setAttribute("aria-busy", "true");
    this.item.dataset.state = "streaming";
  }

  append(piece) {
    if (!this.text.textContent) this.status.textContent = "Answering…";
    this.text.append(piece);
    this.scroll();
  }

  get content() {
    return this.text.textContent;
  }

  settle(state, statusText) {
    this.item.dataset.state = state;
    this.item.setAttribute("aria-busy", "false");
    this.status.textContent = statusText;
    this.status.className = `answer-status ${state}`;
  }

  /** The answer is complete: show usage and timing. */
  finish({ usage, finishReason, ttftMs, elapsedMs, imageCount }) {
    const note = finishReason === "length" ? "Reached the max tokens limit." : "";
    this.settle("done", note);
    const stats = element("p", "stats");
    if (usage) {
      stats.append(stat("prompt-tokens", "prompt", usage.prompt_tokens));
      const imageTokens = usage.prompt_tokens_details?.image_tokens;
      if (imageTokens !== undefined) stats.append(stat("image-tokens", "image tokens", imageTokens));
      stats.append(stat("completion-tokens", "completion", usage.completion_tokens));
    }
    stats.append(stat("images", "images", imageCount));
    if (ttftMs !== null) stats.append(stat("ttft", "first token", duration(ttftMs)));
    stats.append(stat("elapsed", "total", duration(elapsedMs)));
    if (usage && usage.completion_tokens > 1 && ttftMs !== null && elapsedMs > ttftMs) {
      const rate = ((usage.completion_tokens - 1) * 1000) / (elapsedMs - ttftMs);
      stats.append(stat("rate", "tokens/s", rate.toFixed(1)));
    }
    this.item.append(stats);
    this.scroll();
  }

  stopped() {
    this.settle("stopped", "Stopped: the request was cancelled.");
  }

  /** Shows the error; `action` ({ label, run }) offers a way forward as a button. */
  failed(error, action = null) {
    this.settle("error", "");
    const box = element("div", "error-box");
    box.setAttribute("role", "alert");
    const where = error.status ? `Error ${error.status}` : "Error";
    box.append(element("strong", "", `${where}: `), element("span", "error-message", error.message));
    if (error.param) box.append(element("span", "error-param", ` (parameter: ${error.param})`));
    if (action) {
      const button = element("button", "error-action", action.label);
      button.type = "button";
      button.addEventListener("click", () => action.run(), { once: true });
      box.append(button);
    }
    this.item.append(box);
    this.scroll();
  }
}
