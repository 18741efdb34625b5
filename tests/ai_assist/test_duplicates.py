"""A breakdown's subtasks name the existing issue each most likely repeats (`duplicateOf`)."""

import json
from typing import Any

import pytest

from ai_assist import duplicates
from ai_assist.duplicates import duplicate_of, title_similarity
from issues.services import issue_create
from tests.ai_assist.sse_client import read_stream
from tests.ai_assist.suggestions import suggest
from tests.issues.history import make_history


def reply(*titles: str) -> str:
    """A model's breakdown proposing these subtasks (2 points each)."""
    block = {
        "subtasks": [
            {"title": title, "description": f"{title}, with tests.", "storyPoints": 2}
            for title in titles
        ],
        "complexity": "medium",
        "confidence": 0.8,
    }
    return f"The work splits in {len(titles)} parts.\n\n```json\n{json.dumps(block)}\n```"


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        # Near-copies of a title: flagged.
        ("Reset password email is not being sent", "SHOP-1"),
        ("Dark mode toggle for the settings page", "SHOP-3"),
        ("Export order list to CSV", "SHOP-2"),
        # Other tasks of the same area: not.
        ("Export orders as an Excel file", None),
        ("Let users reset their password by email", None),  # the feature, not its bug
        ("Dark mode for the checkout page", None),  # one word in four replaced
        ("Search products by category", None),
        ("Show the delivery date in the confirmation email", None),
        ("Refund a PayPal payment from the admin", None),
        # Nothing like it.
        ("Rotate the server logs daily", None),
    ],
)
@pytest.mark.django_db
def test_near_copies_are_duplicates_other_tasks_of_the_area_are_not(title, expected):
    make_history()
    found = duplicate_of(project="SHOP", parent="SHOP-99", title=title, description="")
    assert found == expected


@pytest.mark.django_db
def test_the_issue_broken_down_is_never_its_own_parts_duplicate():
    make_history()
    title = "Reset password email is not sent"
    assert duplicate_of(project="SHOP", parent="SHOP-1", title=title, description="") is None
    # Another project's issue with the same title is not a duplicate either (OTHER-1).
    assert duplicate_of(project="SHOP", parent="SHOP-99", title=title, description="") == "SHOP-1"


def test_titles_that_differ_in_a_version_number_are_not_the_same():
    assert title_similarity("Upgrade to Spring 4.2", "Upgrade to Spring 4.1") < 0.75
    assert title_similarity("Fix package tangles", "Fix Package Tangles") == 1.0


@pytest.mark.django_db(transaction=True)
def test_the_stream_and_the_stored_suggestion_carry_duplicate_of(service, auth, fake):
    make_history()
    story = issue_create(key="SHOP-7", title="Password reset and account mails", description="")
    issue_create(project="SHOP", title="Normalise the email lookup", parent=story)  # SHOP-8
    fake.configure(
        reply=reply("Normalise the email lookup", "Reset password email not sent", "Audit log")
    )

    with service.client() as client:
        stream = read_stream(
            client, "/api/ai/breakdown-issue-stream", {"issueId": "SHOP-7"}, headers=auth
        )
        metadata = stream.value("metadata")
        shown = client.get(f"/api/ai/suggestions/{metadata['suggestionId']}/", headers=auth)

    expected = ["SHOP-8", "SHOP-1", None]  # an existing child of the issue counts too
    assert [task["duplicateOf"] for task in metadata["subtasks"]] == expected
    assert [task["duplicateOf"] for task in shown.json()["metadata"]["subtasks"]] == expected
    assert set(metadata["subtasks"][0]) == {"title", "description", "storyPoints", "duplicateOf"}


@pytest.mark.django_db
def test_at_most_twelve_look_ups_per_breakdown(user, fake, settings, monkeypatch):
    settings.AI_PROVIDER = "openai"
    settings.OPENAI_BASE_URL = fake.base_url
    make_history()
    fake.configure(reply=reply(*(f"Part {n} of the reset work" for n in range(20))))
    calls: list[Any] = []
    real = duplicates.similar_issues
    monkeypatch.setattr(
        duplicates, "similar_issues", lambda **kwargs: calls.append(kwargs) or real(**kwargs)
    )

    suggestion = suggest(user, "breakdown", key="SHOP-1")

    assert len(suggestion.metadata["subtasks"]) == 12
    assert len(calls) == 12
    assert all(task["duplicateOf"] is None for task in suggestion.metadata["subtasks"])
