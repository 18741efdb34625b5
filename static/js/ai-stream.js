// Stream an AI operation: POST with fetch, read its Server-Sent Events from a ReadableStream,
// and pick it up again where it broke if the connection drops. EventSource cannot POST a
// body, hence this small reader. No build step: an ES module as is.

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
 * Start one AI stream, or follow a running suggestion, and report it through callbacks;
 * return `{abort(), done, suggestionId}`.
 *
 * With `url` and `body`, POST them; with `suggestionId` instead, follow that suggestion from
 * its start (`GET eventsUrl(id)`). A connection that drops before the end is picked up again
 * where it broke: `GET eventsUrl(id)` with `Last-Event-ID` (the id comes in the response's
 * `X-Suggestion-Id`), or, if the POST never answered, the POST again with its
 * `Idempotency-Key` (which joins the call it started, if it did). `retries` times, waiting
 * `retryDelay` ms, twice as long each time (up to 8 times as long), or until the browser is
 * back online. Events whose id is not past the last one are dropped: nothing twice.
 *
 * `onStarted(suggestionId)` once the suggestion is known, `onText(content)` for each piece of
 * text, `onConfidence(value)`, `onMetadata(value)`, `onError({message, status?})` once at
 * most, and `onDone({status})` last, always, with status "completed", "error" or "aborted".
 * `done` is a promise of that status.
 */
export function streamAI({
  url, body, csrfToken, headers = {}, suggestionId = null,
  eventsUrl = (id) => `/api/ai/suggestions/${id}/events`,
  retries = 6, retryDelay = 500,
  onStarted, onText, onConfidence, onMetadata, onError, onDone,
  fetch: fetchImpl = globalThis.fetch,
}) {
  const controller = new AbortController();
  const handle = { suggestionId, abort: () => controller.abort(), done: null };
  const canRepost = Object.keys(headers).some((name) => name.toLowerCase() === "idempotency-key");
  let outcome = null;
  let lastId = -1; // the id of the last event taken, as a number
  let connectionId = ""; // the id as this connection last set it (an event without one keeps it)

  function fail(error) {
    if (!outcome) {
      outcome = "error";
      onError?.(error);
    }
  }

  function dispatch({ data, id }) {
    if (id !== connectionId) { // the event has an id of its own
      connectionId = id;
      const number = Number(id);
      if (number <= lastId) return; // had it already, before the connection broke
      lastId = number;
    }
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

  function connect() {
    const common = { credentials: "same-origin", cache: "no-store", signal: controller.signal };
    if (handle.suggestionId !== null) {
      return fetchImpl(eventsUrl(handle.suggestionId), {
        ...common,
        method: "GET",
        headers: { Accept: "text/event-stream", ...(lastId >= 0 ? { "Last-Event-ID": String(lastId) } : {}) },
      });
    }
    return fetchImpl(url, {
      ...common,
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        Accept: "text/event-stream",
        ...(csrfToken ? { "X-CSRFToken": csrfToken } : {}),
        ...headers,
      },
      body: JSON.stringify(body),
    });
  }

  /** Read one response to its end; return whether it was refused (and reported). */
  async function read(response) {
    const type = response.headers.get("Content-Type") || "";
    if (!response.ok || !type.startsWith("text/event-stream")) {
      fail(await describeResponse(response));
      return true;
    }
    const id = response.headers.get("X-Suggestion-Id");
    if (id && handle.suggestionId === null) {
      handle.suggestionId = id;
      onStarted?.(id);
    }
    connectionId = "";
    const parser = createParser(dispatch);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        parser.feed(value);
      }
      parser.end();
    } catch (error) {
      if (controller.signal.aborted) throw error;
      // The connection broke mid-stream: picked up again below.
    }
    return false;
  }

  function pause(attempt) {
    const wait = retryDelay * 2 ** Math.min(attempt - 1, 3);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        globalThis.removeEventListener?.("online", done);
        controller.signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, wait);
      globalThis.addEventListener?.("online", done); // back online: try at once
      controller.signal.addEventListener("abort", done);
    });
  }

  async function run() {
    if (handle.suggestionId !== null) onStarted?.(handle.suggestionId);
    let attempt = 0;
    for (;;) {
      let response = null;
      try {
        response = await connect();
      } catch (error) {
        if (controller.signal.aborted) throw error;
      }
      const before = lastId;
      if (response !== null && (await read(response))) return;
      if (outcome) return;
      const resumable = handle.suggestionId !== null || canRepost;
      if (lastId > before) attempt = 0; // it moved on: a new break, a new series of tries
      if (!resumable || ++attempt > retries || controller.signal.aborted) {
        if (controller.signal.aborted) return;
        fail(response === null
          ? { message: "Could not reach the server. Check your connection and try again." }
          : { message: "The connection closed before the answer was complete. Try again." });
        return;
      }
      await pause(attempt);
      if (controller.signal.aborted) return;
    }
  }

  handle.done = run()
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

  return handle;
}
