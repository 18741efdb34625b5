"""Every call ends by AI_DEADLINE, whatever the upstream or the client does."""

import asyncio
import json
import threading
import time
from typing import Any

import pytest
from model_bakery import baker

from ai_assist.models import Suggestion
from config.asgi import Handler
from tests.ai_assist.sse_client import read_stream

pytestmark = pytest.mark.django_db(transaction=True)

ESTIMATE = "/api/ai/estimate-points-stream"
# A slow answer for this request only: 400 tokens, 50 ms apart (20 s).
SLOW = {"issueId": "ISSUE-1", "currentDescription": "Log in. [[fake:delay=0.05]]"}


@pytest.fixture(autouse=True)
def issue(fake: Any) -> Any:
    fake.configure(tokens=400)
    return baker.make("issues.Issue", key="ISSUE-1", title="Add login", description="Log in.")


def test_a_call_past_its_deadline_ends_failed_and_frees_its_slot(service_factory, auth):
    service = service_factory(AI_DEADLINE="2", AI_MAX_CONCURRENT_STREAMS="1")
    seen: dict[str, Any] = {}

    def slow_call() -> None:
        with service.client() as client:
            seen["stream"] = read_stream(client, ESTIMATE, SLOW, headers=auth)

    caller = threading.Thread(target=slow_call)
    started = time.monotonic()
    caller.start()
    while not Suggestion.objects.filter(status="streaming").exists():
        assert time.monotonic() - started < 10
        time.sleep(0.02)
    with service.client() as client:
        assert client.post("/api/ai/estimate-points", json=SLOW, headers=auth).status_code == 429
    caller.join(timeout=20)
    stream = seen["stream"]

    assert time.monotonic() - started < 8  # the answer alone would take 20 s
    assert stream.types[0] == "text"
    assert stream.types[-1] == "error"
    assert "took longer than 2 seconds (AI_DEADLINE)" in stream.value("error")
    suggestion = Suggestion.objects.get()
    assert suggestion.status == "failed"
    assert suggestion.text == stream.text
    with service.client() as client:  # the slot is free again
        again = client.post("/api/ai/estimate-points", json=SLOW, headers=auth)
    assert again.status_code == 504
    assert "AI_DEADLINE" in again.json()["error"]


def asgi_scope(token: str, body: bytes) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": ESTIMATE,
        "raw_path": ESTIMATE.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"authorization", f"Token {token}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 80),
    }


def test_a_client_that_stops_reading_is_ended_at_the_deadline(settings, token):
    """As a server's flow control would, the send of an event blocks once the client stopped
    reading: here from the third body message on, for ever."""
    settings.AI_DEADLINE = 1
    settings.AI_OFFLINE_DELAY = 0.05  # a word every 50 ms: several seconds in all
    settings.AI_SSE_FLUSH_INTERVAL = 0.05
    body = json.dumps({"issueId": "ISSUE-1"}).encode()
    sent: list[dict[str, Any]] = []
    requests = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        if requests:
            return requests.pop()
        await asyncio.Event().wait()  # no disconnect: the client is there, not reading
        return {}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if len(sent) > 2:
            await asyncio.Event().wait()

    async def serve() -> float:
        started = time.monotonic()
        await Handler()(asgi_scope(token, body), receive, send)
        return time.monotonic() - started

    took = asyncio.run(asyncio.wait_for(serve(), timeout=10))

    assert 1 <= took < 4
    assert sent[0]["status"] == 200
    suggestion = Suggestion.objects.get()
    assert suggestion.status == "failed"
    assert "AI_DEADLINE" in suggestion.error
