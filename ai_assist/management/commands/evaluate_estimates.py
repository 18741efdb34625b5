"""Measure the estimate on a team's real history: estimate every test issue of a data set with
the live estimate operation, in a throwaway database, and score it against the median."""

import contextlib
import csv
import gzip
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections
from django.test.utils import override_settings
from tqdm import tqdm

from ai_assist import services
from ai_assist.providers import ProviderError
from issues.models import Issue

COLUMNS = ("issuekey", "title", "description", "storypoint", "split_mark")
HISTORY = ("train", "val")


class Command(BaseCommand):
    help = (
        "Estimate the test rows of FILE.csv[.gz] (issuekey,title,description,storypoint,"
        "split_mark) with the train and val rows as the team's history, in a throwaway "
        "database; write issuekey,storypoint per test row and print the mean absolute error "
        "beside the baseline that always answers the history's median."
    )

    # The checks would open the configured database, which this command never touches.
    requires_system_checks = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--predictions", type=Path, help="Write the predictions here (CSV).")
        parser.add_argument(
            "--provider",
            choices=["offline", "openai"],
            default="offline",
            help="offline (default), or openai: the configured model (OPENAI_API_KEY ...).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        history, tests, truth = _read(options["file"])
        if not history or not tests:
            raise CommandError(f"{options['file']} needs train or val rows, and test rows.")
        started = time.perf_counter()
        with _throwaway_database():
            predictions = _estimate_all(history, tests, options["provider"], self.stderr)
        seconds = time.perf_counter() - started
        if options["predictions"]:
            with options["predictions"].open("w", newline="") as out:
                writer = csv.writer(out)
                writer.writerow(["issuekey", "storypoint"])
                writer.writerows((row["issuekey"], predictions[row["issuekey"]]) for row in tests)
        name = options["file"].name
        self.stdout.write(
            f"{name}: {len(history)} history issues; {len(tests)} test issues estimated "
            f"({options['provider']}) in {seconds:.1f} s"
        )
        failed = [key for key, points in predictions.items() if points is None]
        if failed:
            self.stderr.write(f"{len(failed)} estimates failed (left blank), first {failed[0]}")
        # Only now, with every prediction made, are the test rows' points read.
        scored = [(predictions[key], points) for key, points in truth().items()]
        scored = [(guess, points) for guess, points in scored if guess is not None]
        if not scored:
            self.stdout.write("No test row has points (or none was estimated): no MAE.")
            return
        median = statistics.median_low(row["storypoint"] for row in history)
        mae = sum(abs(guess - points) for guess, points in scored) / len(scored)
        baseline = sum(abs(median - points) for _, points in scored) / len(scored)
        self.stdout.write(
            f"MAE {mae:.3f} on {len(scored)} test issues; always the history's median "
            f"({median}): {baseline:.3f}; ratio {mae / baseline if baseline else 0:.3f}"
        )


def _read(path: Path) -> tuple[list[dict], list[dict], Any]:
    """Return the history rows (with points), the test rows (without), and a function that
    reads the test rows' points: called only once every estimate is made."""
    if not path.exists():
        raise CommandError(f"No file {path}.")
    csv.field_size_limit(sys.maxsize)
    opener = gzip.open if path.suffix == ".gz" else open
    history, tests, test_points = [], [], {}
    with opener(path, "rt", encoding="utf-8", newline="") as file:
        reader = csv.DictReader(file)
        if missing := [name for name in COLUMNS if name not in (reader.fieldnames or [])]:
            raise CommandError(f"{path} has no column {', '.join(missing)}.")
        for row in reader:
            issue = {name: (row[name] or "").strip() for name in ("title", "description")}
            issue["issuekey"] = row["issuekey"].strip().upper()
            if row["split_mark"] in HISTORY:
                try:
                    issue["storypoint"] = int(float(row["storypoint"]))
                except ValueError:
                    raise CommandError(
                        f"Line {reader.line_num}: the history's points must be numbers."
                    ) from None
                history.append(issue)
            elif row["split_mark"] == "test":
                tests.append(issue)
                test_points[issue["issuekey"]] = row["storypoint"]

    def truth() -> dict[str, int]:
        return {key: int(float(p)) for key, p in test_points.items() if p.strip()}

    return history, tests, truth


@contextlib.contextmanager
def _throwaway_database() -> Iterator[None]:
    """Point the default database at a new SQLite file for the block, migrated; never the
    configured database."""
    with tempfile.TemporaryDirectory(prefix="evaluate-estimates-") as folder:
        saved = connections.settings
        connections.close_all()
        connections.settings = connections.configure_settings(
            {
                "default": {
                    "ENGINE": "config.sqlite3",
                    "NAME": str(Path(folder) / "history.sqlite3"),
                    "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20},
                }
            }
        )
        del connections["default"]
        try:
            call_command("migrate", verbosity=0, interactive=False)
            yield
        finally:
            connections.close_all()
            connections.settings = saved
            del connections["default"]


def _estimate_all(
    history: list[dict], tests: list[dict], provider: str, output: Any
) -> dict[str, int | None]:
    """Store the history (and the test issues, without points), then run the live estimate
    operation on each test issue; return the suggested points by key (None: it failed)."""
    Issue.objects.bulk_create(
        [
            Issue(
                key=row["issuekey"],
                title=row["title"][:255] or row["issuekey"],
                description=row["description"],
                story_points=row.get("storypoint"),  # test rows have none
            )
            for row in [*history, *tests]
        ],
        batch_size=500,
    )
    user = get_user_model().objects.create(username="evaluate-estimates")
    predictions: dict[str, int | None] = {}
    live = {
        "AI_PROVIDER": provider,
        "AI_OFFLINE_DELAY": 0,
        "AI_SSE_FLUSH_INTERVAL": 0,
        "AI_RATE_LIMIT": "1000000/s",
        "AI_MAX_CONCURRENT_STREAMS": 0,
    }
    quiet = logging.getLogger("ai_assist")
    level = quiet.level
    quiet.setLevel(logging.WARNING)  # a line per estimate would drown the progress bar
    with override_settings(**live), contextlib.ExitStack() as restore:
        restore.callback(quiet.setLevel, level)
        for row in tqdm(tests, desc="estimating", unit="issue", disable=None, leave=False):
            suggestion = services.suggestion_start(
                user=user, kind="estimate", data={"issueId": row["issuekey"]}
            )
            try:
                answer = services.suggestion_answer(suggestion=suggestion)
            except ProviderError:
                predictions[row["issuekey"]] = None
            else:
                predictions[row["issuekey"]] = answer["metadata"]["suggestedPoints"]
    return predictions
