"""Import a team's issues from a CSV export (Jira's column names, or issuekey,title,...)."""

import csv
import gzip
import sys
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from tqdm import tqdm

from issues import services
from issues.models import Issue
from issues.serializers import IssueSerializer

# Each field of ours, and the column names that may hold it (lower case): Jira's export first.
COLUMNS = {
    "key": ("issue key", "issuekey", "key"),
    "title": ("summary", "title"),
    "description": ("description",),
    "storyPoints": (
        "story points",
        "custom field (story points)",
        "story point estimate",
        "storypoint",
        "storypoints",
    ),
    "type": ("issue type", "type"),
    "priority": ("priority",),
    "parent": ("parent", "parent key", "parent id"),
}
# Jira's names for our types and priorities (older Jira's priorities among them).
TYPES = {"sub-task": "SUBTASK", "improvement": "STORY", "new feature": "STORY"}
PRIORITIES = {
    "blocker": "HIGHEST",
    "critical": "HIGH",
    "major": "MEDIUM",
    "minor": "LOW",
    "trivial": "LOWEST",
}


class Command(BaseCommand):
    help = (
        "Create or update issues by key from a CSV export: Jira's columns (Issue key, Summary, "
        "Description, Story Points, Issue Type, Priority, Parent) or issuekey,title,description,"
        "storypoint. Each row is validated as the API validates it; a bad row is reported with "
        "its line number and skipped, and no row is ever half-written."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="A .csv file (or .csv.gz).")

    def handle(self, *args: Any, **options: Any) -> None:
        rows = _read(options["file"])
        created = updated = 0
        bad = []
        for line, row in tqdm(rows, desc="importing", unit="issue", file=sys.stderr, disable=None):
            try:
                was_stored = _import(row)
            except _BadRow as error:
                bad.append(f"line {line}: {error}")
            else:
                created += not was_stored
                updated += was_stored
        for problem in bad:
            self.stderr.write(problem)
        self.stdout.write(f"{created} created, {updated} updated, {len(bad)} bad rows skipped.")


class _BadRow(Exception):
    pass


def _read(path: Path) -> list[tuple[int, dict[str, str]]]:
    """Return the rows as (line number, our field names to values), each issue after its parent
    when both are in the file."""
    if not path.exists():
        raise CommandError(f"No file {path}.")
    csv.field_size_limit(sys.maxsize)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as file:
        reader = csv.reader(file)
        header = [name.strip().lower() for name in next(reader, [])]
        where = {}
        for field, names in COLUMNS.items():
            found = next((header.index(name) for name in names if name in header), None)
            if found is not None:
                where[field] = found
        if "key" not in where or "title" not in where:
            raise CommandError(
                f"{path} needs an issue key column (Issue key, issuekey) and a title column "
                "(Summary, title)."
            )
        rows = []
        for values in reader:
            if not any(value.strip() for value in values):
                continue
            row = {f: values[i].strip() if i < len(values) else "" for f, i in where.items()}
            rows.append((reader.line_num, row))
    parents = {row["key"].upper(): row.get("parent", "").upper() for _, row in rows}

    def depth(key: str) -> int:
        seen = 0
        while (key := parents.get(key, "")) and seen < len(parents):
            seen += 1
        return seen

    return sorted(rows, key=lambda item: depth(item[1]["key"].upper()))


def _import(row: dict[str, str]) -> bool:
    """Create or update the row's issue through the API's serializer and the services, in a
    transaction of its own; return whether it was stored before. Raise _BadRow."""
    data: dict[str, Any] = {
        "key": row["key"],
        "title": row["title"],
        "description": row.get("description", ""),
    }
    if "storyPoints" in row:
        data["storyPoints"] = row["storyPoints"] or None
    if row.get("type"):
        data["type"] = TYPES.get(row["type"].lower(), row["type"])
    if row.get("priority"):
        data["priority"] = PRIORITIES.get(row["priority"].lower(), row["priority"])
    if "parent" in row:
        data["parent"] = row["parent"].upper() or None
    issue = Issue.objects.filter(key=row["key"].upper()).first()
    serializer = IssueSerializer(issue, data=data, partial=issue is not None)
    if not serializer.is_valid():
        raise _BadRow(_say(serializer.errors))
    try:
        with transaction.atomic():
            if issue is None:
                services.issue_create(**serializer.validated_data)
            else:
                services.issue_update(issue=issue, **serializer.validated_data)
    except DjangoValidationError as error:
        raise _BadRow(_say(error.message_dict)) from None
    return issue is not None


def _say(errors: dict[str, Any]) -> str:
    return "; ".join(
        f"{field}: {' '.join(str(message) for message in messages)}"
        for field, messages in errors.items()
    )
