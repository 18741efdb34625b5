"""A small fault soak over real HTTP: every stored suggestion is true to what its client saw."""

import asyncio
import time
from urllib.parse import urlsplit

import pytest

from ai_assist.models import Suggestion
from bench import soak

pytestmark = pytest.mark.django_db(transaction=True)


def test_faults_under_concurrency_leave_every_suggestion_true(service_factory, token, fake):
    # As bin/bench --soak runs it: a client that leaves ends its call at once.
    service = service_factory(AI_DEADLINE=str(soak.DEADLINE), AI_DETACH_GRACE="0")
    calls = soak.plan(48, seed=7, share=0.15, stalls=0.05)
    assert {call.fault for call in calls} == set(soak.FAULTS)  # each fault, and plain calls
    port = urlsplit(service.url).port

    deadline = time.monotonic() + 60
    outcomes = asyncio.run(soak.run(port, calls, [token], concurrency=12, deadline=deadline))

    rows = list(Suggestion.objects.values("id", "status", "text", "error", "request"))
    problems, ends = soak.check(calls, outcomes, rows)
    assert problems == []
    assert not Suggestion.objects.filter(status=Suggestion.Status.STREAMING).exists()
    seen = {(fault, saw) for fault, saw, _ in ends}
    assert {("500", "failed"), ("cut", "failed"), ("leave", "left"), ("none", "completed")} <= seen
    assert ("stall", "failed") in {(fault, status) for fault, _, status in ends}
