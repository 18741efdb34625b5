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
    the work the text names, sized as its breakdown would size it (ai_assist/planning.py), so
    that the two agree; never below the issue's children's total.
    """
    scale = context.get("scale") or list(SCALE)
    grounded = estimate(context)
    if grounded is not None:
        points, confidence = grounded.points, grounded.confidence
        text, total = _from_history(grounded, context), 0
    else:
        work = planning.plan(context)
        total = sum(item.points for item in work.todo)
        points = _step(total, scale)
        # A size read off the text alone, with nothing to check it against: less sure than the
        # breakdown it comes from.
        confidence = min(work.confidence, NO_HISTORY_MOST)
        text = _from_reading(work, total)
    children = sum(child["storyPoints"] or 0 for child in context.get("children", []))
    if children:
        text += f"Its children already add up to {children} points.\n\n"
        points = max(points, _step(children, scale))  # the whole is at least its parts
    if max(total, children) > scale[-1]:
        text += (
            f"**Too large for one estimate:** it is more than the largest step of the scale "
            f"({scale[-1]}). Break it down into smaller issues and estimate those.\n\n"
        )
    source = "the team's history" if grounded is not None else "the work its text names"
    text += (
        f"**Estimate: {points} story points**\n\n"
        f"_From the offline engine: rules applied to {source}, not a model's judgement._"
    )
    return _answer(text, {"storyPoints": points, "confidence": confidence})


NO_HISTORY_MOST = 0.45


def _step(points: int, scale: list[int]) -> int:
    """The smallest step of the scale that holds `points` (the largest, past it)."""
    return next((step for step in scale if step >= points), scale[-1])


def _from_reading(work: planning.Plan, total: int) -> str:
    """Say what an estimate read off the text rests on, for a person."""
    todo = work.todo
    if not todo:
        return "The project has no estimated issues yet, and its children cover the work.\n\n"
    named = ", ".join(item.title for item in todo[:5]) + (
        f", and {len(todo) - 5} more" if len(todo) > 5 else ""
    )
    return (
        "The project has no estimated issues yet, so this reads the issue alone: its text "
        f"names {len(todo)} piece{'s' if len(todo) > 1 else ''} of work ({named}), about "
        f"{total} points as its breakdown would size them.\n\n"
    )


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
