"""Review with edits and undo, over real HTTP: accept what a reviewer changed, revert it."""

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from model_bakery import baker

from ai_assist.models import Suggestion
from issues.models import MAX_DESCRIPTION, Issue
from issues.services import issue_create, issue_update
from tests.fake_openai import RESULTS

pytestmark = pytest.mark.django_db(transaction=True)

OPERATIONS = {
    "refine": "refine-description",
    "estimate": "estimate-points",
    "breakdown": "breakdown-issue",
}
PROPOSED = RESULTS["breakdown"]["subtasks"]


@pytest.fixture
def issue(transactional_db: None) -> Issue:
    return issue_create(
        key="SHOP-7",
        title="Password reset ignores email case",
        description="Users cannot reset their password when they type capitals.",
        priority="HIGH",
    )


@pytest.fixture
def api(service: Any, auth: dict[str, str]) -> Any:
    with service.client(headers=auth) as client:
        yield client


def suggest(api: httpx.Client, kind: str, key: str = "SHOP-7") -> int:
    """Run an operation through the JSON endpoint (the fake model answers); return its id."""
    response = api.post(f"/api/ai/{OPERATIONS[kind]}", json={"issueId": key})
    assert response.status_code == 200, response.text
    return response.json()["suggestionId"]


def accept(api: httpx.Client, pk: int, body: Any = None) -> httpx.Response:
    return api.post(f"/api/ai/suggestions/{pk}/accept", json=body)


def revert(api: httpx.Client, pk: int) -> httpx.Response:
    return api.post(f"/api/ai/suggestions/{pk}/revert")


def stored(pk: int) -> Suggestion:
    return Suggestion.objects.get(pk=pk)


def test_an_edited_refinement_is_applied_and_kept_as_edited(api, issue):
    pk = suggest(api, "refine")
    edited = "## Goal\n\nReset works whatever the case of the address.\n\n- One link per request."

    response = accept(api, pk, {"refinedDescription": edited})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["appliedIssue"]["description"] == edited
    assert (body["applied"], body["edited"]) == ({"refinedDescription": edited}, True)
    assert Issue.objects.get(pk=issue.pk).description == edited
    shown = api.get(f"/api/ai/suggestions/{pk}/").json()
    assert (shown["reviewStatus"], shown["applied"], shown["edited"]) == (
        "accepted",
        {"refinedDescription": edited},
        True,
    )


def test_the_proposal_sent_back_unchanged_is_not_edited(api, issue):
    pk = suggest(api, "refine")
    proposal = stored(pk).result["refinedDescription"]
    response = accept(api, pk, {"refinedDescription": proposal})
    assert response.status_code == 200, response.text
    assert response.json()["edited"] is False


def test_an_edited_estimate_sets_those_points(api, issue):
    pk = suggest(api, "estimate")
    assert stored(pk).result["storyPoints"] == 5

    response = accept(api, pk, {"storyPoints": 8})

    assert response.status_code == 200, response.text
    assert response.json()["appliedIssue"]["storyPoints"] == 8
    assert (response.json()["applied"], response.json()["edited"]) == ({"storyPoints": 8}, True)
    assert Issue.objects.get(pk=issue.pk).story_points == 8


def test_a_partial_reordered_and_edited_breakdown_creates_exactly_those(api, issue):
    pk = suggest(api, "breakdown")
    chosen = [
        {**PROPOSED[2], "storyPoints": 5},
        {"title": "Normalise the address before the lookup", "storyPoints": 3},
    ]

    response = accept(api, pk, {"subtasks": chosen})

    assert response.status_code == 200, response.text
    children = list(issue.children.order_by("id"))
    assert [(c.title, c.description, c.story_points) for c in children] == [
        (PROPOSED[2]["title"], PROPOSED[2]["description"], 5),
        ("Normalise the address before the lookup", "", 3),
    ]
    assert {(c.type, c.priority) for c in children} == {("SUBTASK", "HIGH")}
    body = response.json()
    assert [item["key"] for item in body["createdIssues"]] == [c.key for c in children]
    assert body["applied"] == {
        "subtasks": [
            {**chosen[0]},
            {**chosen[1], "description": ""},
        ]
    }
    assert body["edited"] is True


def test_accepting_without_a_body_applies_the_proposal(api, issue):
    pk = suggest(api, "breakdown")
    response = accept(api, pk)
    assert response.status_code == 200, response.text
    proposal = [
        {"title": t["title"], "description": t["description"], "storyPoints": t["storyPoints"]}
        for t in PROPOSED
    ]
    assert (response.json()["applied"], response.json()["edited"]) == (
        {"subtasks": proposal},
        False,
    )
    assert issue.children.count() == 3


@pytest.mark.parametrize(
    ("kind", "body", "bad"),
    [
        ("refine", {"refinedDescription": "x" * (MAX_DESCRIPTION + 1)}, {"refinedDescription"}),
        ("refine", {"refinedDescription": None}, {"refinedDescription"}),
        ("refine", {"storyPoints": 3}, {"storyPoints"}),
        ("estimate", {"storyPoints": -1}, {"storyPoints"}),
        ("estimate", {"storyPoints": 1001}, {"storyPoints"}),
        ("estimate", {"storyPoints": "five"}, {"storyPoints"}),
        ("estimate", {"storyPoints": 3, "subtasks": []}, {"subtasks"}),
        ("breakdown", {"subtasks": []}, {"subtasks"}),
        ("breakdown", {"subtasks": "all of them"}, {"subtasks"}),
        ("breakdown", {"subtasks": [{"title": f"Part {n}"} for n in range(13)]}, {"subtasks"}),
    ],
)
def test_bad_values_get_400_naming_the_field_and_change_nothing(api, issue, kind, body, bad):
    pk = suggest(api, kind)

    response = accept(api, pk, body)

    assert response.status_code == 400, response.text
    assert set(response.json()) == bad
    assert stored(pk).review_status == "pending"
    fresh = Issue.objects.get(pk=issue.pk)
    assert (fresh.description, fresh.story_points) == (issue.description, None)
    assert not issue.children.exists()


def test_each_bad_subtask_is_named_and_none_is_created(api, issue):
    pk = suggest(api, "breakdown")
    subtasks = [
        {"title": "Fine", "storyPoints": 2},
        {"title": "   ", "storyPoints": 2},
        {"title": "t" * 256, "description": "d" * (MAX_DESCRIPTION + 1), "storyPoints": 2000},
    ]

    response = accept(api, pk, {"subtasks": subtasks})

    assert response.status_code == 400
    errors = response.json()["subtasks"]  # DRF's shape: the bad items by their index
    assert set(errors) == {"1", "2"}
    assert set(errors["1"]) == {"title"}
    assert set(errors["2"]) == {"title", "description", "storyPoints"}
    assert not issue.children.exists()
    assert stored(pk).review_status == "pending"


@pytest.mark.parametrize("kind", ["refine", "estimate"])
def test_undo_brings_back_what_was_replaced(api, issue, kind):
    issue_update(issue=issue, story_points=2)
    before = Issue.objects.get(pk=issue.pk)
    pk = suggest(api, kind)
    assert accept(api, pk, {"storyPoints": 8} if kind == "estimate" else None).status_code == 200

    response = revert(api, pk)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["reviewStatus"] == "reverted"
    assert body["revertedAt"] is not None
    assert body["deletedIssues"] == []
    after = Issue.objects.get(pk=issue.pk)
    assert (after.description, after.story_points) == (before.description, 2)
    assert body["restoredIssue"]["storyPoints"] == 2
    suggestion = stored(pk)
    assert suggestion.reverted_by.username == "alice"
    assert suggestion.applied is not None  # what was applied stays on record


def test_undo_deletes_the_subtasks_it_created(api, issue):
    baker.make(Issue, key="SHOP-8", title="A sibling made by hand", parent=issue)
    pk = suggest(api, "breakdown")
    created = accept(api, pk).json()["createdIssues"]

    response = revert(api, pk)

    assert response.status_code == 200, response.text
    assert response.json()["deletedIssues"] == [item["key"] for item in created]
    assert list(issue.children.values_list("key", flat=True)) == ["SHOP-8"]


def change_description(issue: Issue, created: list[Issue]) -> None:
    issue_update(issue=Issue.objects.get(pk=issue.pk), description="Edited by a teammate.")


def retitle(issue: Issue, created: list[Issue]) -> None:
    issue_update(issue=created[1], title="Uniform message, reworded")


def repoint(issue: Issue, created: list[Issue]) -> None:
    issue_update(issue=created[1], story_points=13, priority="LOW")


def delete(issue: Issue, created: list[Issue]) -> None:
    created[1].delete()


def reparent(issue: Issue, created: list[Issue]) -> None:
    other = issue_create(key="SHOP-99", title="Another story")
    issue_update(issue=created[1], parent=other)


def give_children(issue: Issue, created: list[Issue]) -> None:
    issue_create(project="SHOP", title="A part of the part", parent=created[1])


@pytest.mark.parametrize(
    ("kind", "change", "named"),
    [
        ("refine", change_description, "SHOP-7's description changed since it was accepted"),
        ("breakdown", retitle, "SHOP-9's title changed since it was accepted"),
        ("breakdown", repoint, "SHOP-9's priority and story points changed"),
        ("breakdown", delete, "SHOP-9 was deleted"),
        ("breakdown", reparent, "SHOP-9 was moved to another parent"),
        ("breakdown", give_children, "SHOP-9 was given child issues"),
    ],
)
def test_undo_after_a_later_change_is_409_naming_it_and_changes_nothing(
    api, issue, kind, change, named
):
    pk = suggest(api, kind)
    assert accept(api, pk).status_code == 200
    created = list(issue.children.order_by("id"))
    change(issue, created)
    children_before = set(Issue.objects.values_list("key", "title", "parent_id"))

    response = revert(api, pk)

    assert response.status_code == 409
    assert named in response.json()["detail"]
    assert stored(pk).review_status == "accepted"
    assert set(Issue.objects.values_list("key", "title", "parent_id")) == children_before


def test_undo_after_a_suggestion_was_applied_to_a_created_subtask_is_409(api, issue):
    pk = suggest(api, "breakdown")
    assert accept(api, pk).status_code == 200
    child = issue.children.order_by("id").first()
    estimate = suggest(api, "estimate", key=child.key)
    assert accept(api, estimate).status_code == 200
    assert revert(api, estimate).status_code == 200  # its own undo is fine
    # Another sets the points the subtask had: only its being applied is a change.
    again = suggest(api, "estimate", key=child.key)
    assert accept(api, again, {"storyPoints": child.story_points}).status_code == 200

    response = revert(api, pk)

    assert response.status_code == 409
    assert f"a suggestion was applied to {child.key}" in response.json()["detail"]


def test_an_edit_of_another_field_does_not_block_undo(api, issue):
    pk = suggest(api, "estimate")
    assert accept(api, pk).status_code == 200
    issue_update(issue=Issue.objects.get(pk=issue.pk), title="Reset ignores the email's case")
    assert revert(api, pk).status_code == 200
    assert Issue.objects.get(pk=issue.pk).story_points is None


def test_undo_twice_is_409_and_the_second_changes_nothing(api, issue):
    pk = suggest(api, "breakdown")
    assert accept(api, pk).status_code == 200
    assert revert(api, pk).status_code == 200
    issue_create(project="SHOP", title="Made after the undo", parent=issue)

    again = revert(api, pk)

    assert again.status_code == 409
    assert again.json()["detail"] == (
        "Only an accepted suggestion can be undone; this one is reverted."
    )
    assert list(issue.children.values_list("title", flat=True)) == ["Made after the undo"]
    assert accept(api, pk).status_code == 409  # a reverted suggestion is reviewed


@pytest.mark.parametrize("review", [None, "reject"])
def test_only_an_accepted_suggestion_can_be_undone(api, issue, review):
    pk = suggest(api, "estimate")
    if review:
        api.post(f"/api/ai/suggestions/{pk}/{review}")
    response = revert(api, pk)
    assert response.status_code == 409
    assert ("rejected" if review else "not reviewed") in response.json()["detail"]


def test_undos_of_one_field_unwind_in_order(api, issue):
    first, second = suggest(api, "refine"), suggest(api, "refine")
    assert accept(api, first, {"refinedDescription": "First version."}).status_code == 200
    # The second was made before the first was applied: accepting it with the description it
    # saw would overwrite the first, so it is refused (as before this change).
    assert accept(api, second).status_code == 409
    third = suggest(api, "refine")
    assert accept(api, third, {"refinedDescription": "Second version."}).status_code == 200

    assert "description changed" in revert(api, first).json()["detail"]
    assert revert(api, third).status_code == 200
    assert Issue.objects.get(pk=issue.pk).description == "First version."
    assert revert(api, first).status_code == 200
    assert Issue.objects.get(pk=issue.pk).description == issue.description


def test_another_users_suggestion_cannot_be_undone(api, issue, other_user):
    theirs = baker.make(
        Suggestion,
        user=other_user,
        issue=issue,
        issue_key=issue.key,
        kind="estimate",
        status="completed",
        review_status="accepted",
        undo={"issue": issue.pk, "key": issue.key, "field": "story_points", "before": 3},
    )
    assert revert(api, theirs.pk).status_code == 404


def test_concurrent_undos_undo_once(service, auth, api, issue):
    pk = suggest(api, "breakdown")
    assert accept(api, pk).status_code == 200
    barrier = threading.Barrier(4)

    def undo() -> int:
        with service.client(headers=auth) as client:
            barrier.wait()
            return client.post(f"/api/ai/suggestions/{pk}/revert").status_code

    with ThreadPoolExecutor(4) as pool:
        statuses = sorted(pool.map(lambda _: undo(), range(4)))

    assert statuses == [200, 409, 409, 409]
    assert not issue.children.exists()
