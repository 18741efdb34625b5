"""Realistic issues, as people write them, with what a careful reader must make of each.

Shared by the offline engine's tests (and any later quality check). Each issue is the context
the engine gets, plus expectations stated as meaning, not exact strings:

- `facts`: phrases of the text that any refinement must keep, word for word.
- `sections`: a phrase of the text, and the section heading it must end up under.
- `requirements`: for each requirement the text states (for a bug: reproducing and fixing
  it), words that the title of at least one subtask must hold (as lemmas: "locked" is "lock").
- `ruled_out`: words of work the text puts out of scope: no subtask may hold them.
- `questions`: phrases that must stay questions (under "Open questions", ending in "?").
- `code`: lines that must be kept verbatim inside one fenced block.
"""

from typing import Any


def _context(key: str, type_: str, title: str, description: str, **more: Any) -> dict[str, Any]:
    return {
        "key": key,
        "type": type_,
        "title": title,
        "description": description,
        "priority": "MEDIUM",
        "storyPoints": None,
        "parent": None,
        "children": [],
    } | more


LOGIN = {
    "name": "login story",
    "context": _context(
        "SHOP-101",
        "STORY",
        "Log in with email and password",
        "Users sign in with their email address and password. Today anyone with a link can "
        "see the dashboard, which leaks customer data.\n\n"
        "- The login form must show a clear error for a wrong email or password.\n"
        "- The account is locked after 5 failed attempts in 15 minutes.\n"
        "- Locked accounts can be unlocked by an admin.\n"
        "- Passwords must be stored hashed with Argon2.\n\n"
        "Single sign-on is out of scope for now.\n"
        'Do we need a "remember me" option?',
    ),
    "facts": [
        "Today anyone with a link can see the dashboard",
        "locked after 5 failed attempts in 15 minutes",
        "unlocked by an admin",
        "hashed with Argon2",
        "Single sign-on",
        "remember me",
    ],
    "sections": {
        "Today anyone with a link can see the dashboard": "Problem",
        "clear error for a wrong email or password": "Acceptance criteria",
        "locked after 5 failed attempts": "Acceptance criteria",
        "unlocked by an admin": "Acceptance criteria",
        "hashed with Argon2": "Acceptance criteria",
        "Single sign-on": "Out of scope",
        "remember me": "Open questions",
    },
    "requirements": [
        ("sign", "email", "password"),
        ("error", "wrong"),
        ("lock", "5", "attempts"),
        ("unlock", "admin"),
        ("hash", "argon2"),
    ],
    "ruled_out": ["single", "sign-on", "sso"],
    "questions": ['Do we need a "remember me" option?'],
    "code": [],
}

CSV_EPIC = {
    "name": "CSV export epic",
    "context": _context(
        "SHOP-200",
        "EPIC",
        "Self-service CSV export of reports",
        "## Problem\n\n"
        "Customers ask support every week for CSV copies of their reports, which costs the "
        "support team several hours a week.\n\n"
        "## Requirements\n\n"
        "- Users can export any report as a CSV file from the report page.\n"
        "- The export must respect the filters applied to the report.\n"
        "- Exports are limited to 100,000 rows; larger reports show a message that explains "
        "the limit.\n"
        "- The file name includes the report name and the export date.\n\n"
        "## Open questions\n\n"
        "- Should archived rows be included?\n"
        "- Which delimiter do European customers expect\n\n"
        "Out of scope: PDF export and API access.",
    ),
    "facts": [
        "Customers ask support every week for CSV copies of their reports",
        "export any report as a CSV file from the report page",
        "respect the filters applied to the report",
        "limited to 100,000 rows",
        "larger reports show a message that explains the limit",
        "includes the report name and the export date",
        "Should archived rows be included?",
        "Which delimiter do European customers expect",
        "PDF export and API access",
    ],
    "sections": {
        "Customers ask support every week": "Problem",
        "export any report as a CSV file": "Acceptance criteria",
        "respect the filters": "Acceptance criteria",
        "limited to 100,000 rows": "Acceptance criteria",
        "report name and the export date": "Acceptance criteria",
        "archived rows": "Open questions",
        "Which delimiter": "Open questions",
        "PDF export and API access": "Out of scope",
    },
    "requirements": [
        ("export", "report", "csv"),
        ("filter",),
        ("100,000", "rows"),
        ("file", "name", "date"),
    ],
    "ruled_out": ["pdf", "api"],
    "questions": [
        "Should archived rows be included?",
        "Which delimiter do European customers expect?",
    ],
    "code": [],
}

BUG = {
    "name": "bug report with steps and a stack trace",
    "context": _context(
        "SHOP-300",
        "BUG",
        "CSV export fails for reports without rows",
        "Exporting an empty report shows a server error instead of a file.\n\n"
        "Steps to reproduce:\n"
        "1. Open the Sales report.\n"
        "2. Filter it to a day without orders.\n"
        '3. Click "Export CSV".\n\n'
        "Expected: a CSV file with only the header row.\n"
        'Actual: the page shows "500 Internal Server Error".\n\n'
        "Traceback (most recent call last):\n"
        '  File "reports/export.py", line 42, in export_csv\n'
        "    writer.writerow(rows[0].keys())\n"
        "IndexError: list index out of range\n\n"
        "It happens since release 2.3.",
    ),
    "facts": [
        "Exporting an empty report shows a server error instead of a file",
        "Open the Sales report",
        "Filter it to a day without orders",
        'Click "Export CSV"',
        "CSV file with only the header row",
        '"500 Internal Server Error"',
        "It happens since release 2.3",
    ],
    "sections": {
        "Exporting an empty report shows a server error": "Problem",
        "Open the Sales report": "Steps to reproduce",
        'Click "Export CSV"': "Steps to reproduce",
        "CSV file with only the header row": "Acceptance criteria",
        "500 Internal Server Error": "Actual result",
    },
    "requirements": [("reproduce", "export", "rows"), ("fix", "export", "rows")],
    "ruled_out": [],
    "questions": [],
    "code": [
        "Traceback (most recent call last):",
        '  File "reports/export.py", line 42, in export_csv',
        "    writer.writerow(rows[0].keys())",
        "IndexError: list index out of range",
    ],
}

ONE_LINER = {
    "name": "one-line task",
    "context": _context(
        "SHOP-400",
        "TASK",
        "Fix typo in footer",
        "The footer says 'Copyrigth' instead of 'Copyright'.",
    ),
    "facts": ["The footer says 'Copyrigth' instead of 'Copyright'."],
    "sections": {"The footer says 'Copyrigth'": "Problem"},
    "requirements": [("footer",)],
    "ruled_out": [],
    "questions": [],
    "code": [],
}

GERMAN = {
    "name": "story in German",
    "context": _context(
        "SHOP-500",
        "STORY",
        "CSV-Export für Berichte",
        "Kunden fragen jede Woche beim Support nach CSV-Dateien ihrer Berichte. Benutzer "
        "sollen jeden Bericht als CSV-Datei exportieren können. Der Export berücksichtigt die "
        "gesetzten Filter. Exporte sind auf 100.000 Zeilen begrenzt.\n\n"
        "Sollen archivierte Zeilen enthalten sein?\n\n"
        "## Nicht Teil dieses Tickets\n\n"
        "- PDF-Export\n"
        "- Zugriff über die API",
    ),
    "facts": [
        "Kunden fragen jede Woche beim Support nach CSV-Dateien ihrer Berichte.",
        "Benutzer sollen jeden Bericht als CSV-Datei exportieren können.",
        "Der Export berücksichtigt die gesetzten Filter.",
        "Exporte sind auf 100.000 Zeilen begrenzt.",
        "Sollen archivierte Zeilen enthalten sein?",
        "Nicht Teil dieses Tickets",
        "PDF-Export",
        "Zugriff über die API",
    ],
    "sections": {
        "Sollen archivierte Zeilen enthalten sein?": "Open questions",
        "PDF-Export": "Nicht Teil dieses Tickets",
    },
    "requirements": [("csv-export", "berichte")],
    "ruled_out": ["pdf", "api"],
    "questions": ["Sollen archivierte Zeilen enthalten sein?"],
    "code": [],
}

MOSTLY_CODE = {
    "name": "mostly a stack trace and code",
    "context": _context(
        "SHOP-600",
        "BUG",
        "Nightly import crashes on a missing customer id",
        "The nightly import job crashed:\n\n"
        "Traceback (most recent call last):\n"
        '  File "jobs/importer.py", line 88, in run\n'
        '    customer = customers[row["customer_id"]]\n'
        "KeyError: 'customer_id'\n\n"
        "Config of the job:\n\n"
        "    schedule: '0 2 * * *'\n"
        "    batch_size: 500\n",
    ),
    "facts": ["The nightly import job crashed"],
    "sections": {"The nightly import job crashed": "Problem"},
    "requirements": [("reproduce", "import", "customer"), ("fix", "import", "customer")],
    "ruled_out": [],
    "questions": [],
    "code": [
        "Traceback (most recent call last):",
        '  File "jobs/importer.py", line 88, in run',
        '    customer = customers[row["customer_id"]]',
        "KeyError: 'customer_id'",
        "    schedule: '0 2 * * *'",
        "    batch_size: 500",
    ],
}

ISSUES = [LOGIN, CSV_EPIC, BUG, ONE_LINER, GERMAN, MOSTLY_CODE]
ENGLISH = [LOGIN, CSV_EPIC, BUG, ONE_LINER, MOSTLY_CODE]
