"""The insights page and the month's usage on the issue page, in Chromium."""

import re
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from model_bakery import baker
from playwright.sync_api import Page, expect

from ai_assist.models import Suggestion, TokenBudget
from tests.e2e.conftest import PASSWORD, PHONE, browser_page, log_in, screenshot
from tests.insights.history import synthetic

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CHARTS = {
    "Tokens per day",
    "Cost per day (USD)",
    "Tokens per user",
    "Acceptance rate per week, by kind and model",
    "Reliability: confidence against acceptance",
    "Accepted suggestions that reviewers edited first",
    "Estimate error: points applied minus points suggested",
}


@pytest.fixture
def staff(transactional_db: None) -> Any:
    return get_user_model().objects.create_user("sam", password=PASSWORD, is_staff=True)


@pytest.fixture
def history(e2e_user: Any, staff: Any) -> None:
    synthetic([e2e_user, staff], count=300)


def check_the_page(page: Page) -> None:
    expect(page.get_by_role("heading", name="AI insights", level=1)).to_be_visible()
    expect(page.locator("#spend-summary")).to_contain_text("300 calls")
    for title in CHARTS:
        chart = page.get_by_role("img", name=title)  # the SVG, named by its <title>
        expect(chart).to_be_visible()
        box = chart.bounding_box()
        assert box and box["width"] > 250 and box["height"] > 100
    reliability = page.get_by_role("img", name="Reliability: confidence against acceptance")
    assert reliability.get_attribute("aria-describedby") == "reliability-desc"
    desc = page.locator("#reliability-desc").text_content()
    before, after = map(float, re.findall(r"(0\.\d{3})", desc))
    assert after < before  # the error drops with calibration
    rows = page.locator("#calibration-errors tbody tr")
    expect(rows).to_have_count(4)
    expect(rows.first).to_contain_text("All300")


def test_staff_read_the_insights_with_their_charts(browser, e2e_service, staff, history):
    with browser_page(browser, e2e_service, viewport={"width": 1280, "height": 900}) as page:
        log_in(page, username="sam")
        page.get_by_role("link", name="Insights").click()
        check_the_page(page)
        # The figures of a chart, as a table.
        figure = page.locator("figure", has=page.get_by_role("img", name="Tokens per user"))
        figure.get_by_text("The figures as a table").click()
        table = figure.get_by_role("table")
        expect(table).to_be_visible()
        expect(table.locator("tbody tr")).to_have_count(2)
        screenshot(page, "insights")

        page.get_by_role("combobox", name="Period").select_option("7")
        page.get_by_role("button", name="Show").click()
        expect(page).to_have_url(re.compile(r"/insights/\?days=7$"))
        expect(page.locator("main p.muted").first).to_contain_text("over the last 7 days")


def test_the_insights_read_without_javascript_and_on_a_phone(browser, e2e_service, staff, history):
    with browser_page(browser, e2e_service, java_script_enabled=False, viewport=PHONE) as page:
        log_in(page, username="sam")
        page.goto("/insights/")
        check_the_page(page)
        assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
        screenshot(page, "phone-insights-no-javascript")


def test_the_admin_links_to_the_insights_and_others_are_kept_out(
    browser, e2e_service, staff, e2e_user
):
    with browser_page(browser, e2e_service) as page:
        page.goto("/insights/")
        expect(page.get_by_role("heading", name="Log in")).to_be_visible()  # not logged in
        log_in(page, username="sam")
        page.goto("/admin/")
        page.get_by_role("link", name="AI insights").click()
        expect(page.get_by_role("heading", name="AI insights")).to_be_visible()
    with browser_page(browser, e2e_service) as page:
        log_in(page)  # alice, not staff
        expect(page.get_by_role("link", name="Insights")).to_have_count(0)
        response = page.goto("/insights/")
        assert response is not None and response.status == 403


def test_the_issue_page_shows_the_months_usage_and_the_budget(page, issue, e2e_user, fake):
    fake.configure(usage='{"prompt_tokens": 600, "completion_tokens": 400, "total_tokens": 1000}')
    TokenBudget.objects.create(user=e2e_user, monthly_tokens=1500)
    baker.make(Suggestion, user=e2e_user, total_tokens=200, cost_usd=Decimal("0.001"))
    page.goto(f"/issues/{issue.key}/")
    usage = page.locator("#ai-usage")
    expect(usage).to_contain_text("200 tokens of your 1,500")
    expect(usage).to_contain_text("1,300 left")

    page.get_by_role("button", name="Estimate points").click()
    expect(page.locator("#ai")).to_have_attribute("data-state", "completed", timeout=20_000)
    # 1,000 tokens more, at gpt-4o-mini's price (the fake upstream answers as that model).
    expect(usage).to_contain_text("1,200 tokens of your 1,500")
    expect(usage).to_contain_text("$0.0013")  # 0.001 + (600 * 0.15 + 400 * 0.60) / 1e6
    expect(usage).to_contain_text("300 left")
    screenshot(page, "issue-usage")

    Suggestion.objects.filter(user=e2e_user).update(total_tokens=800)  # 1,600: spent
    page.get_by_role("button", name="Refine description").click()
    error = page.locator("#ai-error")
    expect(error).to_contain_text("Your monthly budget of 1,500 AI tokens is used up")
    expect(error).not_to_contain_text("seconds")  # the message says when it renews
    expect(usage).to_contain_text("0 left")
    expect(usage).to_have_class(re.compile("ai__usage--spent"))
    screenshot(page, "issue-budget-spent")
