"""Bounded work: what a stored issue puts into a prompt, and what a model's answer may store."""

import json
from typing import Any

import pytest
from model_bakery import baker

from ai_assist.models import Suggestion
from ai_assist.parsing import MAX_SUBTASKS
from ai_assist.selectors import BUDGET
from issues.models import Issue
from tests.ai_assist.sse_client import read_stream

pytestmark = pytest.mark.django_db(transaction=True)

ESTIMATE = "/api/ai/estimate-points-stream"
BREAKDOWN = "/api/ai/breakdown-issue-stream"


def stored_directly(**fields: Any) -> Issue:
    """An issue written without validation, as one stored before the bounds were."""
    [issue] = Issue.objects.bulk_create([Issue(**fields)])
    return issue


def test_a_huge_stored_issue_reaches_the_prompt_cut_to_its_budget(service, auth, fake):
    parent = stored_directly(key="EPIC-1", type="EPIC", title="Epic", description="P" * 500_000)
    stored_directly(
        key="ISSUE-1", title="Huge", description="word " * 470_000, parent=parent
    )  # 2.35 MB, as in the review
    with service.client() as client:
        stream = read_stream(client, ESTIMATE, {"issueId": "ISSUE-1"}, headers=auth)

    assert stream.types[-1] == "metadata"
    prompt = "".join(message["content"] for message in fake.stats["last_request"]["messages"])
    assert len(prompt) < 40_000
    context = Suggestion.objects.get().context
    assert len(context["description"]) < BUDGET["description"] + 100
    assert context["description"].endswith("more characters left out]")
    assert "2,330,000 more characters" in context["description"]
    assert len(context["parent"]["description"]) < BUDGET["parent"] + 100
    assert Suggestion.objects.get().prompt_tokens < 12_000


def test_a_description_past_the_bound_is_refused(api_client):
    response = api_client.post(
        "/api/issues/", {"title": "Huge", "description": "x" * 50_001}, format="json"
    )
    assert response.status_code == 400
    assert "50000" in response.json()["description"][0].replace(",", "")
    assert not Issue.objects.exists()


def reply(prose: str, block: dict[str, Any] | str) -> str:
    text = block if isinstance(block, str) else json.dumps(block)
    return f"{prose}\n\n```json\n{text}\n```"


def test_a_breakdown_is_bounded_before_it_is_stored_or_applied(service, auth, fake, api_client):
    baker.make(Issue, key="ISSUE-1", title="Big", description="Everything.")
    subtasks = [
        {"title": f"Part {n}  \n of it " + "t" * 300, "description": "d" * 2048, "storyPoints": 3}
        for n in range(30)  # 300 would pass the bound on a whole answer (below)
    ]
    fake.configure(reply=reply("A plan.", {"subtasks": subtasks, "complexity": "low"}))
    with service.client() as client:
        stream = read_stream(client, BREAKDOWN, {"issueId": "ISSUE-1"}, headers=auth)

    metadata = stream.value("metadata")
    assert metadata["subtasksCount"] == MAX_SUBTASKS == len(metadata["subtasks"])
    assert metadata["totalPoints"] == 3 * MAX_SUBTASKS
    assert metadata["complexity"] == "high"  # from the points, not the model's "low"
    first = metadata["subtasks"][0]
    assert first["title"].startswith("Part 0 of it t")  # one line
    assert len(first["title"]) == 255
    assert len(first["description"]) == 2000
    assert stream.value("confidence") < 0.8  # 30 proposed is no careful answer

    accepted = api_client.post(f"/api/ai/suggestions/{metadata['suggestionId']}/accept")
    assert accepted.status_code == 200
    assert Issue.objects.get(key="ISSUE-1").children.count() == MAX_SUBTASKS


@pytest.mark.parametrize(
    ("points", "expected"),
    [("1" + "0" * 400, "no story point estimate"), ("1e999", "no story point estimate")],
)
def test_a_huge_number_of_points_is_a_clear_error(service, auth, fake, points, expected):
    baker.make(Issue, key="ISSUE-1", title="Add login")
    fake.configure(reply=reply("Hard to say.", f'{{"storyPoints": {points}}}'))
    with service.client() as client:
        stream = read_stream(client, ESTIMATE, {"issueId": "ISSUE-1"}, headers=auth)
    assert stream.types[-1] == "error"
    assert expected in stream.value("error")
    assert "Traceback" not in service.log_text()
    assert Suggestion.objects.get().status == "failed"


def test_what_the_upstream_says_of_itself_is_checked(service, auth, fake):
    baker.make(Issue, key="ISSUE-1", title="Add login")
    fake.configure(
        model="m" * 150,
        usage=json.dumps({"prompt_tokens": "many", "completion_tokens": 2.5, "total_tokens": -1}),
        reply=reply(
            "Five\x00 points, a NUL and \u0000 more.", '{"storyPoints": 5, "x": "\\u0000"}'
        ),
    )
    with service.client() as client:
        stream = read_stream(client, ESTIMATE, {"issueId": "ISSUE-1"}, headers=auth)

    assert stream.types[-1] == "metadata"
    assert "\x00" not in stream.text
    suggestion = Suggestion.objects.get()
    assert suggestion.status == "completed"  # on PostgreSQL a NUL would fail both writes
    assert suggestion.text == stream.text
    assert suggestion.model == "m" * 100
    assert (suggestion.prompt_tokens, suggestion.completion_tokens) == (None, None)
    assert suggestion.total_tokens is None


def test_an_answer_too_long_to_keep_is_ended_in_words(service, auth, fake):
    baker.make(Issue, key="ISSUE-1", title="Add login")
    fake.configure(reply=("word " * 25_000 + "\n") * 2)  # 250,000 characters
    with service.client() as client:
        stream = read_stream(client, ESTIMATE, {"issueId": "ISSUE-1"}, headers=auth)
    assert stream.types[-1] == "error"
    assert "longer than 100,000 characters" in stream.value("error")
    suggestion = Suggestion.objects.get()
    assert suggestion.status == "failed"
    assert suggestion.text == stream.text
    assert len(suggestion.text) <= 100_000
