"""Requests the service refuses: too large, malformed, unknown; always in words, JSON on /api/."""

import socket
import time
from typing import Any

import pytest
from model_bakery import baker

from ai_assist.models import Suggestion
from issues.models import Issue

pytestmark = pytest.mark.django_db(transaction=True)

NESTED = b"[" * 100_000


def raw_request(service: Any, head: str, body: bytes = b"") -> tuple[float, bytes]:
    """Send a request by hand; return how long the answer took and the answer."""
    host, port = service.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(head.encode() + body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return time.monotonic() - started, answer


@pytest.mark.parametrize("auth_header", ["", "Authorization: Token nope\r\n"])
def test_a_body_past_the_limit_is_refused_before_it_is_read(service, auth_header):
    # 30 MB announced and none of it sent: the answer cannot wait for the body.
    took, answer = raw_request(
        service,
        "POST /api/ai/refine-description-stream HTTP/1.1\r\nHost: x\r\n"
        f"{auth_header}Content-Type: application/json\r\nContent-Length: 30000000\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"application/json" in answer
    assert b'"detail": "The request body is larger than 1,048,576 bytes."' in answer
    assert took < 5


def test_a_body_without_its_length_is_cut_at_the_limit(service, auth):
    def chunks():
        for _ in range(40):
            yield b" " * 65536  # 2.5 MB in all, sent as a chunked body

    with service.client() as client:
        response = client.post("/api/issues/", content=chunks(), headers=auth)
    assert response.status_code == 413
    assert response.json()["detail"].startswith("The request body is larger")


@pytest.mark.parametrize("path", ["/api/issues/", "/api/ai/estimate-points-stream"])
def test_json_nested_too_deeply_is_a_400_in_json(service, auth, path):
    baker.make(Issue, key="ISSUE-1")
    with service.client() as client:
        response = client.post(
            path, content=NESTED, headers=auth | {"Content-Type": "application/json"}
        )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.json()["detail"]
    assert not Suggestion.objects.exists()
    assert Issue.objects.count() == 1


@pytest.mark.parametrize(
    "path",
    ["/api/nothing", "/api/ai/suggestions/99999999999999999999/", "/api/issues/NOPE-1/"],
)
def test_an_unknown_api_path_is_a_404_in_json(service, auth, path):
    with service.client() as client:
        response = client.get(path, headers=auth)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json()["detail"]


@pytest.mark.parametrize(
    "path", ["/accounts/password_reset/", "/accounts/password_change/", "/accounts/reset/x/y/"]
)
def test_only_login_and_logout_of_the_account_pages_exist(service, path):
    with service.client() as client:
        assert client.get(path).status_code == 404
        assert client.get("/accounts/login/").status_code == 200


def test_a_page_not_found_outside_the_api_stays_a_page(service):
    with service.client() as client:
        response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")


def test_huge_integers_are_refused_in_words(service, auth):
    with service.client() as client:
        points = client.post(
            "/api/issues/", json={"title": "x", "storyPoints": 10**30}, headers=auth
        )
        page = client.get("/api/issues/?page=99999999999999999999", headers=auth)
    assert points.status_code == 400
    assert "storyPoints" in points.json()
    assert page.status_code == 404
    assert page.json()["detail"] == "Invalid page."
    assert "Traceback" not in service.log_text()


@pytest.mark.parametrize("path", ["/api/ai/estimate-points-stream", "/api/ai/estimate-points"])
def test_a_wrong_method_is_a_405_in_json(service, auth, path):
    with service.client() as client:
        response = client.get(path, headers=auth)
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/json"
    assert "POST" in response.headers["allow"]
    assert response.json()["detail"] == 'Method "GET" not allowed.'
