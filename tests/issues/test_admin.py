"""Admin of issues agrees with the API: members edit, the key is fixed, deleting is allowed."""

import pytest
from django.test import Client
from model_bakery import baker

from issues.models import Issue

pytestmark = pytest.mark.django_db


@pytest.fixture
def member() -> Client:
    """A staff account with no model permissions: a member of the team who uses admin."""
    client = Client()
    client.force_login(baker.make("auth.User", username="mia", is_staff=True))
    return client


def test_a_member_edits_an_issue_but_not_its_key(member):
    issue = baker.make(Issue, key="ISSUE-1", title="Old", type="TASK", priority="LOW")
    page = member.get(f"/admin/issues/issue/{issue.pk}/change/")
    assert page.status_code == 200
    assert b'name="key"' not in page.content  # shown, not editable

    saved = member.post(
        f"/admin/issues/issue/{issue.pk}/change/",
        {
            "key": "ISSUE-2",
            "type": "TASK",
            "title": "New",
            "description": "",
            "priority": "LOW",
            "story_points": "",
            "parent": "",
            "suggestions-TOTAL_FORMS": "0",
            "suggestions-INITIAL_FORMS": "0",
        },
    )
    assert saved.status_code == 302
    issue.refresh_from_db()
    assert (issue.key, issue.title) == ("ISSUE-1", "New")


def test_a_member_creates_and_deletes_issues_in_admin(member):
    created = member.post(
        "/admin/issues/issue/add/",
        {
            "key": "ISSUE-9",
            "type": "STORY",
            "title": "Added",
            "priority": "MEDIUM",
            "suggestions-TOTAL_FORMS": "0",
            "suggestions-INITIAL_FORMS": "0",
        },
    )
    assert created.status_code == 302
    issue = Issue.objects.get(key="ISSUE-9")
    deleted = member.post(f"/admin/issues/issue/{issue.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 302
    assert not Issue.objects.exists()


def test_a_non_staff_account_has_no_admin():
    client = Client()
    client.force_login(baker.make("auth.User", username="nia"))
    assert client.get("/admin/issues/issue/").status_code == 302  # to admin's login
