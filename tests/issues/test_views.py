"""The web pages, through Django's test client: login, the list, the issue page, the forms."""

import pytest
from model_bakery import baker

from issues.models import Issue

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser_client(client, user):
    client.force_login(user)
    return client


@pytest.mark.parametrize("path", ["/", "/issues/new/", "/issues/ISSUE-1/", "/issues/ISSUE-1/edit/"])
def test_pages_need_a_login(client, path):
    baker.make("issues.Issue", key="ISSUE-1")

    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={path}"


def test_login_page_logs_in(client, django_user_model):
    django_user_model.objects.create_user("carol", password="a long password")

    page = client.get("/accounts/login/")
    response = client.post("/accounts/login/", {"username": "carol", "password": "a long password"})

    assert page.status_code == 200
    assert b'<label for="id_username">' in page.content
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_list_searches_and_filters_by_type(browser_client):
    baker.make("issues.Issue", key="ISSUE-1", title="Login with email", type="STORY")
    baker.make("issues.Issue", key="ISSUE-2", title="Login page crashes", type="BUG")
    baker.make("issues.Issue", key="ISSUE-3", title="Export reports", type="BUG")

    everything = browser_client.get("/")
    search = browser_client.get("/", {"search": "login"})
    both = browser_client.get("/", {"search": "login", "type": "bug"})

    assert [i.key for i in everything.context["page"]] == ["ISSUE-3", "ISSUE-2", "ISSUE-1"]
    assert [i.key for i in search.context["page"]] == ["ISSUE-2", "ISSUE-1"]
    assert [i.key for i in both.context["page"]] == ["ISSUE-2"]
    assert b'<option value="BUG" selected>' in both.content


def test_list_ignores_an_unknown_type(browser_client):
    baker.make("issues.Issue", key="ISSUE-1")

    response = browser_client.get("/", {"type": "nonsense"})

    assert [i.key for i in response.context["page"]] == ["ISSUE-1"]


def test_issue_page_shows_children_and_own_suggestions(browser_client, user, other_user):
    issue = baker.make("issues.Issue", key="ISSUE-1", title="Parent")
    baker.make("issues.Issue", key="ISSUE-2", title="A child", parent=issue)
    mine = baker.make("ai_assist.Suggestion", issue=issue, issue_key="ISSUE-1", user=user)
    theirs = baker.make("ai_assist.Suggestion", issue=issue, issue_key="ISSUE-1", user=other_user)

    response = browser_client.get("/issues/issue-1/")

    assert response.status_code == 200
    assert [c.key for c in response.context["children"]] == ["ISSUE-2"]
    # The past suggestions, from ai_assist's side of the page: the user's own only.
    assert f'data-suggestion="{mine.pk}"'.encode() in response.content
    assert f'data-suggestion="{theirs.pk}"'.encode() not in response.content
    assert b'data-refine-url="/api/ai/refine-description-stream"' in response.content
    assert b'aria-live="polite"' in response.content


def test_unknown_issue_is_404(browser_client):
    assert browser_client.get("/issues/ISSUE-404/").status_code == 404


def test_create_form_takes_the_next_key(browser_client):
    baker.make("issues.Issue", key="ISSUE-7")
    parent = baker.make("issues.Issue", key="EPIC-1", type="EPIC")

    response = browser_client.post(
        "/issues/new/",
        {"key": "", "type": "TASK", "title": "Write docs", "priority": "LOW", "parent": "epic-1"},
    )

    issue = Issue.objects.get(title="Write docs")
    assert issue.key == "ISSUE-8"
    assert issue.parent == parent
    assert response["Location"] == "/issues/ISSUE-8/"


def test_create_form_shows_errors(browser_client):
    baker.make("issues.Issue", key="ISSUE-1")

    response = browser_client.post(
        "/issues/new/",
        {"key": "issue-1", "type": "TASK", "title": "", "priority": "LOW", "parent": "NOPE-1"},
    )

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) == {"key", "title", "parent"}
    assert errors["parent"] == ["No issue has this key."]
    assert Issue.objects.count() == 1


def test_edit_form_updates_the_issue_but_not_its_key(browser_client):
    issue = baker.make("issues.Issue", key="ISSUE-1", title="Old", story_points=None)

    page = browser_client.get("/issues/ISSUE-1/edit/")
    response = browser_client.post(
        "/issues/ISSUE-1/edit/",
        {"key": "OTHER-9", "type": "BUG", "title": "New", "priority": "HIGH", "story_points": 3},
    )

    assert "key" not in page.context["form"].fields
    issue.refresh_from_db()
    assert (issue.key, issue.title, issue.type, issue.story_points) == ("ISSUE-1", "New", "BUG", 3)
    assert response["Location"] == "/issues/ISSUE-1/"


def test_edit_form_refuses_a_parent_loop(browser_client):
    parent = baker.make("issues.Issue", key="ISSUE-1")
    child = baker.make("issues.Issue", key="ISSUE-2", parent=parent)

    response = browser_client.post(
        "/issues/ISSUE-1/edit/",
        {"type": "STORY", "title": "Parent", "priority": "LOW", "parent": child.key},
    )

    assert response.status_code == 200
    assert "parent" in response.context["form"].errors
    parent.refresh_from_db()
    assert parent.parent is None
