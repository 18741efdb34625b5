"""Per-user limits on the AI endpoints, over real HTTP and across two server processes."""

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
import pytest
from django.db import connections, transaction
from django.utils import timezone
from model_bakery import baker
from rest_framework.authtoken.models import Token

from ai_assist import services
from ai_assist.models import Suggestion, Worker
from issues.models import Issue
from tests.ai_assist.sse_client import read_stream

pytestmark = pytest.mark.django_db(transaction=True)

BODY = {"issueId": "ISSUE-123"}
# A slow answer for this request only (the fake upstream reads markers in the prompt).
SLOW = BODY | {"currentDescription": "Log in. [[fake:delay=0.02]] [[fake:tokens=150]]"}


@pytest.fixture(autouse=True)
def issue(fake: Any) -> Any:
    return baker.make("issues.Issue", key="ISSUE-123", title="Add login", description="Log in.")


@pytest.fixture
def other_auth(other_user: Any) -> dict[str, str]:
    return {"Authorization": f"Token {Token.objects.create(user=other_user).key}"}


def refused(response: httpx.Response) -> bool:
    """Whether a response is a limit's refusal as the contract has it: 429, Retry-After, JSON."""
    if response.status_code != 429:
        return False
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert response.headers["content-type"] == "application/json"
    assert response.json()["detail"]
    return True


def call(
    server: Any, path: str, headers: dict[str, str], body: dict[str, str] = BODY
) -> httpx.Response:
    with server.client() as client:
        if path.endswith("-stream"):
            stream = read_stream(client, path, body, headers=headers)
            # A refused stream is a JSON response; an accepted one must have run to its end.
            if stream.status == 200:
                assert stream.types[-1] == "metadata"
            return httpx.Response(
                stream.status,
                headers=stream.headers,
                content=json.dumps(stream.body).encode() if stream.body is not None else b"",
            )
        return client.post(path, json=body, headers=headers)


def test_the_rate_holds_across_server_processes(service_factory, auth, other_auth):
    first = service_factory(AI_RATE_LIMIT="4/min")
    second = service_factory(AI_RATE_LIMIT="4/min", instance=1)
    assert first.url != second.url
    allowed = [
        call(first, "/api/ai/estimate-points", auth),
        call(second, "/api/ai/refine-description-stream", auth),
        call(first, "/api/ai/breakdown-issue-stream", auth),
        call(second, "/api/ai/estimate-points", auth),
    ]
    assert [response.status_code for response in allowed] == [200] * 4

    for server in (first, second):
        assert refused(call(server, "/api/ai/estimate-points", auth))
        assert refused(call(server, "/api/ai/estimate-points-stream", auth))
    assert Suggestion.objects.count() == 4  # a refused request stores nothing

    # The limit is each user's own.
    assert call(second, "/api/ai/refine-description", other_auth).status_code == 200


def test_the_rate_counts_only_the_calls_of_its_period(service_factory, auth, user):
    server = service_factory(AI_RATE_LIMIT="2/min")
    now = timezone.now()
    for age in (61, 3600):  # calls before the last minute
        made = baker.make(Suggestion, user=user, status="completed")
        Suggestion.objects.filter(pk=made.pk).update(created_at=now - timedelta(seconds=age))
    assert call(server, "/api/ai/estimate-points", auth).status_code == 200

    made = baker.make(Suggestion, user=user, status="completed")  # 40 s ago: 20 s to go
    Suggestion.objects.filter(pk=made.pk).update(created_at=now - timedelta(seconds=40))
    response = call(server, "/api/ai/estimate-points-stream", auth)
    assert refused(response)
    assert 15 <= int(response.headers["retry-after"]) <= 21
    assert "2 AI calls in the last minute" in response.json()["detail"]
    assert Suggestion.objects.count() == 4


def test_a_call_left_streaming_by_a_dead_server_stops_counting(service_factory, auth, user):
    server = service_factory(AI_MAX_CONCURRENT_STREAMS="1")  # AI_TIMEOUT 10 s: 300 s counts
    orphan = baker.make(Suggestion, user=user, status="streaming")
    ten_minutes_ago = timezone.now() - timedelta(minutes=10)
    Suggestion.objects.filter(pk=orphan.pk).update(created_at=ten_minutes_ago)
    assert call(server, "/api/ai/estimate-points", auth).status_code == 200

    # Just now, by a server that is alive: it counts.
    alive = baker.make(Worker, expires_at=timezone.now() + timedelta(minutes=1))
    running = baker.make(Suggestion, user=user, status="streaming", worker=alive.id)
    assert refused(call(server, "/api/ai/estimate-points-stream", auth))
    assert Suggestion.objects.count() == 3
    assert Suggestion.objects.get(pk=running.pk).status == "streaming"  # left as it is


def wait_until_no_stream_runs(seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while Suggestion.objects.filter(status="streaming").exists():
        assert time.monotonic() < deadline, "a suggestion was left streaming"
        time.sleep(0.05)


def test_the_cap_on_open_streams_holds_across_server_processes(service_factory, auth, other_auth):
    # A call whose client left ends at once (no grace for it to come back).
    first = service_factory(AI_MAX_CONCURRENT_STREAMS="1", AI_DETACH_GRACE="0")
    second = service_factory(AI_MAX_CONCURRENT_STREAMS="1", AI_DETACH_GRACE="0", instance=1)
    with (
        first.client() as client,
        client.stream(
            "POST", "/api/ai/refine-description-stream", json=SLOW, headers=auth
        ) as running,
    ):
        assert running.status_code == 200
        lines = running.iter_lines()  # kept: a dropped iterator would close the connection
        assert next(lines).startswith("id: ")  # an event
        for path in ("/api/ai/estimate-points-stream", "/api/ai/estimate-points"):
            assert refused(call(second, path, auth))
            assert refused(call(first, path, auth))
        assert Suggestion.objects.count() == 1  # the refused requests stored nothing
        # The cap is each user's own.
        assert call(second, "/api/ai/estimate-points", other_auth).status_code == 200
    # The client left: its suggestion ends, and with it the user's slot is free again.
    wait_until_no_stream_runs()
    assert call(second, "/api/ai/estimate-points-stream", auth).status_code == 200


def test_a_running_json_call_counts_as_an_open_stream(service_factory, auth):
    first = service_factory(AI_MAX_CONCURRENT_STREAMS="1")
    second = service_factory(AI_MAX_CONCURRENT_STREAMS="1", instance=1)
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(call, first, "/api/ai/estimate-points", auth, SLOW)
        deadline = time.monotonic() + 5
        while not Suggestion.objects.filter(status="streaming").exists():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert refused(call(second, "/api/ai/refine-description-stream", auth))
        assert running.result().status_code == 200
    assert call(second, "/api/ai/refine-description-stream", auth).status_code == 200


def test_two_calls_at_the_same_instant_cannot_both_take_the_last_slot(settings, user):
    """The second call's check waits for the first call's suggestion to be stored."""
    settings.AI_MAX_CONCURRENT_STREAMS = 1
    stored, release = threading.Event(), threading.Event()

    def first() -> None:
        with transaction.atomic():  # held open after the check and the insert
            services.suggestion_start(user=user, kind="refine", data=BODY)
            stored.set()
            release.wait(10)

    def second() -> str:
        try:
            services.suggestion_start(user=user, kind="estimate", data=BODY)
        except services.TooManyCalls:
            return "refused"
        return "started"

    with ThreadPoolExecutor(2) as pool:
        first_done = pool.submit(closing_connections, first)
        assert stored.wait(10)
        second_done = pool.submit(closing_connections, second)
        time.sleep(0.3)  # time for the second call to reach its check (it waits there)
        release.set()
        first_done.result()
        assert second_done.result() == "refused"
    assert list(Suggestion.objects.values_list("kind", flat=True)) == ["refine"]


def test_a_call_starting_beside_a_review_by_the_same_user_does_not_deadlock(user, issue):
    """A review holds its issue's row and then stores its reviewer (a reference to the user's
    row); a call starting meanwhile holds the user's row and then stores a reference to the
    issue. The start's lock must let references through, or each would wait for the other."""
    reviewed = baker.make(Suggestion, issue=issue, status=Suggestion.Status.COMPLETED)
    holding, release = threading.Event(), threading.Event()

    def review() -> None:
        with transaction.atomic():  # the lock order of services.suggestion_accept
            Issue.objects.select_for_update().get(pk=issue.pk)
            holding.set()
            release.wait(10)
            Suggestion.objects.filter(pk=reviewed.pk).update(reviewed_by=user)

    def start() -> Suggestion:
        return services.suggestion_start(user=user, kind="refine", data=BODY)

    with ThreadPoolExecutor(2) as pool:
        reviewing = pool.submit(closing_connections, review)
        assert holding.wait(10)
        starting = pool.submit(closing_connections, start)
        time.sleep(0.3)  # time for the start to lock the user's row and wait for the issue's
        release.set()
        reviewing.result()
        assert starting.result().issue == issue
    assert Suggestion.objects.get(pk=reviewed.pk).reviewed_by == user


def closing_connections(function: Any) -> Any:
    """Run `function` in a worker thread, closing the thread's database connection after it."""
    try:
        return function()
    finally:
        connections.close_all()
