"""What AI calls cost, and how much of their monthly token budget users have spent."""

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.db.models import Count, Q, Sum
from django.utils import timezone

from ai_assist.models import Suggestion, TokenBudget
from config.sql import column, table

# USD per million tokens, (input, output): OpenAI's list prices in early 2026 (standard tier,
# without cached-input discounts). AI_PRICES adds to them or replaces them, model by model.
DEFAULT_PRICES: dict[str, tuple[str, str]] = {
    "gpt-5": ("1.25", "10.00"),
    "gpt-5.1": ("1.25", "10.00"),
    "gpt-5-mini": ("0.25", "2.00"),
    "gpt-5-nano": ("0.05", "0.40"),
    "gpt-4.1": ("2.00", "8.00"),
    "gpt-4.1-mini": ("0.40", "1.60"),
    "gpt-4.1-nano": ("0.10", "0.40"),
    "gpt-4o": ("2.50", "10.00"),
    "gpt-4o-mini": ("0.15", "0.60"),
    "o1": ("15.00", "60.00"),
    "o3": ("2.00", "8.00"),
    "o3-mini": ("1.10", "4.40"),
    "o4-mini": ("1.10", "4.40"),
    "gpt-4-turbo": ("10.00", "30.00"),
    "gpt-4": ("30.00", "60.00"),
    "gpt-3.5-turbo": ("0.50", "1.50"),
}
MILLION = Decimal(1_000_000)
COST_PLACES = Decimal("1e-10")  # Suggestion.cost_usd's decimal places

# A snapshot's suffix, as upstreams report the model: gpt-4o-mini-2024-07-18, gpt-4-0613.
_SNAPSHOT = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{4})$")


def model_family(model: str) -> str:
    """Return a model's name as the price table and the calibration know it: lower case,
    without a snapshot's date (gpt-4o-mini-2024-07-18 is gpt-4o-mini)."""
    return _SNAPSHOT.sub("", model.strip().lower())


def prices() -> dict[str, tuple[Decimal, Decimal]]:
    """Return the price table: the defaults with AI_PRICES over them, by model family.

    Raise ImproperlyConfigured when AI_PRICES is not `{"model": [input, output], ...}` with
    prices in USD per million tokens, zero or more.
    """
    configured = settings.AI_PRICES
    if not isinstance(configured, dict):
        raise ImproperlyConfigured(_PRICES_FORMAT)
    table = {name: (Decimal(i), Decimal(o)) for name, (i, o) in DEFAULT_PRICES.items()}
    for name, price in configured.items():
        if not (
            isinstance(price, list | tuple)
            and len(price) == 2
            and all(_is_price(value) for value in price)
        ):
            raise ImproperlyConfigured(f"{_PRICES_FORMAT} {name!r} has {price!r}.")
        table[model_family(name)] = (Decimal(str(price[0])), Decimal(str(price[1])))
    return table


_PRICES_FORMAT = (
    'AI_PRICES must be JSON like {"my-model": [0.15, 0.60]}: per model, USD per million input '
    "and output tokens."
)


def _is_price(value: Any) -> bool:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return number and math.isfinite(value) and value >= 0


def price_of(model: str) -> tuple[Decimal, Decimal] | None:
    """Return a model's (input, output) price per million tokens, or None if unknown."""
    table = prices()
    name = model.strip().lower()
    return table.get(name) or table.get(model_family(name))


def call_cost(
    *, provider: str, model: str, prompt_tokens: int | None, completion_tokens: int | None
) -> Decimal | None:
    """Return what a call cost in USD: 0 offline; None when its tokens or price are unknown."""
    if provider == "offline":
        return Decimal(0)
    price = price_of(model)
    if price is None or prompt_tokens is None or completion_tokens is None:
        return None
    cost = (prompt_tokens * price[0] + completion_tokens * price[1]) / MILLION
    return cost.quantize(COST_PLACES)


def month_of(now: datetime) -> tuple[datetime, datetime]:
    """Return the calendar month (UTC) around `now`: its first instant and the next month's."""
    start = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start, end


def budget_of(own: Any) -> int | None:
    """Return the budget that applies given a user's own (a TokenBudget, or None: no row)."""
    if own is None:
        return settings.AI_MONTHLY_TOKEN_BUDGET
    return own.monthly_tokens


@cache
def own_budget_sql() -> str:
    """A user's own budget in one value, for the limits' raw query: NULL when they have no
    TokenBudget row (the default applies), -1 for a row without tokens (no limit)."""
    tokens, user = column(TokenBudget, "monthly_tokens"), column(TokenBudget, "user")
    return f"(SELECT COALESCE({tokens}, -1) FROM {table(TokenBudget)} WHERE {user} = %s)"  # noqa: S608


def budget_from_sql(own: int | None) -> int | None:
    """Return the budget that applies given own_budget_sql()'s value."""
    if own is None:
        return settings.AI_MONTHLY_TOKEN_BUDGET
    return None if own < 0 else own


def month_tokens(*, user: Any, since: datetime) -> int:
    """Return the tokens of the user's calls made since `since` (raw SQL: it runs in the
    limits' check of every call under a budget, where the ORM would compile it anew)."""
    names = ("total_tokens", "user", "created_at")
    tokens, owner, created = (column(Suggestion, name) for name in names)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COALESCE(SUM({tokens}), 0) FROM {table(Suggestion)}"  # noqa: S608
            f" WHERE {owner} = %s AND {created} >= %s",
            [user.pk, connection.ops.adapt_datetimefield_value(since)],
        )
        return int(cursor.fetchone()[0])


def over_budget(*, used: int, budget: int, now: datetime) -> tuple[str, int]:
    """Return the refusal's message and its Retry-After: the seconds to the month's turn."""
    start, end = month_of(now)
    message = (
        f"Your monthly budget of {budget:,} AI tokens is used up ({used:,} used in "
        f"{start:%B %Y}); it renews on {end.day} {end:%B %Y} at 00:00 UTC."
    )
    return message, max(1, math.ceil((end - now).total_seconds()))


@dataclass(frozen=True)
class MonthUsage:
    """A user's calendar month (UTC) so far: the usage endpoint's answer."""

    period_start: datetime
    period_end: datetime
    tokens: int
    cost_usd: Decimal
    unpriced_calls: int  # calls with tokens but no known price: not in cost_usd
    budget: int | None
    remaining: int | None
    calls: dict[str, int] = field(default_factory=dict)


def month_usage(*, user: Any, now: datetime | None = None) -> MonthUsage:
    """Return the user's usage in the calendar month (UTC) of `now`."""
    start, end = month_of(now or timezone.now())
    mine = Suggestion.objects.filter(user=user, created_at__gte=start, created_at__lt=end)
    totals = mine.aggregate(
        tokens=Sum("total_tokens"),
        cost=Sum("cost_usd"),
        unpriced=Count("id", filter=Q(cost_usd__isnull=True, total_tokens__isnull=False)),
    )
    calls = dict.fromkeys(Suggestion.Kind.values, 0)
    for row in mine.order_by().values("kind").annotate(n=Count("id")):
        calls[row["kind"]] = row["n"]
    tokens = totals["tokens"] or 0
    budget = budget_of(TokenBudget.objects.filter(user=user).first())
    return MonthUsage(
        period_start=start,
        period_end=end,
        tokens=tokens,
        cost_usd=(totals["cost"] or Decimal(0)).quantize(COST_PLACES),
        unpriced_calls=totals["unpriced"],
        budget=budget,
        remaining=None if budget is None else max(0, budget - tokens),
        calls=calls,
    )


def usd(amount: Decimal | float | None) -> str:
    """Format an amount for a person: $12.34, or more decimals for small ones ($0.0042)."""
    if amount is None:
        return "unknown"
    amount = Decimal(amount)
    if amount == 0:
        return "$0"
    if abs(amount) >= 1:
        return f"${amount:,.2f}"
    return f"${amount:.2g}" if abs(amount) < Decimal("0.0001") else f"${amount:.4f}"
