"""Logging in, the issue list and the issue forms, in Chromium."""

import pytest
from model_bakery import baker
from playwright.sync_api import expect

from issues.models import Issue
from tests.e2e.conftest import PASSWORD, browser_page, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_login_form_refuses_a_wrong_password_then_logs_in(browser, e2e_service, e2e_user):
    with browser_page(browser, e2e_service) as page:
        page.goto("/issues/new/")
        expect(page).to_have_url(f"{e2e_service.url}/accounts/login/?next=/issues/new/")
        page.get_by_label("Username").fill("alice")
        page.get_by_label("Password").fill("wrong")
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("alert")).to_contain_text("Please enter a correct username")
        screenshot(page, "login-error")

        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()

        expect(page.get_by_role("heading", name="New issue")).to_be_visible()
        page.get_by_role("button", name="Log out").click()
        expect(page.get_by_role("heading", name="Log in")).to_be_visible()


def test_list_searches_and_filters(page):
    baker.make("issues.Issue", key="ISSUE-1", title="Login with email", type="STORY")
    baker.make("issues.Issue", key="ISSUE-2", title="Login page crashes", type="BUG")
    baker.make("issues.Issue", key="ISSUE-3", title="Export reports", type="BUG")
    page.goto("/")
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(3)
    screenshot(page, "issue-list")

    page.get_by_role("searchbox", name="Search").fill("login")
    page.get_by_label("Type").select_option("BUG")
    page.get_by_role("button", name="Filter").click()

    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Login page crashes")
    expect(page.get_by_text("1 issue found.")).to_be_visible()
    rows.first.get_by_role("link", name="ISSUE-2").click()
    expect(page.get_by_role("heading", name="Login page crashes")).to_be_visible()


def test_create_then_edit_an_issue(page):
    page.get_by_role("link", name="New issue").first.click()
    page.get_by_label("Title").fill("Export reports as CSV")
    page.get_by_label("Type").select_option("STORY")
    page.get_by_label("Description").fill("Managers download the monthly report as CSV.")
    page.get_by_role("button", name="Create issue").click()

    expect(page.get_by_role("heading", name="Export reports as CSV")).to_be_visible()
    expect(page.get_by_role("status").first).to_have_text("Created ISSUE-1.")
    expect(page.locator("#issue-description")).to_have_text(
        "Managers download the monthly report as CSV."
    )

    page.get_by_role("link", name="Edit").click()
    page.get_by_label("Story points").fill("-1")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".field__error")).to_be_visible()
    screenshot(page, "edit-error")
    page.get_by_label("Story points").fill("3")
    page.get_by_label("Priority").select_option("HIGH")
    page.get_by_role("button", name="Save").click()

    expect(page.locator("#issue-points")).to_have_text("3")
    expect(page.locator("#issue-priority")).to_have_text("High")
    issue = Issue.objects.get(key="ISSUE-1")
    assert (issue.story_points, issue.priority) == (3, "HIGH")


def test_the_list_fits_a_phone(phone):
    baker.make("issues.Issue", key="ISSUE-1", title="A rather long title that has to wrap")
    phone.goto("/")

    expect(phone.get_by_role("link", name="ISSUE-1")).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    screenshot(phone, "phone-issue-list")


def test_pages_have_a_favicon_and_ask_for_nothing_missing(page, e2e_service):
    missing: list[str] = []
    page.on("response", lambda r: missing.append(r.url) if r.status >= 400 else None)
    baker.make(Issue, key="ISSUE-1", title="Reset password")

    for path in ["/", "/issues/ISSUE-1/", "/issues/new/"]:
        page.goto(path)
        page.wait_for_load_state("networkidle")
    icon = page.request.get(page.locator('link[rel="icon"]').get_attribute("href"))
    legacy = page.request.get("/favicon.ico")  # what tools ask for, whatever the page links

    assert missing == []
    assert icon.status == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    assert legacy.status == 200 and legacy.url.endswith("/static/favicon.svg")
    assert legacy.body() == icon.body()
