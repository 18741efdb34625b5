"""The insights page: who may see it, and what it shows (its charts are checked in Chromium)."""

import re

import pytest
from django.test import Client

from tests.insights.history import made, synthetic

pytestmark = pytest.mark.django_db


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_not_logged_in_goes_to_the_login_page():
    response = Client().get("/insights/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/insights/"


def test_a_user_who_is_not_staff_is_refused(user):
    response = logged_in(user).get("/insights/")
    assert response.status_code == 403
    assert "AI insights" not in response.content.decode()


def test_staff_see_the_figures_and_charts(staff_user, user, other_user):
    synthetic([user, other_user], count=200)
    made(kind="estimate", user=user, model="gpt-4o", review="accepted", applied={"storyPoints": 8})
    page = logged_in(staff_user).get("/insights/").content.decode()

    for heading in ("Usage and cost", "Acceptance", "Confidence and calibration"):
        assert f">{heading}</h2>" in page
    assert "201 calls" in page
    # Every chart is an image with a title and a description, and its figures in a table.
    charts = re.findall(
        r'<svg class="chart"[^>]*aria-labelledby="([\w-]+)-title" aria-describedby="\1-desc"', page
    )
    assert sorted(charts) == sorted(
        [
            "acceptance",
            "reliability",
            "edits",
            "estimate-error",
            "tokens-per-day",
            "cost-per-day",
            "tokens-per-user",
        ]
    )
    for chart in charts:
        assert f'<title id="{chart}-title">' in page
        assert f'<desc id="{chart}-desc">' in page
        assert f'<table class="table" id="{chart}-table">' in page
    assert "Expected calibration error: 0." in page
    assert '<th scope="row">alice</th>' in page
    assert "<script" not in page  # nothing here needs JavaScript


def test_the_period_is_chosen_from_a_few(staff_user, user):
    made(kind="refine", user=user, days_ago=60)
    client = logged_in(staff_user)
    assert "1 call," in client.get("/insights/?days=90").content.decode()
    assert "0 calls," in client.get("/insights/?days=30").content.decode()
    assert "0 calls," in client.get("/insights/?days=-5").content.decode()  # the default
    assert "0 calls," in client.get("/insights/?days=100000").content.decode()


def test_an_empty_history_still_renders(staff_user):
    page = logged_in(staff_user).get("/insights/").content.decode()
    assert "Nothing to show for this period yet." in page


def test_the_admin_index_links_to_the_page(staff_user):
    page = logged_in(staff_user).get("/admin/").content.decode()
    assert '<a href="/insights/" class="section">AI insights</a>' in page
    assert "Monthly token budgets" in page  # and the budgets are there to edit
