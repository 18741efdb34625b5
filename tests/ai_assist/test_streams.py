"""The three streams over real HTTP: the service under uvicorn, the fake OpenAI upstream."""

from typing import Any

import pytest
from model_bakery import baker

from ai_assist.models import Suggestion
from tests.ai_assist.sse_client import read_stream

pytestmark = pytest.mark.django_db(transaction=True)

STREAMS = {
    "refine": "/api/ai/refine-description-stream",
    "estimate": "/api/ai/estimate-points-stream",
    "breakdown": "/api/ai/breakdown-issue-stream",
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


@pytest.mark.parametrize("kind", STREAMS)
def test_stream_sends_text_then_confidence_then_metadata(service, auth, issue, fake, kind):
    fake.configure(delay=0.002)  # a token every 2 ms, as a model sends them
    with service.client() as client:
        stream = read_stream(client, STREAMS[kind], {"issueId": "ISSUE-123"}, headers=auth)

    assert stream.status == 200
    assert stream.headers["content-type"].startswith("text/event-stream")
    assert stream.headers["cache-control"] == "no-cache"
    assert stream.headers["x-accel-buffering"] == "no"
    assert stream.types[-2:] == ["confidence", "metadata"]
    assert set(stream.types[:-2]) == {"text"}
    assert len(stream.types) > 10  # word by word, not one lump
    assert "```" not in stream.text  # the machine-readable block is never sent as text
    assert 0.0 <= stream.value("confidence") <= 1.0

    metadata = stream.value("metadata")
    suggestion = Suggestion.objects.get(pk=metadata["suggestionId"])
    assert suggestion.status == "completed"
    assert suggestion.kind == kind
    assert suggestion.issue_key == "ISSUE-123"
    assert suggestion.issue == issue
    assert suggestion.text == stream.text
    assert suggestion.confidence == stream.value("confidence")
    assert suggestion.metadata == metadata
    assert suggestion.total_tokens > 0
    assert suggestion.time_to_first_token_ms <= suggestion.duration_ms
