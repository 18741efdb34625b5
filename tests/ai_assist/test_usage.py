"""What calls cost, the monthly token budget and its 429, and GET /api/ai/usage/."""

import json
import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.utils import timezone
from model_bakery import baker
from rest_framework.test import APIClient

from ai_assist import services, usage
from ai_assist.models import Suggestion, TokenBudget
from tests.ai_assist.sse_client import read_stream
from tests.ai_assist.suggestions import suggest

pytestmark = pytest.mark.django_db

BODY = {"issueId": "ISSUE-1", "issueType": "STORY", "currentDescription": "Log in with email."}
USAGE = '{"prompt_tokens": 1000, "completion_tokens": 2000, "total_tokens": 3000}'


def made(user: Any, *, at: datetime | None = None, **fields: Any) -> Suggestion:
    """A stored suggestion of `user`, created at `at` (default: now)."""
    suggestion = baker.make(Suggestion, user=user, **{"status": "completed", **fields})
    if at is not None:
        Suggestion.objects.filter(pk=suggestion.pk).update(created_at=at)
    return suggestion


# Cost


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-4o-mini", Decimal("0.00135")),  # 1,000 * 0.15 + 2,000 * 0.60, per million
        ("gpt-4o-mini-2024-07-18", Decimal("0.00135")),  # a snapshot: its family's price
        ("GPT-4o-Mini", Decimal("0.00135")),
        ("gpt-4o", Decimal("0.0225")),  # not gpt-4o-mini's price, nor gpt-4's
        ("gpt-4-0613", Decimal("0.15")),
        ("llama3:70b", None),  # unknown
        ("gpt-4o-mini-audio-preview", None),  # another model, whatever its prefix
    ],
)
def test_the_cost_of_a_call_by_its_model(model, expected):
    cost = usage.call_cost(
        provider="openai", model=model, prompt_tokens=1000, completion_tokens=2000
    )
    assert cost == expected


def test_offline_calls_cost_nothing_and_unknown_tokens_cost_unknown():
    assert usage.call_cost(
        provider="offline", model="offline", prompt_tokens=10, completion_tokens=10
    ) == Decimal(0)
    assert (
        usage.call_cost(
            provider="openai", model="gpt-4o", prompt_tokens=None, completion_tokens=None
        )
        is None
    )


def test_ai_prices_add_models_and_replace_prices(settings):
    settings.AI_PRICES = {"llama3:70b": [0, 0], "GPT-4o-mini": [1, 2.5]}
    assert usage.call_cost(
        provider="openai", model="llama3:70b", prompt_tokens=500, completion_tokens=500
    ) == Decimal(0)
    assert usage.call_cost(
        provider="openai", model="gpt-4o-mini-2024-07-18", prompt_tokens=10**6, completion_tokens=0
    ) == Decimal(1)
    assert usage.price_of("gpt-4o") == (Decimal("2.50"), Decimal("10.00"))  # the defaults stay


@pytest.mark.parametrize(
    "prices",
    [["gpt-4o", 1, 2], {"m": [1]}, {"m": [-1, 2]}, {"m": ["1", "2"]}, {"m": [True, 1]}],
)
def test_a_malformed_price_table_is_refused_with_its_format(settings, prices):
    settings.AI_PRICES = prices
    with pytest.raises(ImproperlyConfigured, match=r"AI_PRICES must be JSON like"):
        usage.prices()


def test_each_call_stores_its_cost_and_the_api_shows_it(transactional_db, service, fake, auth):
    fake.configure(model="gpt-4o-mini-2024-07-18", usage=USAGE)
    with service.client() as client:
        answer = client.post("/api/ai/estimate-points", json=BODY, headers=auth).json()
        shown = client.get(f"/api/ai/suggestions/{answer['suggestionId']}/", headers=auth).json()
    assert shown["model"] == "gpt-4o-mini-2024-07-18"
    assert shown["totalTokens"] == 3000
    assert shown["costUsd"] == 0.00135
    assert Suggestion.objects.get().cost_usd == Decimal("0.00135")

    fake.configure(model="my-local-model")  # no price known: null, not 0
    with service.client() as client:
        stream = read_stream(client, "/api/ai/refine-description-stream", BODY, headers=auth)
        suggestion_id = stream.value("metadata")["suggestionId"]
        shown = client.get(f"/api/ai/suggestions/{suggestion_id}/", headers=auth).json()
    assert shown["totalTokens"] > 0
    assert shown["costUsd"] is None


def test_a_price_from_the_environment_reaches_the_server(
    transactional_db, service_factory, fake, auth
):
    server = service_factory(AI_PRICES=json.dumps({"my-local-model": [2, 4]}))
    fake.configure(model="my-local-model", usage=USAGE)
    with server.client() as client:
        answer = client.post("/api/ai/breakdown-issue", json=BODY, headers=auth).json()
        shown = client.get(f"/api/ai/suggestions/{answer['suggestionId']}/", headers=auth).json()
    assert shown["costUsd"] == 0.01  # 1,000 * 2 + 2,000 * 4, per million


def test_offline_suggestions_cost_zero(user):
    suggestion = suggest(user, "refine", key="NEW-1", issueType="STORY", currentDescription="Go.")
    assert suggestion.total_tokens > 0
    assert suggestion.cost_usd == Decimal(0)


def test_admin_shows_the_cost(staff_user, user):
    suggestion = made(user, model="gpt-4o", cost_usd=Decimal("0.0225"), total_tokens=3000)
    made(user, model="my-local-model", cost_usd=None, total_tokens=10)
    client = Client()
    client.force_login(staff_user)
    listing = client.get("/admin/ai_assist/suggestion/").content.decode()
    assert "$0.0225" in listing
    assert "unknown" in listing
    page = client.get(f"/admin/ai_assist/suggestion/{suggestion.pk}/change/").content.decode()
    assert "$0.0225" in page


# The monthly budget


def test_the_month_and_the_wait_until_it_turns():
    assert usage.month_of(datetime(2026, 12, 31, 23, 59, 30, tzinfo=UTC)) == (
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )
    message, wait = usage.over_budget(
        used=1234, budget=1000, now=datetime(2026, 12, 31, 23, 59, 30, tzinfo=UTC)
    )
    assert wait == 30
    assert message == (
        "Your monthly budget of 1,000 AI tokens is used up (1,234 used in December 2026); it "
        "renews on 1 January 2027 at 00:00 UTC."
    )
    _, wait = usage.over_budget(used=1, budget=0, now=datetime(2026, 2, 1, 0, 0, 0, 1, tzinfo=UTC))
    assert wait == math.ceil(28 * 86400 - 0.000001)  # February 2026 has 28 days


def start(user: Any) -> Suggestion:
    return services.suggestion_start(user=user, kind="estimate", data=BODY)


def test_no_budget_no_limit(settings, user):
    settings.AI_MONTHLY_TOKEN_BUDGET = None
    made(user, total_tokens=10**9)
    assert start(user).pk


def test_a_call_that_would_start_past_the_budget_is_refused(settings, user, other_user):
    settings.AI_MONTHLY_TOKEN_BUDGET = 1000
    made(user, total_tokens=600)
    made(user, total_tokens=399)
    made(user, total_tokens=None, status="cancelled")  # its tokens never came: nothing counted
    assert start(user).pk  # 999: under the budget, so the call starts

    made(user, total_tokens=1)  # 1,000: the budget is spent
    with pytest.raises(services.TooManyCalls) as refused:
        start(user)
    assert "monthly budget of 1,000 AI tokens is used up (1,000 used in" in refused.value.message
    _, month_end = usage.month_of(timezone.now())
    expected = (month_end - timezone.now()).total_seconds()
    assert abs(refused.value.retry_after - expected) <= 2
    assert Suggestion.objects.filter(user=user).count() == 5  # nothing stored when refused

    assert start(other_user).pk  # the budget is each user's own


def test_the_budget_counts_only_this_month_so_it_resets_when_the_month_turns(settings, user):
    settings.AI_MONTHLY_TOKEN_BUDGET = 1000
    month_start, _ = usage.month_of(timezone.now())
    made(user, total_tokens=5000, at=month_start - timedelta(microseconds=1))  # last month
    assert start(user).pk
    made(user, total_tokens=1000, at=month_start)  # the month's first instant counts
    with pytest.raises(services.TooManyCalls):
        start(user)


def test_staff_override_the_default_per_user(settings, user):
    settings.AI_MONTHLY_TOKEN_BUDGET = 1000
    made(user, total_tokens=1500)
    with pytest.raises(services.TooManyCalls):
        start(user)

    own = TokenBudget.objects.create(user=user, monthly_tokens=2000)  # more than the default
    assert start(user).pk

    own.monthly_tokens = None  # none: no limit for this user, whatever the default
    own.save()
    made(user, total_tokens=10**6)
    assert start(user).pk

    own.monthly_tokens = 0  # AI calls off for this user
    own.save()
    settings.AI_MONTHLY_TOKEN_BUDGET = None
    with pytest.raises(services.TooManyCalls, match="budget of 0 AI tokens"):
        start(user)

    own.delete()  # back to the default: none now
    assert start(user).pk


def test_the_budgets_429_over_http(transactional_db, service_factory, auth, user):
    server = service_factory(AI_MONTHLY_TOKEN_BUDGET="1000")
    made(user, total_tokens=1000)
    with server.client() as client:
        plain = client.post("/api/ai/estimate-points", json=BODY, headers=auth)
        stream = read_stream(client, "/api/ai/estimate-points-stream", BODY, headers=auth)
    _, month_end = usage.month_of(timezone.now())
    for status, headers, body in [
        (plain.status_code, plain.headers, plain.json()),
        (stream.status, stream.headers, stream.body),
    ]:
        assert status == 429
        assert headers["content-type"] == "application/json"
        wait = int(headers["retry-after"])
        assert abs(wait - (month_end - timezone.now()).total_seconds()) <= 5
        assert body["detail"].startswith("Your monthly budget of 1,000 AI tokens is used up")
        assert body["detail"].endswith("at 00:00 UTC.")  # no "in 2,678,400 seconds" after it
    assert Suggestion.objects.count() == 1


def test_the_admin_edits_a_users_budget(staff_user, user):
    client = Client()
    client.force_login(staff_user)
    response = client.post(
        "/admin/ai_assist/tokenbudget/add/", {"user": user.pk, "monthly_tokens": "50000"}
    )
    assert response.status_code == 302
    assert TokenBudget.objects.get(user=user).monthly_tokens == 50000
    made(user, total_tokens=1234, cost_usd=Decimal("0.01"))
    listing = client.get("/admin/ai_assist/tokenbudget/").content.decode()
    assert "50,000" in listing
    assert "1,234 tokens, $0.0100" in listing


# GET /api/ai/usage/


def test_the_usage_endpoint_tells_the_caller_their_month(settings, user, other_user):
    settings.AI_MONTHLY_TOKEN_BUDGET = 10_000
    month_start, month_end = usage.month_of(timezone.now())
    made(user, kind="refine", total_tokens=1000, cost_usd=Decimal("0.001"))
    made(user, kind="refine", total_tokens=500, cost_usd=Decimal("0.0005"))
    made(user, kind="breakdown", total_tokens=250, cost_usd=None, model="my-local-model")
    made(user, kind="estimate", total_tokens=None, status="failed")
    made(user, kind="estimate", total_tokens=9999, at=month_start - timedelta(seconds=1))
    made(other_user, kind="estimate", total_tokens=7777, cost_usd=Decimal("1"))

    client = APIClient()
    client.force_authenticate(user)
    answer = client.get("/api/ai/usage/").json()
    assert answer == {
        "periodStart": month_start.isoformat().replace("+00:00", "Z"),
        "periodEnd": month_end.isoformat().replace("+00:00", "Z"),
        "tokens": 1750,
        "costUsd": 0.0015,
        "unpricedCalls": 1,
        "budget": 10_000,
        "remaining": 8250,
        "calls": {"refine": 2, "estimate": 1, "breakdown": 1},
    }

    client.force_authenticate(other_user)  # no one sees another's: their own month only
    other = client.get("/api/ai/usage/").json()
    assert (other["tokens"], other["costUsd"], other["remaining"]) == (7777, 1.0, 2223)
    assert other["calls"] == {"refine": 0, "estimate": 1, "breakdown": 0}


def test_the_usage_endpoint_without_a_budget_and_for_staff(settings, staff_user, user):
    settings.AI_MONTHLY_TOKEN_BUDGET = None
    made(user, total_tokens=100)
    client = APIClient()
    client.force_authenticate(staff_user)  # staff too see only their own usage here
    answer = client.get("/api/ai/usage/").json()
    assert (answer["tokens"], answer["budget"], answer["remaining"]) == (0, None, None)
    TokenBudget.objects.create(user=staff_user, monthly_tokens=50)
    assert client.get("/api/ai/usage/").json()["remaining"] == 50


def test_the_usage_endpoint_needs_a_user(transactional_db, service):
    with service.client() as client:
        response = client.get("/api/ai/usage/")
    assert response.status_code == 401
    assert response.json()["detail"]
