"""Reviewing on the issue page in Chromium: see the change, edit it, take part of it, undo it;
and markdown that shows but never runs."""

import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connection
from model_bakery import baker
from playwright.sync_api import Page, expect

from ai_assist import review, services
from ai_assist.models import Suggestion
from issues.models import Issue
from issues.services import issue_create, issue_update
from tests.ai_assist.suggestions import suggest
from tests.e2e.conftest import screenshot
from tests.e2e.test_issue_page import finished, open_issue, start
from tests.issues.test_markdown import HOSTILE

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# What in the page could run: the payloads' flag, event attributes, script and data URLs.
SCAN = """() => ({
  pwned: window.pwned ?? null,
  handlers: [...document.querySelectorAll("*")].flatMap((element) => [...element.attributes]
    .filter((attribute) => attribute.name.startsWith("on"))
    .map((attribute) => `${element.tagName} ${attribute.name}`)),
  urls: [...document.querySelectorAll("[href], [src]")]
    .map((element) => element.getAttribute("href") ?? element.getAttribute("src"))
    .filter((url) => /^\\s*(javascript|data|vbscript):/i.test(url)),
})"""


def tab_to(page: Page, target: str, limit: int = 80) -> None:
    """Press Tab until the element matched by `target` (a CSS selector) has the focus."""
    for _ in range(limit):
        if page.evaluate(f"document.activeElement?.matches({target!r})"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{target} was not reached with Tab")


def test_a_breakdown_by_keyboard_partial_edited_with_its_duplicate_unticked_then_undone(
    page, issue, fake
):
    # An issue of the project that the third proposed subtask ("Tests for the reset flow")
    # repeats: it is flagged and left unticked.
    issue_create(project="ISSUE", title="Tests for the password reset flow")
    open_issue(page)
    start(page, "breakdown")
    finished(page)
    result = page.locator("#ai-result")
    rows = result.locator("tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(2)).to_contain_text("Possible duplicate of ISSUE-124")
    expect(result.get_by_label("Create subtask 3")).not_to_be_checked()
    expect(result.get_by_label("Create subtask 1")).to_be_checked()
    expect(result.locator("[data-selection]")).to_have_text("2 subtasks of 3 selected, 5 points.")
    screenshot(page, "review-breakdown")

    # Everything by keyboard: retitle the first, repoint the second, untick nothing else.
    tab_to(page, "#ai-result [name=title]")
    page.keyboard.press("Control+A")
    page.keyboard.type("Normalise the address before the lookup")
    tab_to(page, "#ai-result tbody tr:nth-child(2) [name=storyPoints]")
    page.keyboard.press("Control+A")
    page.keyboard.type("5")
    expect(result.locator("[data-selection]")).to_have_text("2 subtasks of 3 selected, 8 points.")
    expect(result.locator('[data-field="selectedPoints"]')).to_have_text("8")
    tab_to(page, '#ai-result [data-review="accept"]')
    screenshot(page, "review-breakdown-edited")
    page.keyboard.press("Enter")

    expect(page.locator("#ai-status")).to_have_text(
        "Accepted: the subtasks are created as child issues."
    )
    children = page.locator("#children-list tbody tr")
    expect(children).to_have_count(2)
    expect(children.first).to_contain_text("Normalise the address before the lookup")
    created = list(Issue.objects.filter(parent=issue).order_by("id"))
    assert [(c.title, c.story_points) for c in created] == [
        ("Normalise the address before the lookup", 3),
        ("Uniform confirmation message", 5),
    ]
    suggestion = Suggestion.objects.get(kind="breakdown")
    assert suggestion.edited is True
    undo = result.get_by_role("button", name=re.compile("^Undo"))
    expect(undo).to_be_focused()  # Undo appears after accepting, where the focus is
    expect(page.locator("#history-list li").first).to_contain_text("Accepted")
    expect(page.locator("#history-list li").first).to_contain_text("Edited")
    screenshot(page, "review-breakdown-accepted")

    page.keyboard.press("Enter")

    expect(page.locator("#ai-status")).to_have_text(
        "Undone: the issue is as it was before this suggestion."
    )
    expect(page.locator("#children-list")).to_contain_text("No child issues.")
    expect(page.locator("#history-list li").first).to_contain_text("Reverted")
    assert not Issue.objects.filter(parent=issue).exists()
    screenshot(page, "review-breakdown-undone")


def test_a_refinement_shows_a_word_diff_and_accepts_the_edited_text_then_undo(page, issue, fake):
    open_issue(page)
    start(page, "refine")
    finished(page)
    result = page.locator("#ai-result")
    diff = result.get_by_label("Changes to the current description")
    expect(diff.locator("ins").first).to_be_visible()
    # Without colour: underlined and struck through; and named for a screen reader.
    decoration = diff.locator("ins").first.evaluate("e => getComputedStyle(e).textDecorationLine")
    assert decoration == "underline"
    expect(diff.locator("ins .visually-hidden").first).to_have_text("[added: ")
    if diff.locator("del").count():
        style = diff.locator("del").first.evaluate("e => getComputedStyle(e).textDecorationLine")
        assert style == "line-through"
    screenshot(page, "review-refine-diff")

    text = result.get_by_label(re.compile("^Description to apply"))
    text.fill("## Goal\n\nReset works whatever the case of the address.")
    result.get_by_role("button", name=re.compile("^Accept")).click()

    description = page.locator("#issue-description")
    expect(description.get_by_role("heading", name="Goal")).to_be_visible()
    expect(description).to_contain_text("Reset works whatever the case of the address.")
    assert Suggestion.objects.get(kind="refine").applied == {
        "refinedDescription": "## Goal\n\nReset works whatever the case of the address."
    }

    result.get_by_role("button", name=re.compile("^Undo")).click()

    expect(description).to_have_text(issue.description)
    assert Issue.objects.get(pk=issue.pk).description == issue.description


def test_an_estimate_shows_its_evidence_and_takes_edited_points(page, issue, fake):
    open_issue(page)
    start(page, "estimate")
    finished(page)
    result = page.locator("#ai-result")
    points = result.get_by_label("Story points to apply")
    expect(points).to_have_value("5")
    points.fill("8")
    points.press("Enter")  # Enter in the field accepts, as the button does

    expect(page.locator("#issue-points")).to_have_text("8")
    assert Issue.objects.get(pk=issue.pk).story_points == 8
    screenshot(page, "review-estimate-accepted")


def test_undo_after_a_later_change_says_what_changed_and_changes_nothing(page, issue, fake):
    open_issue(page)
    start(page, "estimate")
    finished(page)
    page.locator("#ai-result").get_by_role("button", name=re.compile("^Accept")).click()
    expect(page.locator("#issue-points")).to_have_text("5")
    issue_update(issue=Issue.objects.get(pk=issue.pk), story_points=13)  # a teammate's edit

    page.locator("#ai-result").get_by_role("button", name=re.compile("^Undo")).click()

    expect(page.locator("#ai-status")).to_contain_text(
        "cannot be undone: ISSUE-123's story points changed since it was accepted"
    )
    assert Issue.objects.get(pk=issue.pk).story_points == 13
    screenshot(page, "review-undo-refused")


def test_a_past_suggestion_is_reviewed_from_the_history_after_a_reload(page, issue, fake):
    open_issue(page)
    start(page, "estimate")
    finished(page)
    page.reload()
    item = page.locator("#history-list li").first
    item.get_by_label("Story points to apply").fill("3")

    item.get_by_role("button", name=re.compile("^Accept")).click()

    expect(page.locator("#history-status")).to_have_text(
        "Accepted: the story points of the issue are updated."
    )
    expect(page.locator("#issue-points")).to_have_text("3")
    undo = page.locator("#history-list li").first.get_by_role("button", name=re.compile("^Undo"))
    expect(undo).to_be_focused()


@pytest.mark.parametrize("kind", ["refine", "estimate"])
def test_hostile_markdown_from_an_issue_and_from_the_model_never_runs(page, issue, fake, kind):
    issue_update(issue=Issue.objects.get(pk=issue.pk), description=HOSTILE)
    fake.configure(reply=f"{HOSTILE}\n\nAbout 3 story points.")
    open_issue(page)
    expect(page.locator("#issue-description strong")).to_have_text("bold")  # rendered

    start(page, kind)
    finished(page)
    if kind == "estimate":  # the answer, plain while it streamed, is rendered when it ends
        expect(page.locator("#ai-output strong")).to_have_text("bold")
    else:
        expect(page.locator("#ai-result textarea")).to_have_value(
            re.compile(r"<script>window\.pwned")  # shown as the text it is
        )
    expect(page.locator("#history-list li").first).to_contain_text("Hostile input")
    page.locator("#history-list details").first.evaluate("e => e.open = true")
    page.wait_for_timeout(300)  # any payload that could fire has had its chance

    found = page.evaluate(SCAN)

    assert found == {"pwned": None, "handlers": [], "urls": []}
    screenshot(page, f"hostile-{kind}")


def suggest_aside(user: Any, kind: str, key: str) -> Suggestion:
    """suggest() on a thread of its own: Playwright runs an event loop in this one."""

    def run() -> Suggestion:
        try:
            return suggest(user, kind, key=key)
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result()


def test_a_past_reviewed_suggestion_shows_its_change_as_a_fresh_one_does(page, issue, e2e_user):
    refine = suggest_aside(e2e_user, "refine", key=issue.key)
    services.suggestion_accept(suggestion=refine, user=e2e_user)
    breakdown = suggest_aside(e2e_user, "breakdown", key=issue.key)
    assert len(breakdown.result["subtasks"]) >= 2
    first = {**review.proposal(breakdown)["subtasks"][0], "title": "Only this one, retitled"}
    services.suggestion_accept(suggestion=breakdown, user=e2e_user, changes={"subtasks": [first]})
    rejected = suggest_aside(e2e_user, "breakdown", key=issue.key)
    services.suggestion_reject(suggestion=rejected, user=e2e_user)

    page.goto(f"/issues/{issue.key}/")
    history = page.locator("#history-list")

    # The refinement: the word diff of what accepting it changed, as under the panel.
    item = history.locator(f'[data-suggestion="{refine.pk}"]')
    item.locator("summary").click()
    diff = item.get_by_role("group", name="Changes it made to the description")
    expect(diff.locator("ins").first).to_be_visible()
    expect(diff).to_contain_text(issue.description.split()[0])
    # The breakdown: a table of the subtasks it created (the reviewer's edit, one of them).
    item = history.locator(f'[data-suggestion="{breakdown.pk}"]')
    item.locator("summary").click()
    table = item.get_by_role("table", name="Subtasks created")
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table.locator("tbody tr")).to_contain_text("Only this one, retitled")
    # The rejected one: the table of what it proposed.
    item = history.locator(f'[data-suggestion="{rejected.pk}"]')
    item.locator("summary").click()
    table = item.get_by_role("table", name="Suggested subtasks")
    expect(table.locator("tbody tr")).to_have_count(len(rejected.result["subtasks"]))
    expect(item.get_by_role("button")).to_have_count(0)  # nothing left to do with it
    screenshot(page, "review-history-structured")


@pytest.mark.parametrize("status", ["failed", "cancelled"])
def test_a_failed_or_cancelled_call_shows_no_review_state_and_no_accept(
    page, issue, e2e_user, status
):
    ended = baker.make(
        Suggestion,
        issue=issue,
        issue_key=issue.key,
        user=e2e_user,
        kind="estimate",
        status=status,
        text="The estimate so far",
        error="The AI service did not answer in time." if status == "failed" else "",
    )
    assert ended.review_status == "pending"  # the field's default, stored: never shown
    completed = suggest_aside(e2e_user, "estimate", key=issue.key)

    page.goto(f"/issues/{issue.key}/")

    item = page.locator(f'#history-list [data-suggestion="{ended.pk}"]')
    expect(item.locator(".badge")).to_have_text([status.capitalize()])
    item.locator("summary").click()
    expect(item).to_contain_text("The estimate so far")
    expect(item).not_to_contain_text("review")
    expect(item.get_by_role("button")).to_have_count(0)
    other = page.locator(f'#history-list [data-suggestion="{completed.pk}"]')
    expect(other).to_contain_text("Not reviewed")  # a completed one is reviewed as before
    expect(other.get_by_role("button", name=re.compile("^Accept"))).to_have_count(1)
