"""A server process that dies mid-call leaves no suggestion `streaming`; one that stops waits
a bounded time for its streams."""

import itertools
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from model_bakery import baker

from ai_assist.models import Suggestion, Worker
from ai_assist.workers import INTERRUPTED
from tests.ai_assist.sse_client import read_stream
from tests.conftest import ROOT, database_url, free_port

pytestmark = pytest.mark.django_db(transaction=True)

ESTIMATE = "/api/ai/estimate-points-stream"
# 400 tokens, 50 ms apart: a call of 20 s.
SLOW = {"issueId": "ISSUE-1", "currentDescription": "Log in. [[fake:delay=0.05]]"}
FAST = {"issueId": "ISSUE-1"}
instances = itertools.count(100)  # a server of its own for each test that kills one


@pytest.fixture(autouse=True)
def issue(fake: Any) -> Any:
    fake.configure(tokens=400)
    return baker.make("issues.Issue", key="ISSUE-1", title="Add login", description="Log in.")


def wait_until(predicate: Any, timeout: float) -> float:
    """Poll `predicate` until it holds; return how long that took."""
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < timeout, "not in time"
        time.sleep(0.05)
    return time.monotonic() - started


def start_slow_call(service: Any, auth: dict[str, str]) -> threading.Thread:
    def call() -> None:
        try:
            with service.client() as client:
                read_stream(client, ESTIMATE, SLOW, headers=auth)
        except httpx.HTTPError:
            pass  # its server was killed under it

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    wait_until(lambda: Suggestion.objects.filter(status="streaming").exists(), timeout=10)
    return thread


@pytest.fixture
def fast_beats(service_factory: Any) -> Any:
    """Servers that beat and sweep every few tenths of a second, stopped after the test: the
    database's flush between tests takes every process's heartbeat row, and a fast sweeper
    would take the next test's young calls for a dead process's."""
    started: list[Any] = []

    def start(**settings: str) -> Any:
        started.append(service_factory(instance=next(instances), **settings))
        return started[-1]

    yield start
    for server in started:
        server.stop()


def test_the_calls_of_a_killed_server_end_failed_and_free_their_slots(fast_beats, auth):
    beats = {"AI_HEARTBEAT": "0.3", "AI_MAX_CONCURRENT_STREAMS": "1"}
    doomed = fast_beats(**beats)
    start_slow_call(doomed, auth)
    time.sleep(0.5)  # text flowing
    doomed.process.send_signal(signal.SIGKILL)
    doomed.process.wait(timeout=5)
    [suggestion] = Suggestion.objects.all()
    assert suggestion.status == "streaming"  # nobody left to store how it ended

    restarted = fast_beats(**beats)
    took = wait_until(lambda: Suggestion.objects.get().status != "streaming", timeout=10)

    suggestion.refresh_from_db()
    assert suggestion.status == "failed"
    assert suggestion.error == INTERRUPTED
    assert took < 3  # three beats of 0.3 s, and one more to sweep
    with restarted.client() as client:  # no longer counted as running
        stream = read_stream(client, ESTIMATE, FAST, headers=auth)
    assert stream.types[-1] == "metadata"


def test_the_calls_of_a_live_server_are_left_alone(fast_beats, auth, fake):
    beats = {"AI_HEARTBEAT": "0.2"}
    working = fast_beats(**beats)
    fast_beats(**beats)  # sweeps every 0.2 s meanwhile
    fake.configure(tokens=40)
    with working.client() as client:
        stream = read_stream(client, ESTIMATE, SLOW, headers=auth)  # 2 s, ten sweeps
    assert stream.types[-1] == "metadata"
    assert Suggestion.objects.get().status == "completed"
    assert Worker.objects.count() >= 2


def test_a_stopping_server_waits_for_its_streams_a_bounded_time(
    django_db_blocker: Any, auth: dict[str, str], fake: Any
):
    """bin/serve, as a user runs it: SIGTERM with a stream open ends within SHUTDOWN_GRACE."""
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "SHUTDOWN_GRACE": "1",
        "DATABASE_URL": database_url(),
        "AI_PROVIDER": "openai",
        "OPENAI_BASE_URL": fake.base_url,
        "AI_MAX_RETRIES": "0",
        "AI_SSE_FLUSH_INTERVAL": "0",
    }
    log = Path(ROOT / "var" / "test-logs" / f"serve-{port}.log")
    log.parent.mkdir(parents=True, exist_ok=True)
    server = subprocess.Popen(
        ["bin/serve"], cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT
    )
    try:
        url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return httpx.get(f"{url}/accounts/login/", timeout=1).status_code == 200
            except httpx.TransportError:
                assert server.poll() is None, log.read_text()
                return False

        wait_until(up, timeout=180)  # bin/serve syncs .venv, migrates, collects static
        start_slow_call(SimpleNamespace(client=lambda: httpx.Client(base_url=url)), auth)
        server.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        server.wait(timeout=15)
        took = time.monotonic() - stopped
    finally:
        if server.poll() is None:
            server.kill()

    assert took < 4  # the stream had 19 s to go
    suggestion = Suggestion.objects.get()
    assert suggestion.status == "cancelled"  # its stream was cut: stored as it ended
    assert suggestion.text  # what its client was sent is kept
    assert not Worker.objects.filter(id=suggestion.worker).exists()  # gone, and says so
