"""Read a model's answer: prose for the person, one fenced JSON block for the machine."""

import json
import re
from dataclasses import dataclass
from typing import Any

from ai_assist.estimating import evidence_shown, snap
from ai_assist.prompts import SCALE
from issues.models import MAX_DESCRIPTION, Issue

FENCE = "```"
# Bounds on what a model's answer may make us store or apply.
MAX_ANSWER = 2 * MAX_DESCRIPTION  # characters, prose and JSON block together
MAX_SUBTASKS = 12
MAX_SUBTASK_DESCRIPTION = 2_000
MAX_IMPROVEMENTS = 20
MAX_IMPROVEMENT = 200
TITLE_MAX = Issue._meta.get_field("title").max_length
OFFLINE = "offline"  # the "engine" the offline provider names in its JSON block
OFFLINE_MOST = 0.6  # the highest confidence an offline answer can get
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
    offline = data.get("engine") == OFFLINE
    if offline and isinstance(note := data.get("note"), str) and note:
        prose = prose.replace(note, "")  # the engine's line about itself is not the result
    parse = {"refine": _refine, "estimate": _estimate, "breakdown": _breakdown}[kind]
    result, checks = parse(prose.strip(), data, context)
    stated = data.get("confidence")
    if isinstance(stated, int | float) and not isinstance(stated, bool) and 0 <= stated <= 1:
        said = float(stated)
    else:
        said = 0.5  # the model said nothing usable: neither trust nor distrust it
    checks.append(bool(data))  # a well-formed block is itself a sign of a careful answer
    passed = sum(checks) / len(checks)
    if offline:
        # The offline engine states how much of the text it could place, or how well the past
        # issues agree (at most 0.6; ai_assist/reading.py, ai_assist/estimating.py); the checks
        # can only lower that, so a reviewer can tell its answers from a good model's (0.9).
        confidence = round(min(said, OFFLINE_MOST) * passed, 2)
    else:
        # What the model says of itself counts for less than what can be checked of its answer.
        confidence = round(0.4 * said + 0.6 * passed, 2)
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
    # An escaped NUL would reach the database, which cannot store one in text or JSON.
    block = block.replace("\\u0000", "")
    try:
        data = json.loads(block) if block.strip() else {}
    except (ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def _points(value: Any) -> int | None:
    """Return a whole number of points, or None; 5.0 and "5" count, "five" does not."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):  # an integer of 400 digits is no estimate
        return None
    return int(number) if number.is_integer() and number > 0 else None


def _nearest(points: int) -> int:
    return min(SCALE, key=lambda step: (abs(step - points), step))


def _refine(prose: str, data: dict[str, Any], context: dict[str, Any]) -> tuple[dict, list[bool]]:
    if not prose:
        raise AnswerError("The AI answer held no refined description.")
    if len(prose) > MAX_DESCRIPTION:
        raise AnswerError(
            f"The refined description is longer than a description may be ({MAX_DESCRIPTION:,} "
            "characters)."
        )
    improvements = [_one_line(item, MAX_IMPROVEMENT) for item in _list(data.get("improvements"))]
    improvements = [item for item in improvements if item][:MAX_IMPROVEMENTS]
    original = " ".join((context.get("description") or "").split())
    checks = [
        " ".join(prose.split()) != original,  # it actually changed
        len(prose) >= min(len(original), 200),  # it did not lose most of the text
        "acceptance criteria" in prose.lower(),
        bool(improvements),
    ]
    return {"refinedDescription": prose, "improvements": improvements}, checks


# Bounded spaces: no backtracking over a long run of them.
_POINTS_IN_PROSE = re.compile(r"\b(\d{1,2}) {0,3}(?:story {0,3})?points?\b", re.IGNORECASE)


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


# A list item: a bullet or a number, then its text. Read line by line, with no nested or
# adjacent repeats, so that no line (a model's 20,000 spaces) makes it backtrack.
_ITEM = re.compile(r"(?:[-*+]|\d{1,3}[.)])[ \t]+(\S.*)")
_COMPLEXITY = {"low": 8, "medium": 21}  # the highest total points of each complexity


def _breakdown(
    prose: str, data: dict[str, Any], context: dict[str, Any]
) -> tuple[dict, list[bool]]:
    subtasks = []
    for item in _list(data.get("subtasks")):
        if isinstance(item, dict) and (title := _one_line(item.get("title"), TITLE_MAX)):
            points = _points(item.get("storyPoints"))
            description = str(item.get("description") or "").strip()
            subtasks.append(
                {
                    "title": title,
                    "description": description[:MAX_SUBTASK_DESCRIPTION],
                    "storyPoints": _nearest(points) if points else None,
                }
            )
    if data.get("subtasks") == [] and context.get("children"):
        # An explicit empty list for an issue with children: they already cover the work.
        return {"subtasks": [], "totalPoints": 0, "complexity": "low"}, [bool(prose)]
    if not subtasks:  # no usable block: take the prose's list items as subtask titles
        for line in prose.splitlines():
            if match := _ITEM.fullmatch(line.strip()):
                title = _one_line(match[1].strip("*").strip(), TITLE_MAX)
                subtasks.append({"title": title, "description": "", "storyPoints": None})
    if not subtasks:
        raise AnswerError("The AI answer held no subtasks.")
    proposed = len(subtasks)
    subtasks = subtasks[:MAX_SUBTASKS]
    total = sum(task["storyPoints"] or 0 for task in subtasks)
    # Recomputed from the points: a model's own word for it may not match them.
    complexity = next((name for name, most in _COMPLEXITY.items() if total <= most), "high")
    checks = [
        2 <= proposed <= MAX_SUBTASKS,
        all(task["storyPoints"] is not None for task in subtasks),
        str(data.get("complexity") or "").lower() == complexity,
    ]
    if own := _points(context.get("storyPoints")):
        checks.append(own / 2 <= total <= own * 2)  # the parts add up to about the whole
    return {"subtasks": subtasks, "totalPoints": total, "complexity": complexity}, checks


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _one_line(value: Any, most: int) -> str:
    """Return a model's value as one line of text, white space folded, cut to `most`."""
    return " ".join(str(value or "").split())[:most]
