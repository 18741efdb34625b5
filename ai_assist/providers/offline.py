"""The offline provider: a deterministic engine that needs no key and no network.

It reads the issue's context the way a careful teammate would and writes its answer in the
same shape as a model (prose, then a JSON block), streamed word by word, so that everything
after the provider runs exactly as it does with a real model.
"""

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

from django.conf import settings

from ai_assist import planning, reading
from ai_assist.estimating import Estimate, estimate
from ai_assist.prompts import SCALE
from ai_assist.providers.base import Completion, Prompt, Provider

MODEL = "offline"
_WORD = re.compile(r"\S+\s*|\s+")

# Words that widen an issue's scope, each with the kind of work it brings.
AREAS = {
    "ui": ("page", "screen", "button", "form", "ui", "frontend", "css", "layout", "modal"),
    "api": ("api", "endpoint", "rest", "webhook", "request", "response", "json"),
    "data": ("database", "migration", "model", "schema", "table", "query", "index", "sql"),
    "auth": ("login", "auth", "password", "token", "permission", "role", "sso", "oauth"),
    "integration": ("integration", "third-party", "external", "sync", "import", "export"),
    "performance": ("performance", "slow", "fast", "latency", "cache", "scale", "load"),
    "security": ("security", "encrypt", "secret", "vulnerability", "xss", "csrf", "injection"),
}


class OfflineProvider(Provider):
    name = "offline"

    def model_name(self) -> str:
        return MODEL

    async def stream(self, prompt: Prompt, completion: Completion) -> AsyncIterator[str]:
        # Reading the text is CPU work: in a thread, so that other requests go on meanwhile.
        answer = await asyncio.to_thread(ANSWERS[prompt.kind], prompt.context)
        words = _WORD.findall(answer)
        completion.usage = {
            "prompt_tokens": sum(len(m["content"]) for m in prompt.messages) // 4,
            "completion_tokens": len(words),
            "total_tokens": 0,
        }
        completion.usage["total_tokens"] = sum(completion.usage.values())
        # Paced like a model on the wire, so that the page shows the answer grow: a word every
        # AI_OFFLINE_DELAY, and a reader that comes back late gets all that came meanwhile.
        delay, loop = settings.AI_OFFLINE_DELAY, asyncio.get_running_loop()
        started, sent = loop.time(), 0
        while sent < len(words):
            await asyncio.sleep(started + (sent + 1) * delay - loop.time())
            due = int((loop.time() - started) / delay) if delay else sent + 1
            due = min(max(due, sent + 1), len(words))
            yield "".join(words[sent:due])
            sent = due


def _scope(context: dict[str, Any]) -> tuple[int, list[str]]:
    """Rate an issue's scope from 0 up, and name the areas of work it touches."""
    text = f"{context.get('title', '')} {context.get('description', '')}".lower()
    words = set(re.findall(r"[a-z][a-z-]+", text))
    areas = [area for area, keys in AREAS.items() if words & set(keys)]
    bullets = len(re.findall(r"^\s*(?:[-*+]|\d+[.)])\s", context.get("description", ""), re.M))
    size = len(text.split())
    score = len(areas) * 2 + min(bullets, 6) + (size > 60) + (size > 150) * 2
    score += {"EPIC": 6, "STORY": 1, "BUG": 1, "TASK": 0, "SUBTASK": -1}.get(context["type"], 0)
    return max(score, 0), areas


def _points_for(score: int) -> int:
    return SCALE[min(score // 2, len(SCALE) - 1)]


def _sentences(text: str) -> list[str]:
    lines = [line.strip(" -*#\t") for line in text.splitlines()]
    parts = [part.strip() for line in lines for part in re.split(r"(?<=[.!?])\s+", line)]
    return [part.rstrip(".") for part in parts if len(part.split()) >= 3]


def _refine(context: dict[str, Any]) -> str:
    bug = context["type"] == "BUG"
    description = context.get("description") or ""
    text = reading.read(description or context.get("title") or "", bug=bug)
    parent = context.get("parent")
    if parent and parent.get("key") and parent["key"] not in description:
        line = f"Part of the epic {parent['key']}: {parent.get('title') or parent['key']}."
        text.parts.append(reading.Part(line, "goal"))
    refined = text.markdown(bug=bug).strip()
    changed = " ".join(refined.split()) != " ".join(description.split())
    note = "_Offline refinement: a rule-based reading of the text, not an AI model._"
    data = {
        "improvements": text.changes(bug=bug) if changed else [],
        # The share of sentences it could place, from 0.2 to 0.6: below a good model's.
        "confidence": round(0.2 + 0.4 * text.understood, 2),
        "note": note,  # parsing leaves it out of the description to apply
    }
    return _answer(f"{refined}\n\n{note}", data)


def _estimate(context: dict[str, Any]) -> str:
    """Estimate from the team's history when it has some (ai_assist/estimating.py), else from
    the issue's scope on the default scale; never below its children's total."""
    scale = context.get("scale") or list(SCALE)
    grounded = estimate(context)
    if grounded is not None:
        points, confidence = grounded.points, grounded.confidence
        text = _from_history(grounded, context)
    else:
        score, areas = _scope(context)
        points, confidence = _points_for(score), RULES_CONFIDENCE
        drivers = ", ".join(areas) if areas else "a narrow, well-understood change"
        text = (
            f"This {context['type'].lower()} touches {drivers}. "
            f"Its description gives {len(_sentences(context.get('description', '')))} concrete "
            "requirements, which sets how much has to be built and tested. The project has no "
            "estimated issues yet, so this reads the issue alone.\n\n"
        )
    children = [child["storyPoints"] or 0 for child in context.get("children", [])]
    too_large = False
    if total := sum(children):
        text += f"Its children already add up to {total} points.\n\n"
        # The whole is at least its parts: the smallest step that holds their total.
        points = max(points, next((step for step in scale if step >= total), scale[-1]))
        too_large = total > scale[-1]
    elif grounded is None:
        too_large = _scope(context)[0] // 2 >= len(SCALE)  # past the largest rule
    if too_large:
        text += (
            f"**Too large for one estimate:** it is more than the largest step of the scale "
            f"({scale[-1]}). Break it down into smaller issues and estimate those.\n\n"
        )
    source = "the team's history" if grounded is not None else "keywords of the issue"
    text += (
        f"**Estimate: {points} story points**\n\n"
        f"_From the offline engine: rules applied to {source}, not a model's judgement._"
    )
    return _answer(text, {"storyPoints": points, "confidence": confidence, "engine": "offline"})


RULES_CONFIDENCE = 0.3  # a keyword reading, with no history to check it against


def _from_history(grounded: Estimate, context: dict[str, Any]) -> str:
    """Say what a history-grounded estimate rests on, for a person."""
    counts = context.get("pointCounts") or []
    issues = sum(n for _, n in counts)
    text = f"The team's median over its {issues} estimated issues is {grounded.team_median}."
    if grounded.leaned_on:
        like = ", ".join(
            f"{item['key']} ({item['storyPoints']} points, {item['similarity']:.0%} similar)"
            for item in grounded.leaned_on
        )
        text += f" The most similar past issues: {like}."
        if grounded.points != grounded.team_median:
            text += " They agree closely enough to move the estimate off the median."
        else:
            text += " They do not pull it off the median."
    else:
        text += " No past issue is close enough to this one to move the estimate off it."
    return text + "\n\n"


def _breakdown(context: dict[str, Any]) -> str:
    work = planning.plan(context)
    subtasks = [
        {"title": item.title, "description": item.description, "storyPoints": item.points}
        for item in work.todo
    ]
    total = sum(item.points for item in work.todo)
    complexity = "low" if total <= 8 else "medium" if total <= 21 else "high"
    data = {"subtasks": subtasks, "complexity": complexity, "confidence": work.confidence}
    return _answer(work.overview(), data)


def _answer(prose: str, data: dict[str, Any]) -> str:
    # "engine" tells parsing that the confidence is this engine's own figure (see parsing.py).
    data = data | {"engine": MODEL}
    return f"{prose}\n\n```json\n{json.dumps(data, indent=1)}\n```\n"


ANSWERS = {"refine": _refine, "estimate": _estimate, "breakdown": _breakdown}
