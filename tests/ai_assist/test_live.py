"""Following a suggestion over real HTTP: ids, resuming, re-attaching, cancel, idempotency keys,
two workers and a killed one (ai_assist/live.py)."""

import itertools
import signal
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
import pytest
from model_bakery import baker
from rest_framework.authtoken.models import Token

from ai_assist.live import STOPPED
from ai_assist.models import Suggestion
from ai_assist.workers import INTERRUPTED
from tests.ai_assist.sse_client import Stream, follow, get_events, post_events, read_stream

pytestmark = pytest.mark.django_db(transaction=True)

STREAM = "/api/ai/estimate-points-stream"
JSON = "/api/ai/estimate-points"
BODY = {"issueId": "ISSUE-1"}
# A slow answer for this request only: 60 tokens, 50 ms apart (3 s).
SLOW = BODY | {"currentDescription": "Log in. [[fake:delay=0.05]] [[fake:tokens=60]]"}
# A word at a time: 40 tokens, 10 ms apart.
WORDY = BODY | {"currentDescription": "Log in. [[fake:delay=0.01]] [[fake:tokens=40]]"}
# A call of 20 s, which must be stopped rather than end.
LONG = BODY | {"currentDescription": "Log in. [[fake:delay=0.05]] [[fake:tokens=400]]"}
instances = itertools.count(200)  # a server of its own for each test that kills one


@pytest.fixture(autouse=True)
def issue(fake: Any) -> Any:
    return baker.make("issues.Issue", key="ISSUE-1", title="Add login", description="Log in.")


@pytest.fixture
def other_auth(other_user: Any) -> dict[str, str]:
    return {"Authorization": f"Token {Token.objects.create(user=other_user).key}"}


def wait_until(predicate: Any, timeout: float = 10) -> float:
    """Poll `predicate` until it holds; return how long that took."""
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < timeout, "not in time"
        time.sleep(0.02)
    return time.monotonic() - started


def running() -> Suggestion:
    wait_until(lambda: Suggestion.objects.filter(status="streaming").exists())
    return Suggestion.objects.get(status="streaming")


def closing(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [event for event in events if event["type"] != "text"]


def resumed_text(first: Stream, at: int, rest: Stream) -> str:
    """The text a client puts together: what it had up to event `at`, then what followed."""
    had = "".join(e["content"] for e in first.events[: at + 1] if e["type"] == "text")
    return had + rest.text


def assert_ids_increase(stream: Stream) -> None:
    assert all(stream.ids), stream.ids  # every event carries one
    ids = [int(id) for id in stream.ids]
    assert ids == sorted(set(ids)), ids


class Reading(threading.Thread):
    """Read a stream in a thread, noting when each event came."""

    def __init__(self, read: Any) -> None:
        super().__init__(daemon=True)
        self.read = read
        self.stream: Stream | None = None
        self.error: Exception | None = None
        self.start()

    def run(self) -> None:
        try:
            self.stream = self.read()
        except httpx.HTTPError as error:  # its server was killed under it
            self.error = error

    def result(self, timeout: float = 30) -> Stream:
        self.join(timeout)
        assert self.stream is not None, self.error
        return self.stream


def test_every_event_has_an_id_and_the_ids_increase(service, auth):
    with service.client() as client:
        stream = read_stream(client, STREAM, BODY, headers=auth)
    assert stream.types[-2:] == ["confidence", "metadata"]
    assert_ids_increase(stream)
    pk = stream.value("metadata")["suggestionId"]
    assert stream.headers["x-suggestion-id"] == str(pk)
    # A text event's id is the length of the text up to its end.
    sent = 0
    for id, event in zip(stream.ids[:-2], stream.events[:-2], strict=True):
        sent += len(event["content"])
        assert int(id) == sent


def test_a_finished_suggestion_replays_and_resumes_from_every_id(service, auth):
    with service.client() as client:
        first = read_stream(client, STREAM, WORDY, headers=auth)
        pk = first.value("metadata")["suggestionId"]
        stored = Suggestion.objects.get(pk=pk)
        replay = follow(client, pk, headers=auth)
        resumed = [
            # The header as EventSource sends it, or the query parameter.
            follow(client, pk, headers=auth, after=id, query=at % 2 == 1)
            for at, id in enumerate(first.ids)
        ]
    assert replay.headers["content-type"].startswith("text/event-stream")
    assert replay.headers["cache-control"] == "no-cache"
    assert replay.text == stored.text
    assert closing(replay.events) == closing(first.events)
    assert_ids_increase(replay)
    assert len(resumed) > 20
    for at, rest in enumerate(resumed):
        assert resumed_text(first, at, rest) == stored.text, first.ids[at]
        assert closing(rest.events) == closing(first.events[at + 1 :])
        assert all(int(id) > int(first.ids[at]) for id in rest.ids)


def test_a_running_suggestion_resumes_from_every_id(service, auth, fake):
    """As each id arrives, a new reader resumes after it while the call runs."""
    first = Stream(status=0, headers=httpx.Headers())
    with ThreadPoolExecutor(max_workers=100) as pool, service.client() as client:
        resumed = []
        for response, event, id in post_events(client, STREAM, SLOW, headers=auth):
            pk = int(response.headers["x-suggestion-id"])
            first.events.append(event)
            first.ids.append(id)

            def resume(pk: int = pk, id: str = id) -> Stream:
                with service.client() as client:
                    return follow(client, pk, headers=auth, after=id)

            resumed.append(pool.submit(resume))
        resumed = [future.result(timeout=60) for future in resumed]
    stored = Suggestion.objects.get(pk=pk)
    assert stored.status == "completed"
    assert first.text == stored.text
    assert len(resumed) > 20
    for at, rest in enumerate(resumed):
        assert resumed_text(first, at, rest) == stored.text, first.ids[at]
        assert closing(rest.events) == closing(first.events[at + 1 :])
        assert_ids_increase(rest)
    assert fake.stats["requests"] == 1


def test_a_failed_suggestion_replays_to_its_error(service, auth, fake):
    fake.configure(fault="cut")
    with service.client() as client:
        first = read_stream(client, STREAM, BODY, headers=auth)
        pk = int(first.headers["x-suggestion-id"])
        replay = follow(client, pk, headers=auth)
        after_text = follow(client, pk, headers=auth, after=first.ids[-2])
        after_all = follow(client, pk, headers=auth, after=first.ids[-1])
    stored = Suggestion.objects.get(pk=pk)
    assert stored.status == "failed"
    assert first.types[-1] == "error"
    assert replay.text == stored.text == first.text
    assert replay.events[-1] == {"type": "error", "message": stored.error}
    assert replay.types.count("error") == 1
    assert after_text.events == [first.events[-1]]
    assert after_all.status == 200 and after_all.events == []  # it has all; the stream ends


def test_a_cancelled_suggestion_replays_to_an_error_saying_it_was_stopped(service_factory, auth):
    service = service_factory(AI_DETACH_GRACE="0")
    with service.client() as client:
        first = read_stream(client, STREAM, LONG, headers=auth, leave_after=3)
        pk = int(first.headers["x-suggestion-id"])
        wait_until(lambda: Suggestion.objects.get(pk=pk).status == "cancelled")
        replay = follow(client, pk, headers=auth)
    stored = Suggestion.objects.get(pk=pk)
    assert stored.text.startswith(first.text)
    assert replay.text == stored.text
    assert replay.types[-1] == "error"
    assert replay.value("error") == STOPPED


def test_only_its_owner_and_staff_follow_a_suggestion(service, auth, other_auth, staff_user):
    staff = {"Authorization": f"Token {Token.objects.create(user=staff_user).key}"}
    with service.client() as client:
        pk = read_stream(client, STREAM, BODY, headers=auth).value("metadata")["suggestionId"]
        path = f"/api/ai/suggestions/{pk}/events"
        responses = {
            "other": client.get(path, headers=other_auth),
            "anonymous": client.get(path),
            "unknown": client.get(f"/api/ai/suggestions/{pk + 1}/events", headers=auth),
            "bad id": client.get(path, headers=auth | {"Last-Event-ID": "seven"}),
            "post": client.post(path, headers=auth),
            "cancel": client.post(f"/api/ai/suggestions/{pk}/cancel", headers=other_auth),
        }
        by_staff = follow(client, pk, headers=staff)
    expected = {
        "other": 404,
        "anonymous": 401,
        "unknown": 404,
        "bad id": 400,
        "post": 405,
        "cancel": 404,
    }
    assert {name: r.status_code for name, r in responses.items()} == expected
    for response in responses.values():
        assert response.headers["content-type"] == "application/json"
        assert response.json()["detail"]
    assert by_staff.types[-1] == "metadata"


def test_a_reader_that_comes_back_within_the_grace_follows_on(service_factory, auth, fake):
    service = service_factory(AI_DETACH_GRACE="3")
    with service.client() as client:
        first = read_stream(client, STREAM, SLOW, headers=auth, leave_after=5)
        pk = int(first.headers["x-suggestion-id"])
        time.sleep(1)  # away, within the grace
        assert Suggestion.objects.get(pk=pk).status == "streaming"
        rest = follow(client, pk, headers=auth, after=first.ids[-1])
    stored = Suggestion.objects.get(pk=pk)
    assert stored.status == "completed"
    assert resumed_text(first, len(first.ids) - 1, rest) == stored.text
    assert rest.types[-2:] == ["confidence", "metadata"]
    assert fake.stats["streams_disconnected"] == 0
    assert fake.stats["requests"] == 1


def test_a_call_nobody_comes_back_to_ends_cancelled_after_the_grace(service_factory, auth, fake):
    service = service_factory(AI_DETACH_GRACE="1")
    with service.client() as client:
        first = read_stream(client, STREAM, LONG, headers=auth, leave_after=3)
    left = time.monotonic()
    pk = int(first.headers["x-suggestion-id"])
    time.sleep(0.6)
    assert Suggestion.objects.get(pk=pk).status == "streaming"  # within the grace
    wait_until(lambda: Suggestion.objects.get(pk=pk).status != "streaming")
    took = time.monotonic() - left
    fake.wait_for(lambda stats: stats["streams_disconnected"] == 1, timeout=5)
    stored = Suggestion.objects.get(pk=pk)
    assert stored.status == "cancelled"
    assert 0.9 <= took < 4
    assert stored.text.startswith(first.text)
    assert len(stored.text) > len(first.text)  # it went on during the grace, and keeps that


def test_cancel_stops_the_call_and_tells_every_reader_once(service, auth, other_auth, fake):
    with service.client() as client:
        poster = Reading(lambda: read_stream(client, STREAM, LONG, headers=auth))
        pk = running().pk
        follower = Reading(lambda: follow(service.client(), pk, headers=auth))
        time.sleep(0.5)  # text flowing to both
        refused = client.post(f"/api/ai/suggestions/{pk}/cancel", headers=other_auth)
        response = client.post(f"/api/ai/suggestions/{pk}/cancel", headers=auth)
        again = client.post(f"/api/ai/suggestions/{pk}/cancel", headers=auth)
        posted, followed = poster.result(), follower.result()
    assert refused.status_code == 404
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    assert again.status_code == 409
    assert "running" in again.json()["detail"]
    stored = Suggestion.objects.get(pk=pk)
    assert stored.status == "cancelled"
    assert response.json()["text"] == stored.text
    for stream in (posted, followed):
        assert stream.types.count("error") == 1
        assert stream.types[-1] == "error"
        assert stream.value("error") == STOPPED
        assert "metadata" not in stream.types
    assert posted.text == stored.text  # every piece of text that was sent, and only those
    fake.wait_for(lambda stats: stats["streams_disconnected"] == 1, timeout=5)


def test_cancel_of_a_finished_suggestion_is_a_conflict(service, auth):
    with service.client() as client:
        pk = read_stream(client, STREAM, BODY, headers=auth).value("metadata")["suggestionId"]
        response = client.post(f"/api/ai/suggestions/{pk}/cancel", headers=auth)
    assert response.status_code == 409
    assert response.json() == {
        "detail": "Only a running suggestion can be stopped; this one is completed."
    }
    assert Suggestion.objects.get(pk=pk).status == "completed"


def test_a_json_call_is_followed_like_a_stream(service, auth):
    with service.client() as client:
        caller = Reading(lambda: client.post(JSON, json=SLOW, headers=auth))
        pk = running().pk
        followed = follow(service.client(), pk, headers=auth)
        answer = caller.result().json()
    assert answer["suggestionId"] == pk
    assert followed.text == answer["text"] == Suggestion.objects.get(pk=pk).text
    assert followed.value("metadata") == answer["metadata"]


def keyed(auth: dict[str, str], key: str = "click-1") -> dict[str, str]:
    return auth | {"Idempotency-Key": key}


def test_a_repeated_key_follows_the_first_call_from_its_start(service, auth, fake):
    with service.client() as client:
        first = Reading(lambda: read_stream(client, STREAM, SLOW, headers=keyed(auth)))
        pk = running().pk
        time.sleep(0.5)  # some text sent already
        second = read_stream(service.client(), STREAM, SLOW, headers=keyed(auth))
        first = first.result()
        third = read_stream(client, STREAM, SLOW, headers=keyed(auth))  # once it ended
        as_json = client.post(JSON, json=SLOW, headers=keyed(auth))
    stored = Suggestion.objects.get()
    assert stored.pk == pk and stored.status == "completed"
    for stream in (first, second, third):
        assert stream.headers["x-suggestion-id"] == str(pk)
        assert stream.text == stored.text
        assert stream.value("metadata") == stored.metadata
    assert as_json.status_code == 200
    assert as_json.json() == {
        "suggestionId": pk,
        "kind": "estimate",
        "text": stored.text,
        "confidence": stored.confidence,
        "metadata": stored.metadata,
    }
    assert fake.stats["requests"] == 1


def test_a_json_repeat_waits_for_the_first_call_and_answers_the_same(service, auth, fake):
    def call() -> httpx.Response:
        with service.client() as client:
            return client.post(JSON, json=SLOW, headers=keyed(auth))

    first = Reading(call)
    running()
    second = call()
    first = first.result()
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    assert first.json() == second.json()
    assert Suggestion.objects.count() == 1
    assert fake.stats["requests"] == 1


def test_requests_with_one_key_at_once_start_one_call(service, auth, fake):
    def call(_: int) -> httpx.Response:
        with service.client() as client:
            return client.post(JSON, json=BODY, headers=keyed(auth, "together"))

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(call, range(8)))
    assert {r.status_code for r in responses} == {200}, [r.text for r in responses]
    assert len({r.json()["suggestionId"] for r in responses}) == 1
    assert Suggestion.objects.count() == 1
    assert fake.stats["requests"] == 1


def test_a_key_reused_with_another_request_is_refused(service, auth, fake):
    with service.client() as client:
        first = read_stream(client, STREAM, BODY, headers=keyed(auth))
        refused = {
            "another body": client.post(
                STREAM, json=BODY | {"priority": "HIGH"}, headers=keyed(auth)
            ),
            "another kind": client.post(
                "/api/ai/refine-description-stream", json=BODY, headers=keyed(auth)
            ),
            "as json": client.post(JSON, json=BODY | {"priority": "LOW"}, headers=keyed(auth)),
        }
        same_in_other_case = client.post(JSON, json={"issueId": "issue-1"}, headers=keyed(auth))
    assert first.types[-1] == "metadata"
    for name, response in refused.items():
        assert response.status_code == 422, name
        assert response.headers["content-type"] == "application/json"
        assert "Idempotency-Key" in response.json()["detail"]
    assert same_in_other_case.status_code == 200  # the same request, as validated
    assert Suggestion.objects.count() == 1
    assert fake.stats["requests"] == 1


def test_keys_are_per_user(service, auth, other_auth, fake):
    with service.client() as client:
        mine = read_stream(client, STREAM, BODY, headers=keyed(auth))
        theirs = read_stream(client, STREAM, BODY, headers=keyed(other_auth))
    assert mine.value("metadata")["suggestionId"] != theirs.value("metadata")["suggestionId"]
    assert fake.stats["requests"] == 2


@pytest.mark.parametrize("key", ["", "a" * 256, "caf\u00e9", "two words"])
def test_a_malformed_key_is_refused(service, auth, fake, key):
    headers = auth | {"Idempotency-Key": key.encode()}
    with service.client() as client:
        stream = client.post(STREAM, json=BODY, headers=headers)
        as_json = client.post(JSON, json=BODY, headers=headers)
    for response in (stream, as_json):
        assert response.status_code == 400
        assert "Idempotency-Key" in response.json()
    assert not Suggestion.objects.exists()


def test_a_key_older_than_a_day_starts_a_new_call(service, auth, fake):
    with service.client() as client:
        first = read_stream(client, STREAM, BODY, headers=keyed(auth))
        old = first.value("metadata")["suggestionId"]
        Suggestion.objects.filter(pk=old).update(
            created_at=Suggestion.objects.get(pk=old).created_at - timedelta(hours=25)
        )
        second = read_stream(client, STREAM, BODY | {"priority": "LOW"}, headers=keyed(auth))
    assert second.types[-1] == "metadata"
    assert second.value("metadata")["suggestionId"] != old
    assert Suggestion.objects.get(pk=old).idempotency_key == ""
    assert fake.stats["requests"] == 2


def test_a_repeat_does_not_count_against_the_limits(service_factory, auth, fake):
    service = service_factory(AI_RATE_LIMIT="1/min")
    with service.client() as client:
        first = client.post(JSON, json=BODY, headers=keyed(auth))
        repeat = client.post(JSON, json=BODY, headers=keyed(auth))
        streamed = read_stream(client, STREAM, BODY, headers=keyed(auth))
        new = client.post(JSON, json=BODY, headers=keyed(auth, "click-2"))
    assert first.status_code == repeat.status_code == streamed.status == 200
    assert repeat.json() == first.json()
    assert new.status_code == 429


def test_a_reader_on_another_worker_follows_live(service, service_factory, auth, fake):
    other = service_factory(instance=1)
    seen: list[tuple[float, int]] = []  # when the poster saw each id
    followed: list[tuple[float, int, dict]] = []

    def read_on_other(pk: int) -> None:
        with other.client() as client:
            for _, event, id in get_events(client, pk, headers=auth):
                followed.append((time.monotonic(), int(id), event))

    with service.client() as client:
        reader = None
        for response, _, id in post_events(client, STREAM, SLOW, headers=auth):
            seen.append((time.monotonic(), int(id)))
            if reader is None:
                pk = int(response.headers["x-suggestion-id"])
                reader = threading.Thread(target=read_on_other, args=(pk,), daemon=True)
                reader.start()
    reader.join(timeout=30)
    stored = Suggestion.objects.get(pk=pk)
    assert stored.worker != "" and stored.status == "completed"
    events = [event for _, _, event in followed]
    assert "".join(e["content"] for e in events if e["type"] == "text") == stored.text
    assert events[-1] == {"type": "metadata", "value": stored.metadata}
    texts = [(at, id) for at, id, event in followed if event["type"] == "text"]
    assert len(texts) >= 5  # live, a piece at a time, not the whole at the end
    # How much later than the poster the follower had each piece of text.
    delays = [at - next(t for t, i in seen if i >= id) for at, id in texts]
    assert statistics.median(delays) < 0.5, delays
    assert "LISTEN failed" not in other.log_text()  # on PostgreSQL, woken by NOTIFY


def test_a_reader_on_another_worker_keeps_the_call_going(service_factory, auth, fake):
    """With no grace, the call goes on when its poster leaves while a reader elsewhere
    follows it, to its end."""
    one = service_factory(AI_DETACH_GRACE="0")
    two = service_factory(AI_DETACH_GRACE="0", instance=1)
    with one.client() as client:
        events = post_events(client, STREAM, SLOW, headers=auth)
        response, _, _ = next(events)
        pk = int(response.headers["x-suggestion-id"])
        followed = Reading(lambda: follow(two.client(), pk, headers=auth))
        # The call's worker writes its text once it saw the follower's mark.
        wait_until(lambda: len(Suggestion.objects.get(pk=pk).text) > 0)
        events.close()  # the poster leaves
    followed = followed.result()
    assert followed.types[-2:] == ["confidence", "metadata"], followed.events
    stored = Suggestion.objects.get(pk=pk)
    assert stored.status == "completed"
    assert followed.text == stored.text
    assert fake.stats["streams_disconnected"] == 0


def test_cancel_from_another_worker(service, service_factory, auth, fake):
    other = service_factory(instance=1)
    with service.client() as client:
        poster = Reading(lambda: read_stream(client, STREAM, LONG, headers=auth))
        pk = running().pk
        time.sleep(0.3)
        started = time.monotonic()
        response = other.client().post(f"/api/ai/suggestions/{pk}/cancel", headers=auth)
        took = time.monotonic() - started
        posted = poster.result()
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    assert took < 2  # its worker looks every tenth of a second
    assert posted.types[-1] == "error" and posted.value("error") == STOPPED
    assert posted.text == Suggestion.objects.get(pk=pk).text
    fake.wait_for(lambda stats: stats["streams_disconnected"] == 1, timeout=5)


def test_the_followers_of_a_killed_worker_get_an_error(service_factory, auth, fake):
    beats = {"AI_HEARTBEAT": "1"}  # a worker is dead after 3 s of silence
    doomed = service_factory(instance=next(instances), **beats)
    other = service_factory(instance=next(instances), **beats)
    Reading(lambda: read_stream(doomed.client(), STREAM, LONG, headers=auth))
    pk = running().pk
    followed = Reading(lambda: follow(other.client(), pk, headers=auth))
    wait_until(lambda: len(Suggestion.objects.get(pk=pk).text) > 0)  # followed: text written
    doomed.process.send_signal(signal.SIGKILL)
    doomed.process.wait(timeout=5)
    killed = time.monotonic()
    stream = followed.result(timeout=20)
    took = time.monotonic() - killed
    stored = Suggestion.objects.get(pk=pk)
    assert stored.status == "failed"
    assert stored.error == INTERRUPTED
    assert stream.types[-1] == "error"
    assert stream.value("error") == INTERRUPTED
    assert stream.text == stored.text  # what its worker wrote before it died
    assert took < 8  # three beats, a sweep, a poll
    assert not Suggestion.objects.filter(status="streaming").exists()
