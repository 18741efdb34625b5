"""Choose the similarity above which a proposed subtask is taken for a duplicate.

For each project of the shared story-point data set, a throwaway SQLite database holds its
history (the `train` and `val` issues). Two kinds of proposed subtask are looked up, as
ai_assist/duplicates.py looks them up (title and a short description):

- near-copies (should be flagged): a history issue's title with one of its content words left
  out (and, for half of them, a verb such as "Add" or "Fix" put in front), and the first
  sentence of its description; flagged right when the issue named is the one copied;
- later issues (should not be): each `test` issue's title and first sentence. These are
  other tasks of the same project, mostly in the same areas; a few may truly repeat an older
  issue, so the share flagged is an upper bound of the false alarms.

Prints, per threshold, the share of near-copies found and of later issues flagged, for the
similarity of the whole text (title and description) and for the titles' alone.
"""

import argparse
import csv
import gzip
import io
import os
import random
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "datasets" / "story-points"
PROJECTS = ("mule", "clover", "moodle", "titanium", "springxd")
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.65, 0.7, 0.75, 0.76, 0.8, 0.85, 0.9)
VERBS = ("Add", "Fix", "Implement", "Support", "Update")
_SENTENCE = re.compile(r"(.{20,300}?[.!?])(\s|$)", re.DOTALL)


def rows(project: str) -> list[dict[str, str]]:
    csv.field_size_limit(sys.maxsize)
    with gzip.open(DATA / f"{project}.csv.gz", "rb") as raw:
        return list(csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8")))


def first_sentence(text: str) -> str:
    text = " ".join(text.split())
    match = _SENTENCE.match(text)
    return match[1] if match else text[:200]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.duplicates", description=__doc__)
    parser.add_argument("--copies", type=int, default=100, help="near-copies per project")
    parser.add_argument(
        "--show", type=float, metavar="T", help="print the later issues whose titles score T+"
    )
    args = parser.parse_args()
    folder = tempfile.TemporaryDirectory(prefix="bench-duplicates-")
    os.environ["DATABASE_URL"] = f"sqlite:///{folder.name}/bench.sqlite3"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from ai_assist.duplicates import CANDIDATES, title_similarity
    from issues.models import Issue
    from issues.similar import similar_issues, words

    call_command("migrate", verbosity=0)
    rng = random.Random(17)
    found = {"text": [], "title": []}  # per near-copy: the score if the copied issue is first
    flagged = {"text": [], "title": []}  # per later issue: the best score
    for project in PROJECTS:
        Issue.objects.all().delete()
        data = rows(project)
        history = [row for row in data if row["split_mark"] != "test"]
        later = [row for row in data if row["split_mark"] == "test"]
        prefix = project.upper()
        Issue.objects.bulk_create(
            Issue(key=f"{prefix}-{n + 1}", title=row["title"][:255] or "untitled",
                  description=row["description"][:50_000])
            for n, row in enumerate(history)
        )  # fmt: skip

        def best(
            title: str, description: str, prefix: str = prefix
        ) -> tuple[str, float, str, float, str] | None:
            """The engine's first hit and its similarity; of its CANDIDATES first hits, the
            one whose title is most similar, that similarity and the title (as
            ai_assist/duplicates.py chooses)."""
            hits = similar_issues(
                project=prefix, title=title, description=description, limit=CANDIDATES
            )
            if not hits:
                return None
            score, key, other = max(
                (title_similarity(title, hit.title), hit.key, hit.title) for hit in hits
            )
            return hits[0].key, hits[0].similarity, key, score, other

        for n in rng.sample(range(len(history)), min(args.copies, len(history))):
            title = history[n]["title"]
            content = words(title)
            if len(content) < 3:
                continue
            dropped = rng.choice(content)
            copy = " ".join(word for word in title.split() if word.lower() != dropped)
            if rng.random() < 0.5:  # reworded as well: a verb put in front
                copy = f"{rng.choice(VERBS)} {copy[0].lower()}{copy[1:]}"
            hit = best(copy, first_sentence(history[n]["description"]))
            copied = f"{prefix}-{n + 1}"
            found["text"].append(hit[1] if hit and hit[0] == copied else 0.0)
            found["title"].append(hit[3] if hit and hit[2] == copied else 0.0)
        for row in later:
            hit = best(row["title"], first_sentence(row["description"]))
            flagged["text"].append(hit[1] if hit else 0.0)
            flagged["title"].append(hit[3] if hit else 0.0)
            if args.show is not None and hit and hit[3] >= args.show:
                print(f"  {hit[3]:.2f} {row['issuekey']} {row['title']!r} ~ {hit[2]} {hit[4]!r}")
        print(f"{project}: {len(history)} in the history, {len(later)} later issues")
    print(f"\n{len(found['text'])} near-copies, {len(flagged['text'])} later issues")
    print(f"{'threshold':>9}  {'whole text: found / flagged':>28}  {'titles: found / flagged':>24}")
    for threshold in THRESHOLDS:
        cells = []
        for measure in ("text", "title"):
            hit = sum(score >= threshold for score in found[measure]) / max(1, len(found[measure]))
            alarm = sum(score >= threshold for score in flagged[measure]) / len(flagged[measure])
            cells.append(f"{hit:6.1%} / {alarm:6.1%}")
        print(f"{threshold:>9}  {cells[0]:>28}  {cells[1]:>24}")


if __name__ == "__main__":
    main()
