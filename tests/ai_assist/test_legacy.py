"""The three legacy JSON operations over real HTTP: the service under uvicorn, the fake upstream."""

import socket
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from model_bakery import baker

from ai_assist.models import Suggestion
from tests.ai_assist.sse_client import read_stream
from tests.fake_openai import LEAKY_SECRET

pytestmark = pytest.mark.django_db(transaction=True)

PATHS = {
    "refine": "/api/ai/refine-description",
    "estimate": "/api/ai/estimate-points",
    "breakdown": "/api/ai/breakdown-issue",
}
METADATA = {
    "refine": {"suggestionId", "improvementsCount", "refinedDescription"},
    "estimate": {"suggestionId", "suggestedPoints", "similarIssues"},
    "breakdown": {"suggestionId", "subtasksCount", "totalPoints", "complexity", "subtasks"},
}


@pytest.fixture
def issue() -> Any:
    return baker.make(
        "issues.Issue",
        key="ISSUE-123",
        title="Add login feature",
        description="Users log in with email and password.",
        type="STORY",
        priority="HIGH",
    )


@pytest.mark.parametrize("kind", PATHS)
def test_answers_with_the_contract_json_and_stores_the_suggestion(service, auth, issue, kind):
    with service.client() as client:
        response = client.post(PATHS[kind], json={"issueId": "issue-123"}, headers=auth)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"suggestionId", "kind", "text", "confidence", "metadata"}
    assert body["kind"] == kind
    assert set(body["metadata"]) == METADATA[kind]
    assert body["metadata"]["suggestionId"] == body["suggestionId"]
    assert 0.0 <= body["confidence"] <= 1.0
    assert body["text"].strip()
    assert "```" not in body["text"]  # the machine-readable block is not part of the text

    suggestion = Suggestion.objects.get(pk=body["suggestionId"])
    assert (suggestion.status, suggestion.kind, suggestion.issue) == ("completed", kind, issue)
    assert suggestion.text == body["text"]
    assert suggestion.confidence == body["confidence"]
    assert suggestion.metadata == body["metadata"]
    assert suggestion.total_tokens > 0
    assert suggestion.duration_ms > 0


@pytest.mark.parametrize("kind", PATHS)
def test_carries_the_same_values_as_the_stream(service, auth, issue, kind):
    with service.client() as client:
        stream = read_stream(
            client, f"{PATHS[kind]}-stream", {"issueId": "ISSUE-123"}, headers=auth
        )
        body = client.post(PATHS[kind], json={"issueId": "ISSUE-123"}, headers=auth).json()

    streamed = stream.value("metadata")
    assert body["text"] == stream.text
    assert body["confidence"] == stream.value("confidence")
    assert body["metadata"] | {"suggestionId": 0} == streamed | {"suggestionId": 0}
    assert body["suggestionId"] != streamed["suggestionId"]  # each call is a suggestion


def test_an_unknown_issue_is_answered_from_the_body_and_kept_under_its_key(service, auth):
    body = {"issueId": "NEW-1", "issueType": "task", "currentDescription": "Rotate the logs."}
    with service.client() as client:
        response = client.post(PATHS["estimate"], json=body, headers=auth)
    assert response.status_code == 200, response.text
    suggestion = Suggestion.objects.get(pk=response.json()["suggestionId"])
    assert (suggestion.issue_key, suggestion.issue) == ("NEW-1", None)


@pytest.mark.parametrize(
    ("fault", "status"),
    [("500", 502), ("429", 502), ("cut", 502), ("malformed", 502)],
)
def test_an_upstream_failure_is_a_502_and_stored_failed(service, auth, issue, fake, fault, status):
    fake.configure(fault=fault)
    with service.client() as client:
        response = client.post(PATHS["refine"], json={"issueId": "ISSUE-123"}, headers=auth)

    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert set(response.json()) == {"error"}
    message = response.json()["error"]
    assert message
    assert LEAKY_SECRET not in message
    assert "sk-" not in message
    assert "Traceback" not in message
    [suggestion] = Suggestion.objects.all()
    assert (suggestion.status, suggestion.error) == ("failed", message)
    assert suggestion.finished_at is not None


def test_an_upstream_time_out_is_a_504_and_stored_failed(service_factory, auth, issue, fake):
    service = service_factory(AI_TIMEOUT="0.5")
    fake.configure(fault="slow_first", first_token_delay=3)
    with service.client() as client:
        started = time.monotonic()
        response = client.post(PATHS["estimate"], json={"issueId": "ISSUE-123"}, headers=auth)

    assert response.status_code == 504, response.text
    assert time.monotonic() - started < 2.5
    assert "did not answer within" in response.json()["error"]
    [suggestion] = Suggestion.objects.all()
    assert suggestion.status == "failed"


def test_an_upstream_that_cannot_be_reached_is_a_502_that_says_so(service_factory, auth, issue):
    # Nothing listens on the port of a socket that was bound and closed.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    service = service_factory(OPENAI_BASE_URL=nowhere)
    with service.client() as client:
        response = client.post(PATHS["refine"], json={"issueId": "ISSUE-123"}, headers=auth)

    assert response.status_code == 502, response.text
    assert response.json()["error"] == (
        "The AI service could not be reached; check OPENAI_BASE_URL and the network."
    )
    assert Suggestion.objects.get().status == "failed"


def test_an_answer_that_cannot_be_used_is_a_502(service, auth, issue, fake):
    fake.configure(reply="I would rather not say.")  # no estimate anywhere in it
    with service.client() as client:
        response = client.post(PATHS["estimate"], json={"issueId": "ISSUE-123"}, headers=auth)
    assert response.status_code == 502
    assert response.json() == {"error": "The AI answer held no story point estimate."}
    assert Suggestion.objects.get().status == "failed"


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"issueId"}),
        ({"issueId": "not a key"}, {"issueId"}),
        ({"issueId": "NEW-1"}, {"issueType", "currentDescription"}),
        (
            {"issueId": "NEW-1", "issueType": "saga", "priority": "urgent"},
            {"issueType", "priority"},
        ),
        (
            {"issueId": "NEW-1", "issueType": "story", "currentDescription": "x" * 20_001},
            {"currentDescription"},
        ),
        ([1, 2], {"non_field_errors"}),
    ],
)
def test_bad_input_is_a_400_naming_each_field_and_stores_nothing(service, auth, body, fields):
    with service.client() as client:
        response = client.post(PATHS["breakdown"], json=body, headers=auth)
    assert response.status_code == 400
    assert set(response.json()) == fields
    assert not Suggestion.objects.exists()


def test_a_body_that_is_not_json_is_a_400(service, auth):
    headers = auth | {"Content-Type": "application/json"}
    with service.client() as client:
        response = client.post(PATHS["refine"], content=b"{not json", headers=headers)
    assert response.status_code == 400
    assert "detail" in response.json()
    assert not Suggestion.objects.exists()


@pytest.mark.parametrize("kind", PATHS)
def test_needs_an_authenticated_user(service, issue, kind):
    with service.client() as client:
        anonymous = client.post(PATHS[kind], json={"issueId": "ISSUE-123"})
        bad_token = client.post(
            PATHS[kind], json={"issueId": "ISSUE-123"}, headers={"Authorization": "Token nope"}
        )
    assert anonymous.status_code == bad_token.status_code == 401
    assert "detail" in anonymous.json()
    assert "detail" in bad_token.json()
    assert not Suggestion.objects.exists()


def test_has_the_browsable_api(service, auth):
    with service.client() as client:
        response = client.get(PATHS["refine"], headers=auth | {"Accept": "text/html"})
    assert response.status_code == 405  # POST only, but the page offers the form to post
    assert response.headers["content-type"].startswith("text/html")
    assert "Refine Description" in response.text
    assert 'name="_content"' in response.text


def test_calls_run_side_by_side_not_one_after_another(service, auth, issue, fake):
    fake.configure(delay=0.01, tokens=60)  # each answer takes most of a second

    def call(kind: str) -> int:
        with service.client() as client:
            return client.post(PATHS[kind], json={"issueId": "ISSUE-123"}, headers=auth).status_code

    started = time.monotonic()
    assert call("estimate") == 200
    alone = time.monotonic() - started
    with ThreadPoolExecutor(4) as pool:
        started = time.monotonic()
        statuses = list(pool.map(call, ["estimate"] * 4))
        together = time.monotonic() - started

    assert statuses == [200] * 4
    assert together < alone * 2  # one after another, they would take four times as long
    assert Suggestion.objects.filter(status="completed").count() == 5
