// Review on the issue page: see the change, edit it, take part of it, accept, reject or undo.
// The server renders each review (ai_assist/templates/ai_assist/_suggestion_review.html): the word diff,
// the markdown, the inputs. This module reads those inputs and posts them to the API.
import { describeResponse } from "./ai-stream.js";

const byId = (id) => document.getElementById(id);
const panel = byId("ai");
const csrfToken = document.querySelector('meta[name="csrf-token"]').content;

const DONE = {
  accept: {
    refine: "Accepted: the description of the issue is updated.",
    estimate: "Accepted: the story points of the issue are updated.",
    breakdown: "Accepted: the subtasks are created as child issues.",
  },
  reject: "Rejected. The issue is unchanged.",
  revert: "Undone: the issue is as it was before this suggestion.",
};
const BUSY = {
  accept: "Applying the suggestion…",
  reject: "Rejecting the suggestion…",
  revert: "Undoing the suggestion…",
};

/** Replace parts of the page with their fresh copies from the server; one template renders. */
export async function refresh(ids) {
  try {
    const response = await fetch(location.href, { headers: { Accept: "text/html" }, cache: "no-store" });
    if (!response.ok) return;
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    for (const id of ids) {
      const fresh = page.getElementById(id);
      if (fresh) byId(id).replaceWith(document.adoptNode(fresh));
    }
    for (const form of document.querySelectorAll("form.review-form")) updateSelection(form);
    foldTwin();
  } catch (error) {
    console.warn("Could not refresh the page", error); // the next load shows it
  }
}

/** Fold the past suggestion that the AI panel shows under it: one review open at a time. */
function foldTwin() {
  const id = byId("ai-result").querySelector("form.review-form")?.dataset.suggestionId;
  const twin = id && byId("history-list").querySelector(`[data-suggestion="${CSS.escape(id)}"] details`);
  if (twin) twin.open = false;
}

/**
 * Show the review of a suggestion that just ended in `container`, and its answer rendered as
 * markdown in `output` (the stream showed it as plain text while it ran).
 */
export async function showReview({ suggestionId, container, output }) {
  const url = panel.dataset.reviewUrl.replace("/0/review/", `/${encodeURIComponent(suggestionId)}/review/`);
  let fragment;
  try {
    const response = await fetch(url, { headers: { Accept: "text/html" }, cache: "no-store" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    fragment = new DOMParser().parseFromString(await response.text(), "text/html");
  } catch (error) {
    console.warn("Could not load the review", error);
    container.replaceChildren(Object.assign(document.createElement("p"), {
      className: "notice notice--error",
      textContent: "The suggestion is stored, but its review could not be shown. Reload the page to review it.",
    }));
    container.hidden = false;
    return;
  }
  const rendered = fragment.querySelector("[data-rendered-text]");
  if (output && rendered && !output.hidden) output.replaceChildren(...[...rendered.childNodes].map((node) => document.adoptNode(node)));
  if (output) output.classList.replace("prose", "markdown");
  const form = fragment.querySelector("form.review-form");
  container.replaceChildren(...(form ? [document.adoptNode(form)] : []));
  container.hidden = !form;
  if (form) updateSelection(form);
  foldTwin();
}

/** The accept's body, from what the reviewer left in the form. */
function acceptBody(form) {
  const kind = form.dataset.kind;
  if (kind === "refine") {
    const text = form.elements.namedItem("refinedDescription");
    return text ? { refinedDescription: text.value } : null;
  }
  if (kind === "estimate") {
    const points = form.elements.namedItem("storyPoints");
    if (!points) return null;
    return { storyPoints: points.value.trim() === "" ? null : Number(points.value) };
  }
  const rows = [...form.querySelectorAll("[data-subtask]")];
  if (!rows.length) return null; // nothing proposed: accepting creates nothing
  return {
    subtasks: rows.filter((row) => row.querySelector('[name="create"]').checked).map((row) => {
      const points = row.querySelector('[name="storyPoints"]').value.trim();
      return {
        title: row.querySelector('[name="title"]').value,
        description: row.querySelector('[name="description"]').value,
        storyPoints: points === "" ? null : Number(points),
      };
    }),
  };
}

/** Keep a breakdown's running total and its button true to the ticks and points. */
function updateSelection(form) {
  const rows = [...form.querySelectorAll("[data-subtask]")];
  if (!rows.length) return;
  const chosen = rows.filter((row) => row.querySelector('[name="create"]').checked);
  const points = chosen.reduce((sum, row) => sum + (Number(row.querySelector('[name="storyPoints"]').value) || 0), 0);
  form.querySelector('[data-field="selectedPoints"]').textContent = points;
  const plural = (count, word) => `${count} ${word}${count === 1 ? "" : "s"}`;
  form.querySelector("[data-selection]").textContent =
    `${plural(chosen.length, "subtask")} of ${rows.length} selected, ${plural(points, "point")}.`;
  for (const row of rows) row.classList.toggle("subtask--off", !row.querySelector('[name="create"]').checked);
  const create = form.querySelector('[data-review="accept"]');
  if (create) create.disabled = chosen.length === 0;
}

/** A 400's errors in words: "Subtask 2: title: This field may not be blank." */
function errorsInWords(body) {
  const lines = [];
  for (const [name, errors] of Object.entries(body)) {
    if (name === "subtasks" && errors && typeof errors === "object" && !Array.isArray(errors)) {
      for (const [index, fields] of Object.entries(errors)) {
        for (const [field, messages] of Object.entries(fields)) {
          lines.push(`Subtask ${Number(index) + 1}: ${field}: ${[].concat(messages).join(" ")}`);
        }
      }
    } else {
      lines.push(`${name}: ${[].concat(errors).join(" ")}`);
    }
  }
  return `Nothing was applied. ${lines.join("; ")}`;
}

async function review(form, action) {
  const { suggestionId, kind } = form.dataset;
  const item = form.closest("[data-suggestion]");
  const status = form.closest("section").querySelector('[role="status"]');
  const buttons = [...form.querySelectorAll("button")];
  for (const button of buttons) button.disabled = true;
  status.textContent = BUSY[action];
  const body = action === "accept" ? acceptBody(form) : null;
  let response;
  try {
    response = await fetch(`${panel.dataset.suggestionsUrl}${suggestionId}/${action}`, {
      method: "POST",
      headers: {
        Accept: "application/json",
        "X-CSRFToken": csrfToken,
        ...(body ? { "Content-Type": "application/json" } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
      credentials: "same-origin",
    });
  } catch {
    status.textContent = "Could not reach the server. Check your connection and try again.";
    for (const button of buttons) button.disabled = false;
    return;
  }
  if (!response.ok) {
    if (response.status === 400) {
      let errors = {};
      try {
        errors = await response.json();
      } catch {
        // not JSON: the words below do
      }
      status.textContent = errorsInWords(errors);
    } else {
      status.textContent = (await describeResponse(response)).message;
    }
    if (response.status !== 409 || action === "revert") for (const button of buttons) button.disabled = false;
    updateSelection(form);
    return;
  }
  status.textContent = action === "accept" ? DONE.accept[kind] : DONE[action];
  await refresh(["issue-fields", "children-list", "history-list"]);
  // The suggestion may be shown twice (under the AI panel and in the history): both follow.
  const selector = `[data-suggestion-id="${CSS.escape(suggestionId)}"]`;
  const live = byId("ai-result");
  if (live.querySelector(selector)) await showReview({ suggestionId, container: live });
  // Keep keyboard users by what they can do next: Undo after accepting, or the news itself.
  let next = null;
  if (item) {
    const fresh = byId("history-list").querySelector(`[data-suggestion="${CSS.escape(suggestionId)}"]`);
    if (fresh && action === "accept") fresh.querySelector("details").open = true;
    next = fresh?.querySelector('[data-review="revert"]');
  } else {
    next = live.querySelector('[data-review="revert"]');
  }
  if (action === "accept" && next) {
    next.focus();
  } else {
    status.setAttribute("tabindex", "-1");
    status.focus();
  }
}

document.addEventListener("submit", (event) => {
  const form = event.target.closest("form.review-form");
  if (!form) return;
  event.preventDefault(); // Enter in a field accepts, as the Accept button does
  if (!form.querySelector('[data-review="accept"]')?.disabled) review(form, "accept");
});
document.addEventListener("click", (event) => {
  const button = event.target.closest('form.review-form button[data-review]:not([type="submit"])');
  if (button) review(button.form, button.dataset.review);
});
document.addEventListener("input", (event) => {
  const form = event.target.closest?.("form.review-form");
  if (form) updateSelection(form);
});
for (const form of document.querySelectorAll("form.review-form")) updateSelection(form);
