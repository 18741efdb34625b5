"""Benchmark the similar-issue look-up as a project grows to 1,000, 10,000 and 100,000 issues.

Fills a throwaway database (a temporary SQLite file, or with --db postgres the server that
DATABASE_URL names: `bin/bench --similar --db postgres` starts a throwaway one) with one
project's issues, their titles and descriptions recycled from the shared story-point data set,
and times look-ups with other issues' text: the similar-issue list (10) and an estimate's whole
evidence (5 neighbours and the project's point counts). Prints the median and p95 per size.
"""

import argparse
import csv
import gzip
import io
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "datasets" / "story-points"
SIZES = (1_000, 10_000, 100_000)


def texts() -> list[tuple[str, str, int]]:
    """Every issue of the data set: (title, description, points)."""
    csv.field_size_limit(sys.maxsize)
    rows = []
    for path in sorted(DATA.glob("*.csv.gz")):
        with gzip.open(path, "rb") as raw:
            for row in csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8")):
                rows.append((row["title"][:255], row["description"], int(float(row["storypoint"]))))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.similar", description=__doc__)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--lookups", type=int, default=200, help="look-ups timed per size")
    args = parser.parse_args()
    if not DATA.exists():
        sys.exit(f"The shared data set is not at {DATA}: nothing to fill the database with.")
    folder = tempfile.TemporaryDirectory(prefix="bench-similar-")
    if args.db == "sqlite":
        os.environ["DATABASE_URL"] = f"sqlite:///{folder.name}/bench.sqlite3"
    elif not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("--db postgres needs DATABASE_URL: run it as bin/bench --similar --db postgres")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from ai_assist.estimating import estimate_evidence
    from issues.models import Issue
    from issues.similar import similar_issues

    call_command("migrate", verbosity=0)
    Issue.objects.filter(key__startswith="BENCH-").delete()
    pool = texts()
    rng = random.Random(15)
    rng.shuffle(pool)
    print(f"{connection.vendor}, {len(pool)} texts recycled; {args.lookups} look-ups per size")
    head = "similar (10) median / p95 ms"
    print(f"{'issues':>8} {'fill s':>7}  {head:>30}  evidence (5 + points)")
    stored = 0
    for size in SIZES:
        started = time.perf_counter()
        while stored < size:
            batch = range(stored, min(size, stored + 2000))
            Issue.objects.bulk_create(
                Issue(
                    key=f"BENCH-{n + 1}",
                    title=pool[n % len(pool)][0] or "untitled",
                    description=pool[n % len(pool)][1],
                    story_points=pool[n % len(pool)][2],
                )
                for n in batch
            )
            stored = batch.stop
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE issues_issue")  # as autovacuum would, after a fill
        fill = time.perf_counter() - started
        queries = [pool[rng.randrange(len(pool))] for _ in range(args.lookups)]
        similar, evidence = [], []
        for title, description, _ in queries:
            started = time.perf_counter()
            similar_issues(project="BENCH", title=title, description=description, limit=10)
            similar.append((time.perf_counter() - started) * 1000)
            context = {"key": "BENCH-999999", "title": title, "description": description}
            started = time.perf_counter()
            estimate_evidence(issue=None, context=context)
            evidence.append((time.perf_counter() - started) * 1000)
        print(
            f"{size:>8,} {fill:>7.1f}  {_figures(similar):>30}  {_figures(evidence)}",
            flush=True,
        )
    folder.cleanup()


def _figures(times: list[float]) -> str:
    p95 = statistics.quantiles(times, n=20)[-1]
    return f"{statistics.median(times):.1f} / {p95:.1f}"


if __name__ == "__main__":
    main()
