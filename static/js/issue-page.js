// The issue page: run an AI operation, show its answer as it streams (and after a reload, or
// a connection that dropped), stop it, then its review.
import { streamAI } from "./ai-stream.js";
import { refresh, showReview } from "./review.js";

const byId = (id) => document.getElementById(id);
const panel = byId("ai");
const csrfToken = document.querySelector('meta[name="csrf-token"]').content;
const ui = {
  status: byId("ai-status"),
  error: byId("ai-error"),
  output: byId("ai-output"),
  confidence: byId("ai-confidence"),
  result: byId("ai-result"),
  stop: byId("ai-stop"),
  operations: [...panel.querySelectorAll("button[data-kind]")],
};

const RUNNING = {
  refine: "Refining the description…",
  estimate: "Estimating the story points…",
  breakdown: "Breaking the issue down into subtasks…",
};
const ENDED = {
  completed: "Done. Accept the suggestion to apply it to the issue, or reject it.",
  aborted: "Stopped. The text so far is kept as a cancelled suggestion.",
  error: "The operation failed and nothing was changed. You can try again.",
};
let running = null;

/** Build an element; children are nodes or text (never parsed as HTML). */
function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  element.append(...children.map((child) => (child instanceof Node ? child : String(child))));
  return element;
}


function setState(state) {
  panel.dataset.state = state;
  const busy = state === "streaming";
  for (const button of ui.operations) button.disabled = busy;
  ui.stop.disabled = !busy;
  ui.output.setAttribute("aria-busy", String(busy));
}

const reducedMotion = matchMedia("(prefers-reduced-motion: reduce)");

/**
 * Show streamed text in `node` a word at a time, however many words each event brought (the
 * server sends at most one event every AI_SSE_FLUSH_INTERVAL). Each frame shows a sixth of the
 * words waiting, and at least one: a batch is shown within about a tenth of a second.
 */
function typewriter(node) {
  const shown = node.appendChild(document.createTextNode(""));
  let waiting = "";
  let frame = 0;

  function step() {
    const words = waiting.match(/\s*\S+/g) ?? []; // each with the space before it
    const count = Math.ceil(words.length / 6);
    const next = words.slice(0, count).join("");
    shown.appendData(next);
    waiting = waiting.slice(next.length);
    frame = count ? requestAnimationFrame(step) : 0;
  }

  return {
    add(text) {
      waiting += text;
      if (reducedMotion.matches) this.flush();
      else if (!frame) frame = requestAnimationFrame(step);
    },
    /** Show all that is waiting, now. */
    flush() {
      cancelAnimationFrame(frame);
      frame = 0;
      shown.appendData(waiting);
      waiting = "";
    },
  };
}

/** A key for one click of an operation: a retry of its request joins the call it started. */
function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return [...crypto.getRandomValues(new Uint8Array(16))] // not a secure context (plain http)
    .map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

function start(kind, button) {
  if (running) return; // a second click while one runs starts nothing
  follow(kind, button, {
    url: panel.dataset[`${kind}Url`],
    body: { issueId: panel.dataset.issue },
    headers: { "Idempotency-Key": newKey() },
  });
}

/** Show a call as it streams: a new one (`url`, `body`), or a running one (`suggestionId`). */
function follow(kind, button, source) {
  let finished = null; // the metadata, once the answer is complete
  ui.error.hidden = true;
  ui.output.replaceChildren();
  ui.output.classList.replace("markdown", "prose");
  const text = typewriter(ui.output);
  ui.output.hidden = false;
  for (const part of [ui.confidence, ui.result]) part.hidden = true;
  const hadFocus = button !== null && document.activeElement === button;
  setState("streaming");
  if (hadFocus) ui.stop.focus(); // the pressed button is now disabled: Stop is the next action
  ui.status.textContent = RUNNING[kind];

  const call = { stopping: false, stream: null };
  running = call;
  call.stream = streamAI({
    ...source,
    csrfToken,
    eventsUrl: (id) => `${panel.dataset.suggestionsUrl}${id}/events`,
    onStarted: (id) => {
      if (call.stopping) cancel(call, id); // Stop was pressed before the call was known
    },
    onText: (piece) => text.add(piece),
    onConfidence: showConfidence,
    onMetadata: (metadata) => (finished = metadata),
    onError: ({ message }) => {
      if (call.stopping) return; // its "stopped" is what Stop asked for
      ui.error.textContent = message;
      ui.error.hidden = false;
    },
    onDone: ({ status }) => {
      running = null;
      text.flush();
      const stopHadFocus = document.activeElement === ui.stop;
      ui.output.textContent = ui.output.textContent.trimEnd(); // one text node, no blank tail
      if (!ui.output.textContent) ui.output.hidden = true;
      const shown = call.stopping && status !== "completed" ? "aborted" : status;
      setState(shown);
      if (stopHadFocus) (button ?? ui.operations[0]).focus(); // Stop, now disabled, drops it
      ui.status.textContent = ENDED[shown];
      if (finished) {
        if (kind === "refine") ui.output.hidden = true; // the review shows the text as a change
        showReview({ suggestionId: finished.suggestionId, container: ui.result, output: ui.output });
      }
      refreshHistory();
    },
  });
}

/** Stop the running call on the server; its stream then ends saying it was stopped. */
function stop() {
  if (!running || running.stopping) return;
  running.stopping = true;
  ui.status.textContent = "Stopping…";
  if (running.stream.suggestionId !== null) cancel(running, running.stream.suggestionId);
}

async function cancel(call, id) {
  try {
    const response = await fetch(`${panel.dataset.suggestionsUrl}${id}/cancel`, {
      method: "POST",
      headers: { Accept: "application/json", "X-CSRFToken": csrfToken },
      credentials: "same-origin",
    });
    // 409: it ended first, and its stream says how.
    if (response.ok || response.status === 409) return;
  } catch {
    // Unreachable: let go of it below; the server ends it once nobody watches.
  }
  call.stream.abort();
}

function showConfidence(value) {
  const percent = Math.round(value * 100);
  ui.confidence.replaceChildren(
    "Confidence: ", h("strong", {}, `${percent}%`), " ",
    h("meter", { min: 0, max: 100, value: percent, "aria-hidden": "true" }),
  );
  ui.confidence.hidden = false;
}

/** Show the new suggestion in the history once the server has stored how it ended. */
async function refreshHistory(attempts = 10) {
  await refresh(["history-list"]);
  // A stopped stream is stored "cancelled" a moment after the browser let go of it.
  if (attempts > 1 && byId("history-list").querySelector('[data-status="streaming"]')) {
    setTimeout(() => refreshHistory(attempts - 1), 300);
  }
}

for (const button of ui.operations) button.addEventListener("click", () => start(button.dataset.kind, button));
ui.stop.addEventListener("click", stop);
// A call of yours still running (the page was reloaded meanwhile): show it and follow it on.
const runningCall = byId("history-list").querySelector('[data-status="streaming"][data-mine]');
if (runningCall) {
  follow(runningCall.dataset.kind, null, { suggestionId: runningCall.dataset.suggestion });
} else {
  setState("idle");
  ui.status.textContent = "Choose an operation. The answer appears below as it is written.";
}

