"""Shared fixtures: users and tokens, the loopback fake OpenAI server, the service on uvicorn."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings as django_settings
from django.db import connection
from model_bakery import baker
from rest_framework.authtoken.models import Token

from tests.fake_openai import FakeOpenAI

ROOT = Path(__file__).resolve().parent.parent
LOGS = ROOT / "var" / "test-logs"


def pytest_sessionfinish() -> None:
    # Django deletes its SQLite test database (settings name it by this pid), not its WAL files.
    for leftover in (ROOT / "var").glob(f"test-{os.getpid()}.sqlite3-*"):
        leftover.unlink()


@pytest.fixture(autouse=True)
def _no_real_upstream(settings: Any) -> None:
    """In-process code never reaches a real upstream, whatever a developer's .env holds."""
    settings.AI_PROVIDER = "offline"
    settings.OPENAI_API_KEY = "sk-test-not-a-real-key"
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"
    settings.AI_OFFLINE_DELAY = 0
    settings.AI_SSE_FLUSH_INTERVAL = 0  # no pause between reads: the pacing has its own test


_heartbeats: list[Any] = []


@pytest.fixture(autouse=True)
def _heartbeats_outlive_the_flush(request: pytest.FixtureRequest, django_db_blocker: Any) -> Any:
    """Keep the test servers' heartbeat rows (ai_assist.workers) from one test to the next.

    A transactional test ends by emptying every table, those rows too: until a server beats
    again, another server's sweep would take its running calls for a dead process's, and end
    them "interrupted". Each row comes back with the expiry it had.
    """
    uses_db = request.node.get_closest_marker("django_db") or {"db", "transactional_db"} & set(
        request.fixturenames
    )
    if not uses_db:
        yield
        return
    from ai_assist.models import Worker

    with django_db_blocker.unblock():
        Worker.objects.bulk_create(_heartbeats, ignore_conflicts=True)
    yield
    with django_db_blocker.unblock():
        _heartbeats[:] = Worker.objects.all()


@pytest.fixture
def user(db: None) -> Any:
    return baker.make("auth.User", username="alice")


@pytest.fixture
def other_user(db: None) -> Any:
    return baker.make("auth.User", username="bob")


@pytest.fixture
def staff_user(db: None) -> Any:
    return baker.make("auth.User", username="sam", is_staff=True, is_superuser=True)


@pytest.fixture
def token(user: Any) -> str:
    return Token.objects.create(user=user).key


@pytest.fixture
def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Token {token}"}


@pytest.fixture
def api_client(user: Any) -> Any:
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture(scope="session")
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def fake(fake_openai: FakeOpenAI) -> FakeOpenAI:
    """The fake OpenAI server, with its default config and counters reset for this test."""
    fake_openai.reset()
    return fake_openai


@dataclass
class Service:
    """The service running under uvicorn in a process of its own."""

    url: str
    process: subprocess.Popen
    log: Path
    env: dict[str, str] = field(default_factory=dict)

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        """Stop it now rather than at the end of the session (a fresh one starts if asked)."""
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url() -> str:
    """The test database's URL, for a server process to use the same database as the tests."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.fixture(scope="session")
def service_factory(
    django_db_setup: None, django_db_blocker: Any, fake_openai: FakeOpenAI
) -> Iterator[Callable[..., Service]]:
    """Start the service under uvicorn with the given settings; one server per distinct set.

    `instance` starts more servers with the same settings, as several workers would be.
    """
    with django_db_blocker.unblock():
        db_url = database_url()
    servers: dict[tuple, Service] = {}
    LOGS.mkdir(parents=True, exist_ok=True)

    def start(*, instance: int = 0, **settings: Any) -> Service:
        env = {
            "DJANGO_SECRET_KEY": django_settings.SECRET_KEY,  # sessions made here work there
            "DJANGO_DEBUG": "False",
            "DATABASE_URL": db_url,
            "AI_PROVIDER": "openai",
            "OPENAI_API_KEY": "sk-test-not-a-real-key",
            "OPENAI_BASE_URL": fake_openai.base_url,
            "AI_MAX_RETRIES": "0",
            "AI_TIMEOUT": "10",
            "AI_SSE_KEEPALIVE": "15",
            "AI_SSE_FLUSH_INTERVAL": "0",
            "AI_OFFLINE_DELAY": "0.001",
            "AI_RATE_LIMIT": "10000/min",
            "AI_MAX_CONCURRENT_STREAMS": "0",
        } | {name: str(value) for name, value in settings.items()}
        key = (instance, *sorted(env.items()))
        if key in servers and servers[key].process.poll() is None:
            return servers[key]
        port = free_port()
        log = LOGS / f"server-{port}.log"
        command = [sys.executable, "-m", "uvicorn", "config.asgi:application",
                   "--host", "127.0.0.1", "--port", str(port), "--no-access-log"]  # fmt: skip
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90  # a loaded machine takes its time to import Django
        while True:
            try:
                httpx.get(f"{url}/api/issues/", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the service did not start:\n{log.read_text()}") from None
                time.sleep(0.1)
        servers[key] = Service(url=url, process=process, log=log, env=env)
        return servers[key]

    yield start
    for server in servers.values():
        server.process.terminate()
        server.process.wait(timeout=10)


@pytest.fixture
def service(service_factory: Callable[..., Service], fake: FakeOpenAI) -> Service:
    """The service, talking to the fake OpenAI server."""
    return service_factory()
