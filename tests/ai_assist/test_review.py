"""The suggestions API: list, filters, detail, accept and reject, and who may see what."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from model_bakery import baker
from rest_framework.pagination import PageNumberPagination
from rest_framework.test import APIClient

from ai_assist import services
from ai_assist.models import Suggestion
from issues.models import Issue
from issues.services import issue_update
from tests.ai_assist.suggestions import suggest

pytestmark = pytest.mark.django_db

CONTRACT_FIELDS = {
    "id",
    "kind",
    "issue",
    "status",
    "text",
    "confidence",
    "metadata",
    "model",
    "reviewStatus",
    "error",
    "promptTokens",
    "completionTokens",
    "totalTokens",
    "timeToFirstTokenMs",
    "durationMs",
    "createdAt",
}


@pytest.fixture
def issue() -> Issue:
    return baker.make(
        Issue,
        key="SHOP-7",
        type="STORY",
        title="Export orders as CSV",
        description="Managers export the order list as a CSV file. The export uses the filters.",
        priority="HIGH",
        story_points=None,
    )


def client_for(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_list_is_newest_first_paginated_and_only_the_users_own(
    api_client, user, other_user, issue, monkeypatch
):
    # The page size is read once, when DRF's paginator is imported: patch the class itself.
    monkeypatch.setattr(PageNumberPagination, "page_size", 2)
    mine = [suggest(user, kind) for kind in ("refine", "estimate", "breakdown")]
    suggest(other_user, "refine")

    first = api_client.get("/api/ai/suggestions/").json()
    second = api_client.get(first["next"]).json()

    assert first["count"] == 3
    ids = [item["id"] for item in first["results"] + second["results"]]
    assert ids == [s.pk for s in reversed(mine)]
    assert set(first["results"][0]) >= CONTRACT_FIELDS


def test_staff_see_everyones_suggestions(user, other_user, staff_user, issue):
    suggest(user, "refine")
    suggest(other_user, "estimate")
    body = client_for(staff_user).get("/api/ai/suggestions/").json()
    assert body["count"] == 2


def test_filters_by_issue_kind_status_and_review_status(api_client, user, issue):
    refine = suggest(user, "refine")
    estimate = suggest(user, "estimate")
    other_issue = suggest(
        user, "refine", key="NEW-1", issueType="task", currentDescription="Rotate the logs daily."
    )
    failed = baker.make(Suggestion, user=user, kind="refine", issue_key="SHOP-7", status="failed")
    services.suggestion_reject(suggestion=estimate, user=user)

    def ids(query: str) -> set[int]:
        response = api_client.get(f"/api/ai/suggestions/?{query}")
        assert response.status_code == 200, response.json()
        return {item["id"] for item in response.json()["results"]}

    assert ids("issue=shop-7") == {refine.pk, estimate.pk, failed.pk}
    assert ids("issue=NEW-1&kind=refine") == {other_issue.pk}
    assert ids("kind=refine&status=completed") == {refine.pk, other_issue.pk}
    assert ids("status=FAILED") == {failed.pk}
    assert ids("reviewStatus=rejected") == {estimate.pk}
    assert ids("reviewStatus=pending&issue=SHOP-7&kind=refine&status=completed") == {refine.pk}


def test_bad_filters_get_400_naming_each_field(api_client, user):
    response = api_client.get("/api/ai/suggestions/?kind=poem&status=done&issue=nokey")
    assert response.status_code == 400
    assert set(response.json()) == {"kind", "status", "issue"}


def test_detail_has_the_contract_fields(api_client, user, issue):
    suggestion = suggest(user, "estimate")
    body = api_client.get(f"/api/ai/suggestions/{suggestion.pk}/").json()
    assert set(body) >= CONTRACT_FIELDS
    assert body["kind"] == "estimate"
    assert body["issue"] == "SHOP-7"
    assert body["status"] == "completed"
    assert body["reviewStatus"] == "pending"
    assert body["metadata"] == suggestion.metadata
    assert body["metadata"]["suggestionId"] == suggestion.pk
    assert body["model"] == "offline"
    assert body["totalTokens"] == suggestion.total_tokens > 0


def test_accepting_a_refinement_sets_the_description(api_client, user, issue):
    suggestion = suggest(user, "refine")
    response = api_client.post(f"/api/ai/suggestions/{suggestion.pk}/accept")
    assert response.status_code == 200, response.json()
    issue.refresh_from_db()
    suggestion.refresh_from_db()
    assert issue.description == suggestion.metadata["refinedDescription"]
    assert suggestion.review_status == "accepted"
    assert suggestion.reviewed_by == user
    assert suggestion.reviewed_at is not None
    body = response.json()
    assert body["reviewStatus"] == "accepted"
    assert body["appliedIssue"]["description"] == issue.description
    assert body["createdIssues"] == []


def test_accepting_an_estimate_sets_the_story_points(api_client, user, issue):
    suggestion = suggest(user, "estimate")
    response = api_client.post(f"/api/ai/suggestions/{suggestion.pk}/accept")
    assert response.status_code == 200, response.json()
    issue.refresh_from_db()
    assert issue.story_points == suggestion.metadata["suggestedPoints"]
    assert response.json()["appliedIssue"]["storyPoints"] == issue.story_points


def test_accepting_a_breakdown_creates_the_subtasks_under_the_issue(api_client, user, issue):
    baker.make(Issue, key="SHOP-41", title="Older issue of the project")
    suggestion = suggest(user, "breakdown")
    subtasks = suggestion.metadata["subtasks"]
    assert len(subtasks) >= 2

    response = api_client.post(f"/api/ai/suggestions/{suggestion.pk}/accept")

    assert response.status_code == 200, response.json()
    children = list(issue.children.order_by("id"))
    assert [child.key for child in children] == [f"SHOP-{42 + i}" for i in range(len(subtasks))]
    assert [(c.title, c.description, c.story_points) for c in children] == [
        (task["title"], task["description"], task["storyPoints"]) for task in subtasks
    ]
    assert {(c.type, c.priority) for c in children} == {("SUBTASK", "HIGH")}
    assert [item["key"] for item in response.json()["createdIssues"]] == [c.key for c in children]


def test_rejecting_marks_it_rejected_and_changes_nothing(api_client, user, issue):
    suggestion = suggest(user, "refine")
    response = api_client.post(f"/api/ai/suggestions/{suggestion.pk}/reject")
    assert response.status_code == 200
    assert response.json()["reviewStatus"] == "rejected"
    suggestion.refresh_from_db()
    assert (suggestion.review_status, suggestion.reviewed_by) == ("rejected", user)
    assert Issue.objects.get(pk=issue.pk).description == issue.description


@pytest.mark.parametrize("status", ["streaming", "failed", "cancelled"])
@pytest.mark.parametrize("action", ["accept", "reject"])
def test_only_a_completed_suggestion_can_be_reviewed(api_client, user, issue, status, action):
    suggestion = baker.make(
        Suggestion, user=user, issue=issue, issue_key=issue.key, kind="estimate", status=status
    )
    response = api_client.post(f"/api/ai/suggestions/{suggestion.pk}/{action}")
    assert response.status_code == 409
    assert status in response.json()["detail"]
    assert Suggestion.objects.get(pk=suggestion.pk).review_status == "pending"


@pytest.mark.parametrize(
    ("first", "second"),
    [("accept", "accept"), ("accept", "reject"), ("reject", "accept"), ("reject", "reject")],
)
def test_a_reviewed_suggestion_cannot_be_reviewed_again(api_client, user, issue, first, second):
    suggestion = suggest(user, "breakdown")
    assert api_client.post(f"/api/ai/suggestions/{suggestion.pk}/{first}").status_code == 200
    children = issue.children.count()

    response = api_client.post(f"/api/ai/suggestions/{suggestion.pk}/{second}")

    assert response.status_code == 409
    assert "already" in response.json()["detail"]
    assert issue.children.count() == children


def test_a_description_edited_since_is_not_overwritten(api_client, user, issue):
    suggestion = suggest(user, "refine")
    issue_update(issue=issue, description="Edited by a teammate meanwhile.")

    response = api_client.post(f"/api/ai/suggestions/{suggestion.pk}/accept")

    assert response.status_code == 409
    assert "changed after this suggestion" in response.json()["detail"]
    issue.refresh_from_db()
    assert issue.description == "Edited by a teammate meanwhile."
    assert Suggestion.objects.get(pk=suggestion.pk).review_status == "pending"


def test_an_edit_saved_while_the_suggestion_was_stored_is_not_overwritten(api_client, user, issue):
    """An edit that lands between the context's read and the suggestion's insert carries an
    earlier time than the suggestion, but is a change all the same."""
    suggestion = suggest(user, "refine")
    Issue.objects.filter(pk=issue.pk).update(
        description="Edited by a teammate meanwhile.",
        updated_at=suggestion.created_at - timedelta(milliseconds=1),
    )
    response = api_client.post(f"/api/ai/suggestions/{suggestion.pk}/accept")
    assert response.status_code == 409
    assert Issue.objects.get(pk=issue.pk).description == "Edited by a teammate meanwhile."


def test_story_points_set_since_are_not_overwritten(api_client, user, issue):
    suggestion = suggest(user, "estimate")
    issue_update(issue=issue, story_points=40)
    response = api_client.post(f"/api/ai/suggestions/{suggestion.pk}/accept")
    assert response.status_code == 409
    assert Issue.objects.get(pk=issue.pk).story_points == 40


def test_an_edit_to_another_field_does_not_block_accepting(api_client, user, issue):
    suggestion = suggest(user, "estimate")
    issue_update(issue=issue, title="Export orders as CSV or Excel")
    assert api_client.post(f"/api/ai/suggestions/{suggestion.pk}/accept").status_code == 200


def test_a_refined_draft_replaces_the_stored_description(api_client, user, issue):
    # The page sends the description being edited; the refinement of that draft applies.
    suggestion = suggest(user, "refine", currentDescription="Draft: export orders to CSV.")
    response = api_client.post(f"/api/ai/suggestions/{suggestion.pk}/accept")
    assert response.status_code == 200, response.json()
    assert Issue.objects.get(pk=issue.pk).description == suggestion.result["refinedDescription"]


@pytest.mark.parametrize("kind", ["refine", "estimate", "breakdown"])
def test_a_suggestion_for_an_issue_not_stored_cannot_be_applied(api_client, user, kind):
    suggestion = suggest(
        user, kind, key="NEW-1", issueType="story", currentDescription="Export orders as CSV."
    )
    response = api_client.post(f"/api/ai/suggestions/{suggestion.pk}/accept")
    assert response.status_code == 409
    assert "No issue NEW-1 is stored" in response.json()["detail"]
    assert not Issue.objects.exists()
    # Rejecting needs no issue.
    assert api_client.post(f"/api/ai/suggestions/{suggestion.pk}/reject").status_code == 200


def test_an_issue_created_since_under_the_key_takes_the_suggestion(api_client, user):
    suggestion = suggest(
        user, "refine", key="NEW-1", issueType="story", currentDescription="Export orders as CSV."
    )
    issue = baker.make(Issue, key="NEW-1", title="Export", description="Export orders as CSV.")
    response = api_client.post(f"/api/ai/suggestions/{suggestion.pk}/accept")
    assert response.status_code == 200, response.json()
    issue.refresh_from_db()
    assert issue.description == suggestion.result["refinedDescription"]
    assert Suggestion.objects.get(pk=suggestion.pk).issue == issue


def test_a_breakdown_is_applied_whole_or_not_at_all(user, issue):
    suggestion = suggest(user, "breakdown")
    suggestion.result["subtasks"][-1]["title"] = ""  # the last subtask cannot be stored
    suggestion.save()

    with pytest.raises(services.SuggestionConflict, match="cannot be blank"):
        services.suggestion_accept(suggestion=suggestion, user=user)

    assert not issue.children.exists()
    assert Suggestion.objects.get(pk=suggestion.pk).review_status == "pending"


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/"), ("post", "/accept"), ("post", "/reject")],
)
def test_another_users_suggestion_is_not_found(user, other_user, issue, method, path):
    theirs = suggest(other_user, "estimate")
    response = getattr(client_for(user), method)(f"/api/ai/suggestions/{theirs.pk}{path}")
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.review_status == "pending"
    assert Issue.objects.get(pk=issue.pk).story_points is None


def test_another_users_suggestion_is_not_listed(user, other_user, issue):
    theirs = suggest(other_user, "estimate")
    body = client_for(user).get(f"/api/ai/suggestions/?issue={issue.key}").json()
    assert theirs.pk not in [item["id"] for item in body["results"]]


def test_staff_may_review_anyones_suggestion(user, staff_user, issue):
    suggestion = suggest(user, "estimate")
    response = client_for(staff_user).post(f"/api/ai/suggestions/{suggestion.pk}/accept")
    assert response.status_code == 200
    suggestion.refresh_from_db()
    assert suggestion.reviewed_by == staff_user


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", ""), ("get", "1/"), ("post", "1/accept"), ("post", "1/reject")],
)
def test_anonymous_requests_are_refused_with_json(method, path):
    response = getattr(APIClient(), method)(f"/api/ai/suggestions/{path}")
    assert response.status_code in (401, 403)
    assert "detail" in response.json()


@pytest.mark.django_db(transaction=True)
def test_concurrent_accepts_apply_once(service, auth, user, issue):
    suggestion = suggest(user, "breakdown")
    barrier = threading.Barrier(6)

    def accept() -> int:
        with service.client() as client:
            barrier.wait()
            return client.post(
                f"/api/ai/suggestions/{suggestion.pk}/accept", headers=auth
            ).status_code

    with ThreadPoolExecutor(6) as pool:
        statuses = sorted(pool.map(lambda _: accept(), range(6)))

    assert statuses == [200] + [409] * 5
    assert issue.children.count() == len(suggestion.result["subtasks"])
