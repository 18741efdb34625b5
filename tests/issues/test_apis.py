"""The issues API: CRUD by key, enumerations in any case, clear errors, authentication."""

import pytest
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

    assert api_client.delete("/api/issues/ISSUE-5/").status_code == 204
    assert api_client.get("/api/issues/ISSUE-5/").status_code == 404


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
