"""Read a model's answer: prose for the person, one fenced JSON block for the machine."""

import json
import re
from dataclasses import dataclass
from typing import Any

from ai_assist.estimating import evidence_shown, snap
from ai_assist.prompts import SCALE

FENCE = "```"
_TAIL_TICKS = re.compile(r"`{1,2}$")


class AnswerError(Exception):
    """The answer cannot be used; the message is meant for a person."""


class ProseSplitter:
    """Split a streamed answer into prose, released as it comes, and the JSON block, held back.

    Text is released up to any fence that might open the JSON block; a fence for other code
    (```python) is prose like the rest. Once the ```json fence opens, nothing more is released.
    """

    def __init__(self) -> None:
        self.prose: list[str] = []
        self.block: list[str] = []
        self._pending = ""
        self._in_block = False

    def feed(self, text: str) -> str:
        """Take the next piece of the answer; return the prose that can be shown now."""
        if self._in_block:
            self.block.append(text)
            return ""
        if not self._pending and "`" not in text:
            self._keep(text)
            return text
        return self._release(self._pending + text)

    def finish(self) -> tuple[str, str]:
        """Return the whole prose and the JSON block's text ("" when there was none)."""
        if self._pending:
            self.prose.append(self._pending)
            self._pending = ""
        block = "".join(self.block)
        if block:
            # Drop the fence's info string and whatever follows the closing fence.
            block = block.split("\n", 1)[1] if "\n" in block else ""
            block = block.split(FENCE, 1)[0]
        return "".join(self.prose), block

    def _release(self, text: str) -> str:
        released = []
        while True:
            start = text.find(FENCE)
            if start < 0:
                held = _TAIL_TICKS.search(text)
                cut = held.start() if held else len(text)
                released.append(text[:cut])
                self._pending = text[cut:]
                break
            released.append(text[:start])
            info_end = text.find("\n", start)
            if info_end < 0:
                self._pending = text[start:]  # the fence's info string is not complete yet
                break
            info = text[start + 3 : info_end].strip().lower()
            after = text[info_end + 1 :].lstrip()
            if info == "json" or (info == "" and after.startswith("{")):
                self._in_block = True
                self._pending = ""
                self.block.append(text[start:])
                break
            if info == "" and not after:
                self._pending = text[start:]  # a bare fence: wait for what follows it
                break
            released.append(text[start : info_end + 1])
            text = text[info_end + 1 :]
        prose = "".join(released)
        if prose:
            self._keep(prose)
        return prose

    def _keep(self, prose: str) -> None:
        self.prose.append(prose)
        if len(self.prose) >= 16:
            # One string rather than many small ones, each with its 40-odd bytes of header: a
            # stream holds its prose to its end.
            self.prose[:] = ["".join(self.prose)]


@dataclass
class Answer:
    """A parsed answer: the machine result, the confidence and the operation's metadata."""

    result: dict[str, Any]
    confidence: float
    metadata: dict[str, Any]


def answer_parse(*, kind: str, prose: str, block: str, context: dict[str, Any]) -> Answer:
    """Parse and check an answer; fall back to the prose when the JSON block is missing."""
    data = _load(block)
    parse = {"refine": _refine, "estimate": _estimate, "breakdown": _breakdown}[kind]
    result, checks = parse(prose.strip(), data, context)
    stated = data.get("confidence")
    if isinstance(stated, int | float) and not isinstance(stated, bool) and 0 <= stated <= 1:
        said = float(stated)
    else:
        said = 0.5  # the model said nothing usable: neither trust nor distrust it
    checks.append(bool(data))  # a well-formed block is itself a sign of a careful answer
    passed = sum(checks) / len(checks)
    # What the model says of itself counts for less than what can be checked of its answer.
    confidence = round(0.4 * said + 0.6 * passed, 2)
    if data.get("engine") == "offline":
        # The offline engine's confidence is measured from what it read (ai_assist/estimating.py
        # for estimates), not a model's view of itself: the checks would only inflate it.
        confidence = round(said, 2)
    return Answer(result=result, confidence=confidence, metadata=_metadata(kind, result, context))


def _metadata(kind: str, result: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    if kind == "refine":
        return {
            "improvementsCount": len(result["improvements"]),
            "refinedDescription": result["refinedDescription"],
        }
    if kind == "estimate":
        return {"suggestedPoints": result["storyPoints"], "similarIssues": evidence_shown(context)}
    return {"subtasksCount": len(result["subtasks"]), **result}


def _load(block: str) -> dict[str, Any]:
    try:
        data = json.loads(block) if block.strip() else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _points(value: Any) -> int | None:
    """Return a whole number of points, or None; 5.0 and "5" count, "five" does not."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() and number > 0 else None


def _nearest(points: int) -> int:
    return min(SCALE, key=lambda step: (abs(step - points), step))


def _refine(prose: str, data: dict[str, Any], context: dict[str, Any]) -> tuple[dict, list[bool]]:
    if not prose:
        raise AnswerError("The AI answer held no refined description.")
    improvements = [str(item) for item in data.get("improvements") or [] if str(item).strip()]
    original = " ".join((context.get("description") or "").split())
    checks = [
        " ".join(prose.split()) != original,  # it actually changed
        len(prose) >= min(len(original), 200),  # it did not lose most of the text
        "acceptance criteria" in prose.lower(),
        bool(improvements),
    ]
    return {"refinedDescription": prose, "improvements": improvements}, checks


_POINTS_IN_PROSE = re.compile(r"\b(\d{1,2})\s*(?:story\s*)?points?\b", re.IGNORECASE)


def _estimate(prose: str, data: dict[str, Any], context: dict[str, Any]) -> tuple[dict, list[bool]]:
    points = _points(data.get("storyPoints"))
    if points is None:
        found = _POINTS_IN_PROSE.findall(prose)
        points = int(found[-1]) if found else None
    if points is None:
        raise AnswerError("The AI answer held no story point estimate.")
    scale = context.get("scale") or SCALE  # the team's, when its project has history
    checks = [points in scale, bool(prose)]
    children = [_points(child.get("storyPoints")) for child in context.get("children", [])]
    if any(children):
        checks.append(points >= max(p or 0 for p in children))  # no smaller than a child
    if close := [item["storyPoints"] for item in context.get("similarIssues") or []]:
        checks.append(min(close) <= points <= max(close))  # in line with the team's past issues
    return {"storyPoints": snap(points, scale)}, checks


_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+(?:\*\*)?(.+?)(?:\*\*)?\s*$", re.MULTILINE)
_COMPLEXITY = {"low": 8, "medium": 21}  # the highest total points of each complexity


def _breakdown(
    prose: str, data: dict[str, Any], context: dict[str, Any]
) -> tuple[dict, list[bool]]:
    subtasks = []
    for item in data.get("subtasks") or []:
        if isinstance(item, dict) and str(item.get("title") or "").strip():
            points = _points(item.get("storyPoints"))
            subtasks.append(
                {
                    "title": str(item["title"]).strip()[:255],
                    "description": str(item.get("description") or "").strip(),
                    "storyPoints": _nearest(points) if points else None,
                }
            )
    if not subtasks:  # no usable block: take the prose's list items as subtask titles
        subtasks = [
            {"title": title[:255], "description": "", "storyPoints": None}
            for title in _ITEM.findall(prose)
        ]
    if not subtasks:
        raise AnswerError("The AI answer held no subtasks.")
    total = sum(task["storyPoints"] or 0 for task in subtasks)
    complexity = str(data.get("complexity") or "").lower()
    expected = next((name for name, most in _COMPLEXITY.items() if total <= most), "high")
    checks = [
        2 <= len(subtasks) <= 12,
        all(task["storyPoints"] is not None for task in subtasks),
        complexity == expected,
    ]
    if own := _points(context.get("storyPoints")):
        checks.append(own / 2 <= total <= own * 2)  # the parts add up to about the whole
    return {
        "subtasks": subtasks,
        "totalPoints": total,
        "complexity": complexity if complexity in ("low", "medium", "high") else expected,
    }, checks
