"""Histories of reviewed suggestions for the figures' tests: small ones with known answers, and
a synthetic one with a known skew (accepted with probability raw²), as issue 17's review with
edits and undo will store them (`applied`, `edited`, `reverted`)."""

import random
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone
from model_bakery import baker

from ai_assist import usage
from ai_assist.models import Suggestion

SENTENCE = "users export the order list as a csv file with the filters applied and a header"


def result_of(kind: str, *, points: int = 5, text: str = "", subtasks: int = 3) -> dict[str, Any]:
    if kind == "refine":
        return {"refinedDescription": text or SENTENCE, "improvements": ["Clearer."]}
    if kind == "estimate":
        return {"storyPoints": points}
    tasks = [
        {"title": f"Part {i}", "description": f"Do part {i}.", "storyPoints": 2}
        for i in range(1, subtasks + 1)
    ]
    return {"subtasks": tasks, "totalPoints": 2 * subtasks, "complexity": "low"}


def made(
    *,
    kind: str,
    user: Any = None,
    model: str = "gpt-4o-mini-2024-07-18",
    review: str = "pending",
    raw: float = 0.8,
    days_ago: float = 1,
    result: dict[str, Any] | None = None,
    applied: dict[str, Any] | None = None,
    edited: bool | None = None,
    tokens: int | None = 1000,
    status: str = "completed",
) -> Suggestion:
    """One suggestion as the service stores it, created `days_ago` days ago."""
    created = timezone.now() - timedelta(days=days_ago)
    suggestion = baker.make(
        Suggestion,
        kind=kind,
        user=user,
        provider="offline" if model == "offline" else "openai",
        model=model,
        status=status,
        result=result if result is not None else result_of(kind),
        confidence=raw,
        raw_confidence=raw,
        review_status=review,
        reviewed_at=created if review != "pending" else None,
        applied=applied,
        edited=edited,
        prompt_tokens=None if tokens is None else tokens // 2,
        completion_tokens=None if tokens is None else tokens - tokens // 2,
        total_tokens=tokens,
        cost_usd=None
        if tokens is None
        else usage.call_cost(
            provider="offline" if model == "offline" else "openai",
            model=model,
            prompt_tokens=tokens // 2,
            completion_tokens=tokens - tokens // 2,
        ),
    )
    Suggestion.objects.filter(pk=suggestion.pk).update(created_at=created)
    return suggestion


def synthetic(users: list[Any], *, count: int = 400, days: int = 28, seed: int = 19) -> None:
    """A month of reviewed suggestions: accepted with probability raw² (an overconfident
    scorer), some reverted, some edited first, estimates applied a little off."""
    rng = random.Random(seed)
    for _ in range(count):
        kind = rng.choice(["refine", "estimate", "breakdown"])
        raw = round(rng.uniform(0.3, 1.0), 2)
        accepted = rng.random() < raw * raw
        review = "accepted" if accepted else rng.choice(["rejected"] * 4 + ["reverted"])
        result = result_of(kind, points=rng.choice([2, 3, 5, 8]))
        applied, edited = None, None
        if accepted and rng.random() < 0.3:
            edited = True
            if kind == "refine":
                words = result["refinedDescription"].split()
                applied = {"refinedDescription": " ".join(words[: rng.randint(5, len(words))])}
            elif kind == "estimate":
                applied = {"storyPoints": result["storyPoints"] + rng.choice([-1, 1, 2, 3])}
            else:
                tasks = [dict(t) for t in result["subtasks"]]
                tasks[0]["title"] = "Part one, renamed"
                applied = {"subtasks": tasks}
        elif accepted:
            edited = False
        made(
            kind=kind,
            user=rng.choice(users),
            model=rng.choice(["gpt-4o-mini-2024-07-18", "gpt-4o-mini-2024-07-18", "gpt-4o"]),
            review=review,
            raw=raw,
            days_ago=rng.uniform(0.01, days),
            result=result,
            applied=applied,
            edited=edited,
            tokens=rng.randint(800, 4000),
        )


def price(model: str, tokens: int) -> Decimal:
    cost = usage.call_cost(
        provider="openai",
        model=model,
        prompt_tokens=tokens // 2,
        completion_tokens=tokens - tokens // 2,
    )
    assert cost is not None
    return cost
