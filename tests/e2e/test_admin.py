"""Suggestions in Django admin, in Chromium: the list fits a laptop's screen, and calls that
failed or were cancelled show no review state and offer no Accept."""

import re
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from model_bakery import baker
from playwright.sync_api import expect

from ai_assist.models import Suggestion
from tests.e2e.conftest import PASSWORD, browser_page, log_in, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

LAPTOP = {"width": 1280, "height": 800}


@pytest.fixture
def admin_user(transactional_db: None) -> Any:
    return get_user_model().objects.create_superuser("root", password=PASSWORD)


@pytest.fixture
def suggestions(admin_user: Any) -> dict[str, Suggestion]:
    """One suggestion per status, with the longest values the list shows."""
    issue = baker.make("issues.Issue", key="CHECKOUT-12345", title="Pay by invoice")
    made = {}
    for status in Suggestion.Status.values:
        made[status] = baker.make(
            Suggestion,
            issue=issue,
            issue_key=issue.key,
            user=baker.make(get_user_model(), username=f"alexandra.kowalska.{status}"),
            kind=Suggestion.Kind.BREAKDOWN,
            status=status,
            confidence=0.87 if status == "completed" else None,
            provider="openai",
            model="gpt-4o-mini-2024-07-18",
            cost_usd=Decimal("0.012345"),
            error="The AI service did not answer in time." if status == "failed" else "",
        )
    return made


def test_the_suggestion_list_fits_a_1280_pixel_screen(browser, e2e_service, suggestions):
    with browser_page(browser, e2e_service, viewport=LAPTOP) as page:
        log_in(page, username="root")
        page.goto("/admin/ai_assist/suggestion/")
        expect(page.locator("#result_list tbody tr")).to_have_count(len(suggestions))
        screenshot(page, "admin-suggestions-1280")

        # Admin scrolls a wide table within its box: nothing may be hidden there either.
        widths = page.evaluate(
            """() => {
              const box = document.querySelector("#changelist .results");
              return {page: document.documentElement.scrollWidth, table: box.scrollWidth,
                      box: box.clientWidth};
            }"""
        )
        header = page.locator("#result_list thead th").all_text_contents()

    assert widths["page"] <= LAPTOP["width"], widths  # no sideways scrolling
    assert widths["table"] <= widths["box"], widths
    assert [text.strip().lower() for text in header[1:]] == [
        "suggestion", "issue", "outcome", "confidence", "cost", "user", "age",
    ]  # fmt: skip


@pytest.mark.parametrize("status", ["failed", "cancelled"])
def test_a_failed_or_cancelled_call_shows_no_review_state_in_admin(
    browser, e2e_service, suggestions, status
):
    ended = suggestions[status]
    with browser_page(browser, e2e_service, viewport=LAPTOP) as page:
        log_in(page, username="root")
        page.goto("/admin/ai_assist/suggestion/")
        row = page.locator("#result_list tbody tr", has_text=f"kowalska.{status}")
        completed = page.locator("#result_list tbody tr", has_text="kowalska.completed")
        expect(completed).to_contain_text("Pending review")  # a completed one says so
        expect(row).to_contain_text(status.capitalize())
        expect(row).not_to_contain_text("Pending")

        page.goto(f"/admin/ai_assist/suggestion/{ended.pk}/change/")
        expect(page.get_by_role("heading", name=re.compile("Review"))).to_have_count(0)
        expect(page.get_by_role("button", name=re.compile("Accept"))).to_have_count(0)
        expect(page.locator("#content-main")).not_to_contain_text("Pending")

        page.goto(f"/admin/issues/issue/{ended.issue_id}/change/")
        inline = page.locator("#suggestions-group tbody tr", has_text=f"kowalska.{status}")
        expect(inline).to_have_count(1)
        expect(inline).not_to_contain_text("Pending")
