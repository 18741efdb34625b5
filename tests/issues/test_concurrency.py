"""Writes of issues at the same instant, from two server processes (real races on PostgreSQL)."""

import threading
from collections.abc import Callable
from typing import Any

import pytest
from model_bakery import baker

from issues.models import Issue, parent_chain

pytestmark = pytest.mark.django_db(transaction=True)


def at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls in threads released together; return their results in order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        results[index] = calls[index]()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


@pytest.fixture
def servers(service_factory: Any) -> list[Any]:
    return [service_factory(), service_factory(instance=1)]


def test_creates_at_the_same_instant_take_different_keys(servers, auth):
    def create(server: Any, n: int) -> Callable[[], Any]:
        def call() -> Any:
            with server.client() as client:
                return client.post("/api/issues/", json={"title": f"Issue {n}"}, headers=auth)

        return call

    for _ in range(3):  # rounds of eight creates at once, four per process
        responses = at_once([create(servers[n % 2], n) for n in range(8)])
        assert [response.status_code for response in responses] == [201] * 8, [
            response.text for response in responses
        ]
    keys = sorted(Issue.objects.values_list("key", flat=True), key=lambda key: int(key[6:]))
    assert keys == [f"ISSUE-{n}" for n in range(1, 25)]


def test_the_same_new_key_at_once_is_one_create_and_one_clear_refusal(servers, auth):
    def create(server: Any) -> Callable[[], Any]:
        def call() -> Any:
            with server.client() as client:
                body = {"key": "SHOP-7", "title": "Mine"}
                return client.post("/api/issues/", json=body, headers=auth)

        return call

    for round in range(3):
        Issue.objects.filter(key="SHOP-7").delete()
        responses = at_once([create(server) for server in servers * 2])
        statuses = sorted(response.status_code for response in responses)
        assert statuses == [201, 400, 400, 400], round
        refusals = [response.json() for response in responses if response.status_code == 400]
        assert all("already exists" in body["key"][0] for body in refusals)


def test_two_parent_changes_at_once_cannot_make_a_cycle(servers, auth):
    for round in range(5):
        Issue.objects.all().delete()
        first = baker.make(Issue, key="ISSUE-1")
        second = baker.make(Issue, key="ISSUE-2")

        def parent(server: Any, key: str, parent_key: str) -> Callable[[], Any]:
            def call() -> Any:
                with server.client() as client:
                    body = {"parent": parent_key}
                    return client.patch(f"/api/issues/{key}/", json=body, headers=auth)

            return call

        responses = at_once(
            [parent(servers[0], "ISSUE-1", "ISSUE-2"), parent(servers[1], "ISSUE-2", "ISSUE-1")]
        )
        assert sorted(response.status_code for response in responses) == [200, 400], round
        # Whichever won, the chain up from each issue ends.
        assert len(parent_chain(first.pk)) + len(parent_chain(second.pk)) == 3
