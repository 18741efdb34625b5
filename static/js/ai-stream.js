// Stream an AI operation: POST with fetch, read its Server-Sent Events from a ReadableStream.
// EventSource cannot POST a body, hence this small reader. No build step: an ES module as is.

/**
 * Make an SSE parser that calls `onMessage({data, id, event})` for each complete event.
 *
 * It follows the HTML standard's rules: lines end in CRLF, LF or CR (even when a chunk ends
 * between the CR and the LF), `data:` lines join with "\n", a blank line dispatches, lines
 * starting with ":" are comments, `id:`, `event:`, `retry:` and unknown fields are tolerated,
 * and an event cut off by the end of the stream is dropped.
 */
export function createParser(onMessage) {
  let buffer = "";
  let data = [];
  let eventType = "";
  let lastId = "";

  function processLine(line) {
    if (line === "") {
      if (data.length) onMessage({ data: data.join("\n"), id: lastId, event: eventType || "message" });
      data = [];
      eventType = "";
      return;
    }
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") data.push(value);
    else if (field === "event") eventType = value;
    else if (field === "id" && !value.includes("\0")) lastId = value;
  }

  return {
    feed(chunk) {
      buffer += chunk;
      const breaks = /\r\n|\r|\n/g;
      let start = 0;
      let match;
      while ((match = breaks.exec(buffer)) !== null) {
        // A CR that ends the chunk may be the first half of a CRLF: wait for the next chunk.
        if (match[0] === "\r" && breaks.lastIndex === buffer.length) break;
        processLine(buffer.slice(start, match.index));
        start = breaks.lastIndex;
      }
      buffer = buffer.slice(start);
    },
    end() {
      if (buffer.endsWith("\r")) processLine(buffer.slice(0, -1)); // the held-back CR ended it
      buffer = "";
      data = [];
    },
  };
}

/** Describe a refused request in words, from its status and JSON body. */
export async function describeResponse(response) {
  let body = {};
  try {
    body = await response.json();
  } catch {
    // Not JSON (a proxy's error page, say): the status alone must do.
  }
  const detail = typeof body.detail === "string" ? body.detail : "";
  const retryAfter = Number(response.headers.get("Retry-After")) || null;
  let message;
  if (response.status === 400) {
    const fields = Object.entries(body).map(([name, errors]) =>
      `${name}: ${[].concat(errors).join(" ")}`);
    message = `The request was refused. ${fields.join("; ") || detail}`.trim();
  } else if (response.status === 401) {
    message = "You are logged out. Log in again, then retry.";
  } else if (response.status === 403 && detail.startsWith("CSRF")) {
    message = "This page is out of date (its security token expired). Reload it, then retry.";
  } else if (response.status === 403) {
    message = detail || "You may not do this.";
  } else if (response.status === 404) {
    message = "It no longer exists. Reload the page.";
  } else if (response.status === 409) {
    message = detail || "This was already done, or cannot be done in its current state.";
  } else if (response.status === 429) {
    // A wait of more than an hour (a monthly budget spent) is one the server's message names.
    const soon = retryAfter && retryAfter <= 3600;
    const wait = soon ? ` Try again in ${retryAfter} second${retryAfter === 1 ? "" : "s"}.` : "";
    message = `${detail || "Too many AI requests right now."}${wait}`;
  } else {
    message = `The server could not do this (error ${response.status}). Try again in a moment.`;
  }
  return { message, status: response.status, retryAfter };
}

/**
 * Start one AI stream and report it through callbacks; return `{abort(), done}`.
 *
 * `onText(content)` for each piece of text, `onConfidence(value)`, `onMetadata(value)`,
 * `onError({message, status?})` once at most, and `onDone({status})` last, always, with status
 * "completed", "error" or "aborted". `done` is a promise of that status.
 */
export function streamAI({
  url, body, csrfToken, headers = {},
  onText, onConfidence, onMetadata, onError, onDone,
  fetch: fetchImpl = globalThis.fetch,
}) {
  const controller = new AbortController();
  let outcome = null;

  function fail(error) {
    if (!outcome) {
      outcome = "error";
      onError?.(error);
    }
  }

  function dispatch({ data }) {
    let event;
    try {
      event = JSON.parse(data);
    } catch {
      return; // not ours: ignore it, as clients ignore what they don't know
    }
    if (outcome) return;
    if (event.type === "text") onText?.(event.content);
    else if (event.type === "confidence") onConfidence?.(event.value);
    else if (event.type === "metadata") {
      outcome = "completed";
      onMetadata?.(event.value);
    } else if (event.type === "error") {
      fail({ message: event.message || "The operation failed." });
    }
  }

  async function run() {
    const response = await fetchImpl(url, {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        Accept: "text/event-stream",
        ...(csrfToken ? { "X-CSRFToken": csrfToken } : {}),
        ...headers,
      },
      body: JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
      signal: controller.signal,
    });
    const type = response.headers.get("Content-Type") || "";
    if (!response.ok || !type.startsWith("text/event-stream")) {
      fail(await describeResponse(response));
      return;
    }
    const parser = createParser(dispatch);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      parser.feed(value);
    }
    parser.end();
    if (!outcome) fail({ message: "The connection closed before the answer was complete. Try again." });
  }

  const done = run()
    .catch((error) => {
      if (controller.signal.aborted) return;
      if (outcome) return; // the answer was whole; the connection closing late changes nothing
      fail({ message: "Could not reach the server. Check your connection and try again." });
      console.error(error);
    })
    .then(() => {
      const status = outcome === "completed" ? "completed"
        : controller.signal.aborted && !outcome ? "aborted" : "error";
      onDone?.({ status });
      return status;
    });

  return {
    abort() {
      controller.abort();
    },
    done,
  };
}
