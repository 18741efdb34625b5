"""The raw SQL that leaves the ORM, with a swapped user model and our tables renamed.

Run under tests/swapped/settings.py, without migrations (tests/config/test_swapped.py runs
them so): AUTH_USER_MODEL is swapped.Member (table "people", primary key "member_no", "active"
for is_active), and the issue, suggestion, budget and token tables and some of their
columns have names Django did not choose (tests/swapped/apps.py).
"""

from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token

from ai_assist import live, selectors, services
from ai_assist.models import Suggestion, TokenBudget
from issues.models import Issue
from tests.ai_assist.sse_client import read_stream
from tests.ai_assist.suggestions import suggest

pytestmark = [
    pytest.mark.skipif(
        settings.AUTH_USER_MODEL != "swapped.Member",
        reason="runs under tests/swapped/settings.py (tests/config/test_swapped.py)",
    ),
    pytest.mark.django_db(transaction=True),
]

BODY = {"issueId": "SHOP-1"}


@pytest.fixture
def member(db: None) -> Any:
    return get_user_model().objects.create_user("mina", password="a long password")


@pytest.fixture
def headers(member: Any) -> dict[str, str]:
    return {"Authorization": f"Token {Token.objects.create(user=member).key}"}


@pytest.fixture(autouse=True)
def issue(db: None) -> Issue:
    return Issue.objects.create(key="SHOP-1", title="Pay by invoice", description="Invoices.")


def test_the_names_are_not_djangos():
    """What the other tests rest on: the database holds the renamed tables, not the usual."""
    tables = set(connection.introspection.table_names())
    assert {"people", "tracker_issue", "ai_suggestions", "ai_budgets", "api_keys"} <= tables
    assert not tables & {"auth_user", "issues_issue", "ai_assist_suggestion", "authtoken_token"}
    with connection.cursor() as cursor:
        columns = {c.name for c in connection.introspection.get_table_description(cursor, "people")}
    assert {"member_no", "active"} <= columns and "id" not in columns


def test_token_authentication(member, headers):
    client = Client()

    ok = client.get("/api/issues/", headers=headers)
    wrong = client.get("/api/issues/", headers={"Authorization": "Token not-a-key"})
    member.is_active = False
    member.save()
    inactive = client.get("/api/issues/", headers=headers)

    assert ok.status_code == 200 and ok.json()["results"][0]["key"] == "SHOP-1"
    assert (wrong.status_code, wrong.json()["detail"]) == (401, "Invalid token.")
    assert (inactive.status_code, inactive.json()["detail"]) == (401, "User inactive or deleted.")


def test_issue_get(issue):
    assert selectors.issue_get(key="SHOP-1") == issue
    assert selectors.issue_get(key="SHOP-2") is None


def test_calls_are_stored_and_counted_against_the_limits(member, settings):
    settings.AI_RATE_LIMIT = "2/minute"

    made = [suggest(member, "refine", key="SHOP-1") for _ in range(2)]
    with pytest.raises(services.TooManyCalls, match="You made 2 AI calls in the last minute"):
        services.suggestion_start(user=member, kind="refine", data=BODY)

    stored = [(s.user, s.issue.key, s.total_tokens > 0) for s in made]
    assert stored == [(member, "SHOP-1", True)] * 2
    assert Suggestion.objects.count() == 2  # the refused call stored nothing


def test_running_calls_and_the_budget_are_counted(member, settings):
    settings.AI_MAX_CONCURRENT_STREAMS = 1
    Suggestion.objects.create(user=member, issue_key="SHOP-1", kind="refine", status="streaming")
    with pytest.raises(services.TooManyCalls, match="running"):
        services.user_check_limits(user=member)

    Suggestion.objects.update(status="completed", total_tokens=500)
    TokenBudget.objects.create(user=member, monthly_tokens=400)
    with pytest.raises(services.TooManyCalls, match="budget"):
        services.user_check_limits(user=member)

    Suggestion.objects.update(created_at=timezone.now() - timedelta(days=40))
    services.user_check_limits(user=member)  # last month's tokens and calls do not count


def test_a_followed_call_is_written_polled_and_stopped(member):
    """live.py's tick: its raw statements write, read and poll the renamed columns."""
    call = Suggestion.objects.create(
        user=member,
        issue_key="SHOP-1",
        kind="refine",
        status="streaming",
        worker=live.WORKER_ID,
        followed_until=timezone.now() + timedelta(minutes=1),
    )

    flags, changes = live._exchange(mine=True, writes={call.pk: "Pay by"}, renew=[], poll={})
    assert flags == [(call.pk, False)] and changes == []
    flags, changes = live._exchange(mine=False, writes={}, renew=[], poll={call.pk: 3})
    assert changes == [(call.pk, "streaming", " by", None)]

    Suggestion.objects.filter(pk=call.pk).update(
        cancel_requested=True, followed_until=timezone.now() - timedelta(minutes=1)
    )
    assert live._exchange(mine=True, writes={}, renew=[], poll={})[0] == [(call.pk, True)]
    Suggestion.objects.filter(pk=call.pk).update(status="cancelled")
    [(pk, status, tail, row)] = live._exchange(mine=False, writes={}, renew=[], poll={call.pk: 6})[
        1
    ]
    assert (pk, status, tail, row.text) == (call.pk, "cancelled", "", "Pay by")


def test_a_stream_over_http_is_authenticated_stored_and_limited(
    service_factory, fake, member, headers
):
    server = service_factory(AI_RATE_LIMIT="1/minute")

    with server.client() as client:
        first = read_stream(client, "/api/ai/refine-description-stream", BODY, headers=headers)
        second = read_stream(client, "/api/ai/refine-description-stream", BODY, headers=headers)

    assert first.status == 200 and first.types[-1] == "metadata"
    assert second.status == 429
    stored = Suggestion.objects.get()
    assert (stored.user, stored.issue, stored.status) == (member, Issue.objects.get(), "completed")
