"""End-to-end fixtures: the service under uvicorn, Debian's Chromium driven by Playwright."""

import dataclasses
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from model_bakery import baker
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.conftest import ROOT, Service

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
PASSWORD = "correct horse battery staple"
PHONE = {"width": 390, "height": 844}

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session")
def e2e_service(service_factory: Callable[..., Service]) -> Service:
    """The service with its static files collected, as bin/serve runs it."""
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=ROOT,
        check=True,
    )
    # Never inherit the test process's DJANGO_ALLOW_ASYNC_UNSAFE (see `browser`): the server
    # must keep Django's guard against sync ORM calls in async code.
    return service_factory(DJANGO_ALLOW_ASYNC_UNSAFE="")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: bin/test installs Debian's chromium package")
    # Playwright's sync API runs an event loop in this thread, and Django then refuses ORM calls
    # here as if they came from async code. They don't: allow them while the browser runs.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def e2e_user(transactional_db: None) -> Any:
    return get_user_model().objects.create_user("alice", password=PASSWORD)


@pytest.fixture
def issue(transactional_db: None) -> Any:
    return baker.make(
        "issues.Issue",
        key="ISSUE-123",
        type="STORY",
        priority="HIGH",
        title="Password reset ignores email case",
        description="Users cannot reset their password when they type their email in capitals.",
        story_points=None,
    )


@contextmanager
def browser_page(browser: Browser, service: Service, **options: Any) -> Iterator[Page]:
    """A tab in a fresh browser context; fail the test if the page threw a JavaScript error."""
    context = browser.new_context(base_url=service.url, **options)
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def log_in(page: Page, *, username: str = "alice", password: str = PASSWORD) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Issues", level=1)).to_be_visible()


@pytest.fixture
def page(browser: Browser, e2e_service: Service, e2e_user: Any) -> Iterator[Page]:
    """A browser tab at a desktop width, logged in through the login form."""
    with browser_page(browser, e2e_service, viewport={"width": 1280, "height": 900}) as tab:
        log_in(tab)
        yield tab


@pytest.fixture
def phone(browser: Browser, e2e_service: Service, e2e_user: Any) -> Iterator[Page]:
    """A browser tab at a phone's width, logged in."""
    with browser_page(browser, e2e_service, viewport=PHONE, is_mobile=True, has_touch=True) as tab:
        log_in(tab)
        yield tab


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


class Cable:
    """A TCP relay between the browser and the service, that the network can go out of.

    `cut()` drops every open connection and refuses new ones until `mend()`: what a lost
    network does to a long response (the browser's offline emulation leaves those alone).
    """

    def __init__(self, service: Service) -> None:
        self._target = service.url.removeprefix("http://").split(":")
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.service = dataclasses.replace(
            service, url=f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        )
        self._open: set[socket.socket] = set()
        self._down = False
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            if self._down:
                client.close()
                continue
            upstream = socket.create_connection((self._target[0], int(self._target[1])))
            with self._lock:
                self._open |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for each in (source, sink):
            self._drop(each)

    def _drop(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)
        with suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()

    def cut(self) -> None:
        self._down = True
        for sock in list(self._open):
            self._drop(sock)

    def mend(self) -> None:
        self._down = False

    def __enter__(self) -> "Cable":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._listener.close()
        self.cut()
