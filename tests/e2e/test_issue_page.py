"""The issue page in Chromium: stream each operation, stop one, review suggestions."""

import itertools
import re
import statistics
import time
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from ai_assist.models import Suggestion
from issues.models import Issue
from tests.e2e.conftest import Cable, browser_page, log_in, screenshot
from tests.fake_openai import RESULTS

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

BUTTONS = {"refine": "Refine description", "estimate": "Estimate points", "breakdown": "Break down"}


def open_issue(page: Page, key: str = "ISSUE-123") -> None:
    page.goto(f"/issues/{key}/")
    # The buttons are enabled once the page's module has loaded.
    expect(page.get_by_role("button", name=BUTTONS["refine"])).to_be_enabled()


def start(page: Page, kind: str) -> None:
    page.get_by_role("button", name=BUTTONS[kind]).click()


def run(page: Page, kind: str) -> dict[str, Any]:
    """Start an operation; return what the page showed once its text had grown."""
    start(page, kind)
    output = page.locator("#ai-output")
    expect(output).not_to_be_empty()
    first = len(output.text_content())
    grown = page.wait_for_function(
        """(first) => {
          const length = document.getElementById("ai-output").textContent.length;
          return length > first && {
            first, length,
            state: document.getElementById("ai").dataset.state,
            confidenceShown: !document.getElementById("ai-confidence").hidden,
          };
        }""",
        arg=first,
    ).json_value()
    return grown


def finished(page: Page, state: str = "completed") -> None:
    expect(page.locator("#ai")).to_have_attribute("data-state", state, timeout=20_000)


def latest_suggestion() -> Suggestion:
    return Suggestion.objects.latest("created_at", "id")


def wait_for(predicate: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.parametrize("kind", BUTTONS)
def test_each_operation_streams_then_shows_confidence_and_metadata(page, issue, fake, kind):
    fake.configure(delay=0.03)
    open_issue(page)

    grown = run(page, kind)

    # The text grew while the stream still ran: nothing of the end had arrived yet.
    assert grown["state"] == "streaming"
    assert not grown["confidenceShown"]
    expect(page.locator("#ai-output")).to_have_attribute("aria-live", "polite")
    expect(page.get_by_role("button", name="Stop")).to_be_enabled()
    expect(page.locator("#ai-result")).to_be_hidden()  # nothing to review before the end
    screenshot(page, f"{kind}-streaming")

    finished(page)
    suggestion = latest_suggestion()
    assert suggestion.status == "completed"
    percent = round(suggestion.confidence * 100)
    expect(page.locator("#ai-confidence")).to_have_text(f"Confidence: {percent}%")
    result = page.locator("#ai-result")
    if kind == "refine":
        expect(result).to_contain_text("3 improvements to the description")
        expect(result.get_by_label("Changes to the current description")).to_contain_text(
            "Users cannot reset their password when"
        )
        expect(result.get_by_label(re.compile("^Description to apply"))).to_have_value(
            suggestion.metadata["refinedDescription"]
        )
    elif kind == "estimate":
        expect(result).to_contain_text("5 story points suggested")
        expect(result).to_contain_text("Currently: Not estimated.")
    else:
        subtasks = RESULTS["breakdown"]["subtasks"]
        rows = result.locator("tbody tr")
        expect(rows).to_have_count(len(subtasks))
        for row, subtask in zip(rows.all(), subtasks, strict=True):
            expect(row.get_by_label(re.compile("^Title of subtask"))).to_have_value(
                subtask["title"]
            )
            expect(row.get_by_label(re.compile("^Points of subtask"))).to_have_value(
                str(subtask["storyPoints"])
            )
        expect(result.locator("tfoot")).to_contain_text("Selected8")
        expect(result).to_contain_text("3 subtasks, 8 points in all, low complexity.")
    expect(page.locator("#ai-status")).to_contain_text("Done.")
    expect(page.locator("#history-list li").first).to_contain_text("Completed")
    screenshot(page, f"{kind}-done")


def shown_while_streaming(page: Page) -> list[str]:
    """Run refine; return each text the output showed, in order, and the last one complete."""
    open_issue(page)
    page.evaluate(
        """() => {
          const output = document.getElementById("ai-output");
          window.shown = [];
          new MutationObserver(() => window.shown.push(output.textContent))
            .observe(output, { characterData: true, childList: true, subtree: true });
        }"""
    )
    start(page, "refine")
    finished(page)
    return [text for text in page.evaluate("window.shown") if text]


@pytest.mark.parametrize("motion", ["no-preference", "reduce"])
def test_text_is_shown_a_word_at_a_time_unless_motion_is_reduced(
    browser, e2e_service, service_factory, e2e_user, issue, fake, motion
):
    # Events twice a second, each with about ten of the upstream's words.
    paced = service_factory(AI_SSE_FLUSH_INTERVAL="0.5", DJANGO_ALLOW_ASYNC_UNSAFE="")
    fake.configure(tokens=40, delay=0.05)
    with browser_page(browser, paced, reduced_motion=motion) as page:
        log_in(page)
        shown = shown_while_streaming(page)

    final = shown[-1]
    assert final == latest_suggestion().text.rstrip()
    steps = [len(now[len(before) :].split()) for before, now in itertools.pairwise(shown)]
    for text in shown:
        text = text.rstrip()
        assert final.startswith(text)
        assert final[len(text) : len(text) + 1] in ("", " ", "\n")  # never half a word
    if motion == "reduce":
        assert max(steps) >= 8  # each event's words at once
    else:
        # A word at a time, more while many wait: a late event may bring twenty.
        assert len(shown) >= 30 and statistics.median(steps) == 1


def test_stop_cancels_the_stream_and_keeps_its_text(page, issue, fake):
    fake.configure(tokens=400, delay=0.05)  # 20 s: it must be stopped, not finish
    open_issue(page)
    run(page, "estimate")
    cancels = []
    page.on("request", lambda r: r.url.endswith("/cancel") and cancels.append(r.method))

    page.get_by_role("button", name="Stop").click()

    finished(page, "aborted")
    assert cancels == ["POST"]  # stopped on the server, not only here
    expect(page.get_by_role("alert")).to_be_hidden()
    expect(page.locator("#ai-status")).to_have_text(
        "Stopped. The text so far is kept as a cancelled suggestion."
    )
    expect(page.get_by_role("button", name=BUTTONS["estimate"])).to_be_enabled()
    expect(page.locator("#ai-confidence")).to_be_hidden()
    suggestion = latest_suggestion()
    assert suggestion.status == "cancelled"  # by the time the page says so
    shown = page.locator("#ai-output").text_content()
    assert shown.startswith("lorem ipsum")
    assert shown == suggestion.text.rstrip()  # every word sent before it stopped, and only those
    fake.wait_for(lambda stats: stats["streams_disconnected"] == 1, timeout=5)
    expect(page.locator("#history-list li").first).to_contain_text("Cancelled")
    screenshot(page, "stopped")


def test_keyboard_starts_and_stops_a_stream(page, issue, fake):
    fake.configure(tokens=400, delay=0.05)
    open_issue(page)
    refine = page.get_by_role("button", name=BUTTONS["refine"])
    refine.focus()

    page.keyboard.press("Enter")

    stop = page.get_by_role("button", name="Stop")
    expect(stop).to_be_focused()
    expect(page.locator("#ai-output")).not_to_be_empty()
    page.keyboard.press("Enter")
    finished(page, "aborted")
    expect(refine).to_be_focused()


@pytest.mark.parametrize("kind", BUTTONS)
def test_accepting_a_suggestion_updates_the_issue_in_place(page, issue, fake, kind):
    open_issue(page)
    start(page, kind)
    finished(page)
    suggestion = latest_suggestion()

    page.locator("#ai-result").locator('[data-review="accept"]').click()

    expect(page.locator("#ai-status")).to_contain_text("Accepted")
    if kind == "refine":  # rendered as markdown
        description = page.locator("#issue-description")
        expect(description.get_by_role("heading", name="Acceptance criteria")).to_be_visible()
        expect(description.locator("li")).to_have_count(3)
    elif kind == "estimate":
        expect(page.locator("#issue-points")).to_have_text("5")
    else:
        children = page.locator("#children-list tbody tr")
        expect(children).to_have_count(3)
        expect(children.first).to_contain_text("Normalise the email lookup")
    expect(page.locator("#history-list li").first).to_contain_text("Accepted")
    issue.refresh_from_db()
    suggestion.refresh_from_db()
    assert suggestion.review_status == "accepted"
    if kind == "estimate":
        assert issue.story_points == 5
    if kind == "breakdown":
        assert Issue.objects.filter(parent=issue).count() == 3
    screenshot(page, f"{kind}-accepted")


def test_a_subtasks_page_offers_no_break_down(page, issue):
    subtask = Issue.objects.create(key="ISSUE-124", type="SUBTASK", parent=issue, title="Reset")

    open_issue(page, subtask.key)

    operations = page.get_by_role("group", name="AI operations")
    expect(operations.get_by_role("button", name=BUTTONS["estimate"])).to_be_enabled()
    expect(operations.get_by_role("button", name=BUTTONS["breakdown"])).to_have_count(0)
    expect(page.locator("#children-list")).not_to_contain_text("Break down")
    open_issue(page, issue.key)  # its parent, a story, still offers it
    expect(operations.get_by_role("button", name=BUTTONS["breakdown"])).to_be_enabled()


def test_rejecting_a_past_suggestion_from_the_history(page, issue, fake):
    open_issue(page)
    start(page, "estimate")
    finished(page)
    page.reload()
    history = page.locator("#history-list li").first
    expect(history).to_contain_text("Not reviewed")

    history.get_by_role("button", name=re.compile("^Reject")).click()

    expect(page.locator("#history-status")).to_have_text("Rejected. The issue is unchanged.")
    expect(page.locator("#history-list li").first).to_contain_text("Rejected")
    expect(page.locator("#issue-points")).to_have_text("Not estimated")
    assert latest_suggestion().review_status == "rejected"


def test_an_upstream_failure_is_shown_in_words_and_the_page_stays_usable(page, issue, fake):
    fake.configure(fault="500")
    open_issue(page)

    page.get_by_role("button", name=BUTTONS["estimate"]).click()

    finished(page, "error")
    alert = page.get_by_role("alert")
    expect(alert).to_be_visible()
    assert "sk-" not in alert.text_content()
    expect(page.get_by_role("button", name="Accept")).to_have_count(0)
    expect(page.locator("#ai-status")).to_have_text(
        "The operation failed and nothing was changed. You can try again."
    )
    screenshot(page, "error")

    fake.configure(fault=None)
    page.get_by_role("button", name=BUTTONS["estimate"]).click()
    finished(page)
    expect(alert).to_be_hidden()
    expect(page.locator("#ai-result")).to_contain_text("5 story points suggested")


def test_a_stream_without_the_csrf_token_is_refused(page, issue):
    open_issue(page)

    status = page.evaluate(
        """async () => (await fetch("/api/ai/estimate-points-stream", {
            method: "POST", headers: {"Content-Type": "application/json"},
            body: JSON.stringify({issueId: "ISSUE-123"}),
        })).status"""
    )

    assert status == 403
    assert not Suggestion.objects.exists()


def test_the_issue_page_fits_a_phone(phone, issue, fake):
    open_issue(phone)
    start(phone, "breakdown")
    finished(phone)

    overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    expect(phone.locator("#ai-result tbody tr")).to_have_count(3)
    screenshot(phone, "phone-breakdown")


def test_a_reload_in_the_middle_shows_the_text_so_far_and_follows_it_to_the_end(page, issue, fake):
    fake.configure(tokens=100, delay=0.04)  # 4 s
    open_issue(page)
    run(page, "refine")
    before = page.locator("#ai-output").text_content()

    page.reload()

    expect(page.locator("#ai")).to_have_attribute("data-state", "streaming")
    expect(page.get_by_role("button", name="Stop")).to_be_enabled()
    expect(page.locator("#ai-output")).to_contain_text(before.strip())  # the text so far
    finished(page)
    suggestion = latest_suggestion()
    assert suggestion.status == "completed"
    assert Suggestion.objects.count() == 1
    assert fake.stats["requests"] == 1
    expect(page.locator("#ai-result")).to_contain_text("improvements to the description")
    expect(
        page.locator("#ai-result").get_by_label(re.compile("^Description to apply"))
    ).to_have_value(suggestion.metadata["refinedDescription"])
    screenshot(page, "reloaded-refine")


def test_going_offline_in_the_middle_ends_with_the_full_text(
    browser, e2e_service, e2e_user, issue, fake
):
    """Offline for two seconds, in the browser's network emulation; which leaves a response
    being read alone, so the connection is cut as well, as a network that went away would."""
    fake.configure(tokens=100, delay=0.04)
    with Cable(e2e_service) as cable, browser_page(browser, cable.service) as page:
        log_in(page)
        open_issue(page)
        resumed = []
        page.on("request", lambda r: r.url.endswith("/events") and resumed.append(r.headers))
        run(page, "estimate")

        page.context.set_offline(True)
        cable.cut()
        time.sleep(2)
        page.context.set_offline(False)
        cable.mend()

        finished(page)
        shown = page.locator("#ai-output").text_content()
    suggestion = latest_suggestion()
    assert suggestion.status == "completed"
    # No gap, no word twice (the finished text is shown again as markdown: spacing may move).
    assert shown.split() == suggestion.text.split()
    assert resumed and "last-event-id" in resumed[-1]  # picked up where it broke
    assert Suggestion.objects.count() == 1
    assert fake.stats["requests"] == 1


def test_a_second_click_while_one_runs_starts_nothing(page, issue, fake):
    fake.configure(tokens=60, delay=0.03)
    open_issue(page)
    posts = []
    page.on("request", lambda r: r.method == "POST" and "/api/ai/" in r.url and posts.append(r))

    page.evaluate(
        """() => {
          const button = document.querySelector("button[data-kind=estimate]");
          button.click();
          button.click();
          document.querySelector("button[data-kind=refine]").click();
        }"""
    )

    finished(page)
    assert len(posts) == 1
    assert posts[0].headers["idempotency-key"]
    assert Suggestion.objects.count() == 1
    assert fake.stats["requests"] == 1


def test_the_estimate_shows_its_evidence_and_the_page_lists_similar_issues(page, fake):
    from issues.services import issue_create
    from tests.issues.history import make_history

    make_history()
    issue_create(
        key="SHOP-7", title="Password reset mail never arrives", description="No reset email."
    )
    open_issue(page, "SHOP-7")
    similar = page.get_by_role("region", name="Similar issues")
    first = similar.locator("tbody tr").first
    expect(first.get_by_role("link", name="SHOP-1")).to_have_attribute("href", "/issues/SHOP-1/")
    expect(first).to_contain_text("Reset password email is not sent")
    expect(similar).not_to_contain_text("OTHER-1")  # another project

    start(page, "estimate")
    finished(page)
    evidence = page.locator("#ai-result").get_by_role("list", name="Similar past issues")
    link = evidence.get_by_role("link", name="SHOP-1")
    expect(link).to_have_attribute("href", "/issues/SHOP-1/")
    expect(evidence.locator("li").first).to_contain_text("3 points")
    expect(evidence.locator("li").first).to_contain_text("% similar")
    screenshot(page, "estimate-evidence")
    link.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Reset password email is not sent")
