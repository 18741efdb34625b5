"""Plan the work an issue's text names: a subtask per requirement, in a sensible order.

The order is the team's usual one: agree on what is open, build each requirement, test,
release (a bug: reproduce, then fix). Nothing the text rules out or does not mention becomes a
subtask. Work that the issue's children already do is left out; work that similar past issues
broke down the same way takes their points (and their title, where it loses no fact).
"""

import re
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz import fuzz

from ai_assist.prompts import SCALE
from ai_assist.reading import Part, Reading, is_imperative, keywords, read, shorten, title_of

MOST_SUBTASKS = 12
MATCH = 70  # rapidfuzz's token-set score (0-100) from which two titles name the same work

# A step of the process is done by a child whose title holds one of these words.
STEP_WORDS = {
    "agree": {"decide", "agree", "design", "spike", "clarify", "settle", "question", "approach"},
    "test": {"test", "tests", "qa", "verify", "check"},
    "release": {"release", "deploy", "launch", "ship", "rollout", "announce"},
    "reproduce": {"reproduce", "repro", "failing"},
    "fix": {"fix", "patch", "repair"},
}


@dataclass
class Work:
    """One piece of work the plan names, and what already does it."""

    title: str
    description: str
    points: int
    step: str  # agree, build, test, release, reproduce or fix
    rephrased: bool = True  # the title names the work in the imperative
    precedent: str = ""  # the similar past issue whose breakdown it follows
    done_by: dict[str, Any] | None = None  # the existing child that already does it
    match: float = 0.0  # how closely that child's title names it, 0 to 1


@dataclass
class Plan:
    """An issue's work, in order, with what its children already cover."""

    title: str
    reading: Reading
    work: list[Work] = field(default_factory=list)
    ruled_out: list[str] = field(default_factory=list)
    precedents: list[str] = field(default_factory=list)

    @property
    def todo(self) -> list[Work]:
        return [work for work in self.work if work.done_by is None]

    @property
    def done(self) -> list[Work]:
        return [work for work in self.work if work.done_by is not None]

    def overview(self) -> str:
        """Say the plan for a person: the subtasks in order, and what was left out and why."""
        todo, total = self.todo, sum(work.points for work in self.todo)
        lines = ["_Offline breakdown: a rule-based reading of the text, not an AI model._", ""]
        if todo:
            count = f"{len(todo)} subtask{'s' if len(todo) > 1 else ''}"
            lines += [f"Plan for **{self.title}**: {count}, {total} points.", ""]
            lines += [
                f"{i}. **{work.title}** ({work.points} pt{'s' if work.points > 1 else ''})"
                for i, work in enumerate(todo, 1)
            ]
        else:
            lines.append(f"No new subtasks: the children of **{self.title}** already cover it.")
        if done := self.done:
            lines += ["", "Already done by its children:", ""]
            lines += [f"- {work.done_by['key']} {work.done_by['title']}" for work in done]  # type: ignore[index]
        if self.ruled_out:
            lines += ["", f"Left out, as the text rules it out: {' '.join(self.ruled_out)}"]
        if self.precedents:
            lines += ["", f"Sized like the breakdowns of {', '.join(self.precedents)}."]
        return "\n".join(lines)

    @property
    def confidence(self) -> float:
        """How much of the text the plan rests on, 0.2 to 0.6: a rule-based reader's answer
        never claims what a good model's earns.
        """
        build = [work for work in self.work if work.step == "build"] or self.work
        factors = [self.reading.understood, sum(w.rephrased for w in build) / len(build)]
        if self.precedents:
            factors.append(sum(bool(w.precedent) for w in build) / len(build))
        if self.done and not self.todo:
            factors.append(sum(w.match for w in self.done) / len(self.done))
        return round(0.2 + 0.4 * sum(factors) / len(factors), 2)


def plan(context: dict[str, Any]) -> Plan:
    """Plan the issue in `context`; read its title, description, type, children and
    similarIssues (each with the children its breakdown had, when known).
    """
    bug = context.get("type") == "BUG"
    description = context.get("description") or ""
    reading = read(description or context.get("title") or "", bug=bug)
    title = (context.get("title") or "").strip() or _first(reading) or context.get("key", "")
    result = Plan(title=title, reading=reading)
    result.ruled_out = [part.text for part in reading.section("out_of_scope")]
    questions = [part.text for part in reading.section("questions")]
    if questions:
        result.work.append(_agree(questions))
    if bug:
        result.work += _bug_work(title, reading)
    else:
        result.work += _build_work(title, reading, epic=context.get("type") == "EPIC")
        if context.get("type") in ("STORY", "EPIC"):
            criteria = [part.text for part in reading.section("criteria")]
            result.work.append(
                Work(
                    f"Test end to end: {shorten(title)}",
                    "Check each acceptance criterion: " + " ".join(criteria)
                    if criteria
                    else "Check that it works as described, end to end.",
                    _points(1 + (len(criteria) > 2) + (len(criteria) > 5)),
                    "test",
                )
            )
            result.work.append(
                Work(
                    f"Release: {shorten(title)}",
                    "Release it and tell its users what changed.",
                    1,
                    "release",
                )
            )
    _follow_precedents(result, context.get("similarIssues") or [])
    _cover_by_children(result, context.get("children") or [])
    return result


def _first(reading: Reading) -> str:
    sentences = reading.sentences()
    return sentences[0].text[:80] if sentences else ""


def _agree(questions: list[str]) -> Work:
    title = "Decide: " if len(questions) == 1 else "Decide the open questions: "
    return Work(
        shorten(title + " ".join(questions)),
        "Settle before building: " + " ".join(questions),
        _points(1 + (len(questions) > 2)),
        "agree",
    )


def _build_work(title: str, reading: Reading, *, epic: bool) -> list[Work]:
    """A subtask per requirement: the statement of what the issue is about, the requirements
    (acceptance criteria) and the scope's items; the title when the text names none.
    """
    english = reading.english >= 0.6
    parts = [part for part in reading.section("goal") if not part.sure] if english else []
    parts += [part for part in reading.section("criteria") if not part.checked]
    parts += reading.section("scope")
    work = []
    for part in parts:
        name, rephrased = title_of(part.text)
        work.append(Work(name, part.text, _size(part, epic=epic), "build", rephrased))
    if not work:
        context = " ".join(p.text for p in reading.sentences() if p.section in ("problem", "goal"))
        work.append(
            Work(
                shorten(title),
                context or title,
                _points(2 + epic),
                "build",
                is_imperative(title),
            )
        )
    room = MOST_SUBTASKS - 3  # for agreeing, testing and releasing
    if len(work) > room:
        rest = work[room - 1 :]
        work[room - 1 :] = [
            Work(
                f"Cover the remaining {len(rest)} requirements",
                " ".join(w.description for w in rest),
                _points(sum(w.points for w in rest)),
                "build",
            )
        ]
    return work


def _bug_work(title: str, reading: Reading) -> list[Work]:
    steps = [part.text for part in reading.section("steps")]
    problem = [p.text for p in reading.sentences() if p.section in ("problem", "goal", "actual")]
    expected = [part.text for part in reading.section("criteria")]
    error = next(
        (_last_line(p.text) for p in reversed(reading.parts) if p.code and "Error" in p.text), ""
    )
    fix = title if title.lower().startswith("fix") else f"Fix: {title}"
    return [
        Work(
            shorten(f"Reproduce in a failing test: {title}"),
            ("Steps: " + " ".join(steps)) if steps else " ".join(problem) or title,
            _points(1 if steps else 2),
            "reproduce",
        ),
        Work(
            shorten(fix),
            " ".join(
                [
                    *problem,
                    *[f"Error: {error}"][: bool(error)],
                    *[f"Expected: {e}" for e in expected],
                ]
            ),
            _points(2 if error else 3),
            "fix",
        ),
    ]


def _last_line(code: str) -> str:
    lines = [line for line in code.splitlines() if line.strip() and not line.startswith("```")]
    return lines[-1].strip() if lines else ""


def _size(part: Part, *, epic: bool) -> int:
    """Size a requirement from what it says: longer, limited or compound ones weigh more."""
    words = len(part.text.split())
    return _points(1 + (words > 8) + bool(re.search(r"\d|;", part.text)) + epic)


def _points(size: int) -> int:
    return SCALE[max(0, min(size, 5) - 1)]


def _similarity(a: list[str], b: list[str]) -> float:
    """Score how closely two lists of keywords name the same work, 0 to 100."""
    if not a or not b:
        return 0.0
    shared = len(set(a) & set(b))
    if shared < min(2, len(a), len(b)):
        return 0.0  # one common word ("export") is not the same work
    return fuzz.token_set_ratio(" ".join(sorted(a)), " ".join(sorted(b)))


def _best(work: Work, titles: list[str]) -> tuple[int, float]:
    """Return the index of the title that names this work best, and its score (0-100)."""
    mine = keywords(f"{work.title} {work.description}" if work.step == "build" else work.title)
    best, score = -1, 0.0
    for index, title in enumerate(titles):
        theirs = keywords(title)
        found = _similarity(keywords(work.title), theirs)
        if work.step == "build":
            found = max(found, _similarity(mine, theirs) * 0.95)
        elif set(theirs) & STEP_WORDS.get(work.step, set()):
            found = max(found, 80.0)
        if found > score:
            best, score = index, found
    return best, score


def _cover_by_children(result: Plan, children: list[dict[str, Any]]) -> None:
    titles = [str(child.get("title") or "") for child in children]
    if not titles:
        return
    for work in result.work:
        index, score = _best(work, titles)
        if score >= MATCH:
            work.done_by, work.match = children[index], score / 100


def _follow_precedents(result: Plan, similar: list[dict[str, Any]]) -> None:
    """Take the points (and, where no fact is lost, the title) of the subtask that a similar
    past issue's breakdown had for the same work.
    """
    past = [
        (issue, child)
        for issue in similar
        for child in issue.get("children") or []
        if isinstance(child, dict) and child.get("title")
    ]
    if not past:
        return
    in_scope = [p.text for p in result.reading.sentences() if p.section != "out_of_scope"]
    text = set(keywords(" ".join([result.title, *in_scope])))
    ruled_out = set(keywords(" ".join(result.ruled_out))) - text
    for work in result.work:
        if work.step != "build":
            continue
        index, score = _best(work, [str(child["title"]) for _, child in past])
        if score < MATCH:
            continue
        issue, child = past[index]
        work.precedent = str(issue.get("key") or "")
        if isinstance(points := child.get("storyPoints"), int) and points > 0:
            work.points = min(SCALE, key=lambda step: (abs(step - points), step))
        theirs = str(child["title"]).strip()
        numbers = set(re.findall(r"\d[\d.,]*", work.description))
        words = set(keywords(theirs))
        if (
            numbers <= set(re.findall(r"\d[\d.,]*", theirs))
            and words <= text
            and not (words & ruled_out)
        ):
            work.title = shorten(theirs)
        if work.precedent not in result.precedents:
            result.precedents.append(work.precedent)
