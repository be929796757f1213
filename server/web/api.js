// The server's OpenAI-style API, as the playground uses it: models, readiness, streamed chat.

/** An error the API reported, with its OpenAI envelope fields when there was one. */
export class ApiError extends Error {
  constructor(message, { status = null, type = null, param = null, code = null } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.type = type;
    this.param = param;
    this.code = code;
  }
}

function headers(apiKey, extra = {}) {
  const result = { ...extra };
  if (apiKey) result.Authorization = `Bearer ${apiKey}`;
  return result;
}

/** Turns a failed response into an ApiError, keeping the server's own message. */
async function errorFrom(response) {
  const text = await response.text();
  try {
    const { error } = JSON.parse(text);
    if (error && error.message) {
      return new ApiError(error.message, { status: response.status, ...error });
    }
  } catch {
    // not the JSON envelope: fall through to the raw text
  }
  const detail = text.trim().slice(0, 300) || response.statusText;
  return new ApiError(`HTTP ${response.status}: ${detail}`, { status: response.status });
}

export async function listModels(apiKey) {
  const response = await fetch("/v1/models", { headers: headers(apiKey) });
  if (!response.ok) throw await errorFrom(response);
  const body = await response.json();
  return body.data.map((model) => model.id);
}

export async function isReady() {
  try {
    return (await fetch("/ready", { cache: "no-store" })).ok;
  } catch {
    return false;
  }
}

/** Yields each `data:` payload of a server-sent-event stream, parsed, until `[DONE]`. */
async function* events(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      for (const line of event.split("\n")) {
        if (!line.startsWith("data:")) continue;
        const data = line.slice(5).trim();
        if (data === "[DONE]") return;
        yield JSON.parse(data);
      }
    }
  }
}

/**
 * POSTs a streaming chat completion. Calls onText(piece) for each piece of the answer and
 * returns { usage, finishReason }. Aborting `signal` cancels the request (an AbortError).
 */
export async function streamChat(body, { apiKey, signal, onText }) {
  const response = await fetch("/v1/chat/completions", {
    method: "POST",
    headers: headers(apiKey, { "Content-Type": "application/json" }),
    body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }),
    signal,
  });
  if (!response.ok) throw await errorFrom(response);
  let usage = null;
  let finishReason = null;
  for await (const event of events(response.body)) {
    // Events already received stay unread once the user stops: nothing shows after Stop.
    signal?.throwIfAborted();
    // A failure after the stream started arrives as a last event holding the error envelope.
    if (event.error) throw new ApiError(event.error.message, event.error);
    if (event.usage) usage = event.usage;
    for (const choice of event.choices || []) {
      if (choice.delta && choice.delta.content) onText(choice.delta.content);
      if (choice.finish_reason) finishReason = choice.finish_reason;
    }
  }
  return { usage, finishReason };
}
