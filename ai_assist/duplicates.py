"""The existing issue a proposed subtask most likely repeats, found by the similar-issue engine.

A subtask is taken for a repeat of the project's most similar issue when their titles are
near-copies: the cosine of the titles' terms (issues/similar.py's stemmed words, stop words
out, and numbers) is at least TITLE_THRESHOLD. The whole texts' similarity finds the candidate,
but it is a poor judge of a repeat: a short subtask against a long issue scores low even when
the titles match. bench/duplicates.py measured the choice on the shared data set
(docs/review.md).
"""

import math
import re
from typing import Any

from issues.similar import cosine, similar_issues, vector

TITLE_THRESHOLD = 0.8  # above 3 terms of 4 shared: one word in four replaced names another task
CANDIDATES = 1  # the most similar issues whose titles are compared (more: more false alarms)


_NUMBER = re.compile(r"\d+(?:\.\d+)*")


def _title_vector(title: str) -> dict[str, float]:
    # The engine's stemmed content words, and numbers too: "Upgrade to Spring 4.2" is not
    # "Upgrade to Spring 4.1", though the engine, reading words only, finds them the same.
    terms = set(vector(title, "")) | set(_NUMBER.findall(title))
    return dict.fromkeys(terms, 1 / math.sqrt(len(terms))) if terms else {}


def title_similarity(title: str, other: str) -> float:
    """Return the cosine of two titles' sets of terms, 0 to 1."""
    return round(min(1.0, cosine(_title_vector(title), _title_vector(other))), 3)


def duplicate_of(*, project: str, parent: str, title: str, description: str) -> str | None:
    """Return the key of the issue of `project` that a subtask most likely repeats, or None.

    `parent` (the key of the issue broken down) is never one: its parts resemble it.
    """
    found = similar_issues(
        project=project, title=title, description=description, limit=CANDIDATES + 1
    )
    scored = [
        (title_similarity(title, issue.title), issue.key) for issue in found if issue.key != parent
    ][:CANDIDATES]
    best = max(scored, default=None, key=lambda pair: pair[0])
    return best[1] if best and best[0] >= TITLE_THRESHOLD else None


def duplicates_mark(*, subtasks: list[dict[str, Any]], key: str) -> None:
    """Set each subtask's `duplicateOf` (one look-up per subtask; parsing keeps at most 12)."""
    project = key.rsplit("-", 1)[0]
    for task in subtasks:
        task["duplicateOf"] = duplicate_of(
            project=project, parent=key, title=task["title"], description=task["description"]
        )
