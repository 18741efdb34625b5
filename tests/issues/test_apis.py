"""The issues API: CRUD by key, enumerations in any case, clear errors, authentication."""

import pytest
from django.contrib.auth.models import Permission, User
from model_bakery import baker
from rest_framework.test import APIClient

from issues.models import Issue

pytestmark = pytest.mark.django_db


def test_create_accepts_enumerations_in_any_case(api_client):
    response = api_client.post(
        "/api/issues/",
        {
            "key": "issue-123",
            "type": "story",
            "title": "Add login",
            "priority": "High",
            "storyPoints": 5,
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body | {"createdAt": None, "updatedAt": None} == {
        "key": "ISSUE-123",
        "type": "STORY",
        "title": "Add login",
        "description": "",
        "priority": "HIGH",
        "storyPoints": 5,
        "parent": None,
        "createdAt": None,
        "updatedAt": None,
    }
    assert Issue.objects.get(key="ISSUE-123").story_points == 5


def test_create_without_a_key_takes_the_next_free_one(api_client):
    baker.make(Issue, key="ISSUE-9")
    baker.make(Issue, key="ISSUE-10")
    response = api_client.post("/api/issues/", {"title": "Next"}, format="json")
    assert response.json()["key"] == "ISSUE-11"


def test_bad_input_names_each_field_and_changes_nothing(api_client):
    baker.make(Issue, key="ISSUE-1")
    response = api_client.post(
        "/api/issues/",
        {
            "key": "ISSUE-1",
            "type": "SAGA",
            "priority": "urgent",
            "storyPoints": 2.5,
            "parent": "NOPE-1",
        },
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()) == {"key", "type", "title", "priority", "storyPoints", "parent"}
    assert Issue.objects.count() == 1


def test_retrieve_update_and_delete_by_key(api_client):
    epic = baker.make(Issue, key="EPIC-1", type="EPIC")
    baker.make(Issue, key="ISSUE-5", title="Old", type="TASK")
    assert api_client.get("/api/issues/ISSUE-5/").json()["title"] == "Old"

    patched = api_client.patch(
        "/api/issues/ISSUE-5/", {"title": "New", "parent": "EPIC-1"}, format="json"
    )
    assert patched.status_code == 200
    assert Issue.objects.get(key="ISSUE-5").parent == epic

    put = api_client.put(
        "/api/issues/ISSUE-5/", {"key": "ISSUE-5", "title": "Put", "type": "bug"}, format="json"
    )
    assert put.status_code == 200
    assert put.json()["type"] == "BUG"


def test_every_member_edits_but_deleting_takes_staff_or_the_permission(
    api_client, user, other_user, staff_user
):
    baker.make(Issue, key="ISSUE-5", title="Theirs")  # issues have no owner: the team's
    assert api_client.patch("/api/issues/ISSUE-5/", {"title": "Ours"}).status_code == 200

    refused = api_client.delete("/api/issues/ISSUE-5/")
    assert refused.status_code == 403
    assert refused.json()["detail"]
    assert Issue.objects.filter(key="ISSUE-5").exists()

    other_user.user_permissions.add(Permission.objects.get(codename="delete_issue"))
    allowed = APIClient()
    allowed.force_authenticate(User.objects.get(pk=other_user.pk))  # permissions read afresh
    assert allowed.delete("/api/issues/ISSUE-5/").status_code == 204

    baker.make(Issue, key="ISSUE-6")
    staff = APIClient()
    staff.force_authenticate(staff_user)
    assert staff.delete("/api/issues/ISSUE-6/").status_code == 204
    assert not Issue.objects.exists()


@pytest.mark.parametrize("method", ["put", "patch"])
def test_the_key_cannot_change(api_client, method):
    baker.make(Issue, key="ISSUE-5", title="Old")
    response = getattr(api_client, method)(
        "/api/issues/ISSUE-5/", {"key": "ISSUE-6", "title": "New"}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"key": ["The key of an issue cannot change."]}
    assert Issue.objects.get().key == "ISSUE-5"
    assert Issue.objects.get().title == "Old"
    # The same key, in any case, is no change.
    same = api_client.patch("/api/issues/ISSUE-5/", {"key": "issue-5", "title": "New"})
    assert same.status_code == 200
    assert Issue.objects.get().title == "New"


@pytest.mark.parametrize("key", ["ISSUE-99999999999999999999", "ISSUE-1000000000", "ISSUE-0"])
def test_a_key_has_a_number_of_at_most_nine_digits(api_client, key):
    response = api_client.post("/api/issues/", {"key": key, "title": "x"}, format="json")
    assert response.status_code == 400
    assert "nine digits" in response.json()["key"][0]
    assert not Issue.objects.exists()


def test_numbering_skips_keys_too_long_to_count_and_says_when_none_is_left(api_client):
    # Keys stored before numbers were bounded must not break numbering for everyone.
    Issue.objects.bulk_create([Issue(key="ISSUE-99999999999999999999", title="old")])
    assert api_client.post("/api/issues/", {"title": "a"}).json()["key"] == "ISSUE-1"
    assert api_client.post("/api/issues/", {"title": "b"}).json()["key"] == "ISSUE-2"

    baker.make(Issue, key="ISSUE-999999999")
    full = api_client.post("/api/issues/", {"title": "c"}, format="json")
    assert full.status_code == 400
    assert full.json() == {"key": ["Project ISSUE has no free keys left."]}


def test_an_issue_cannot_be_its_own_ancestor(api_client):
    parent = baker.make(Issue, key="ISSUE-1")
    baker.make(Issue, key="ISSUE-2", parent=parent)
    response = api_client.patch("/api/issues/ISSUE-1/", {"parent": "ISSUE-2"}, format="json")
    assert response.status_code == 400
    assert "parent" in response.json()
    assert Issue.objects.get(key="ISSUE-1").parent is None


def test_list_searches_and_filters_by_type(api_client):
    baker.make(Issue, key="ISSUE-1", title="Login page", type="STORY")
    baker.make(Issue, key="ISSUE-2", title="Login crash", type="BUG")
    baker.make(Issue, key="ISSUE-3", title="Reports", type="BUG")
    found = api_client.get("/api/issues/", {"search": "login", "type": "bug"}).json()
    assert [issue["key"] for issue in found["results"]] == ["ISSUE-2"]


def test_every_endpoint_needs_authentication():
    baker.make(Issue, key="ISSUE-1")
    client = APIClient()
    assert client.get("/api/issues/").status_code == 401
    assert client.get("/api/issues/ISSUE-1/").status_code == 401
    assert client.post("/api/issues/", {"title": "x"}, format="json").status_code == 401
    assert Issue.objects.count() == 1


def test_a_token_authenticates(auth):
    client = APIClient()
    assert client.get("/api/issues/", headers=auth).status_code == 200


def test_keys_are_taken_in_any_letter_case(api_client):
    epic = baker.make(Issue, key="EPIC-1", type="EPIC")
    baker.make(Issue, key="ISSUE-5", title="Old")
    assert api_client.get("/api/issues/issue-5/").json()["key"] == "ISSUE-5"
    patched = api_client.patch("/api/issues/Issue-5/", {"parent": "epic-1"}, format="json")
    assert patched.status_code == 200, patched.json()
    assert Issue.objects.get(key="ISSUE-5").parent == epic
