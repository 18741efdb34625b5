"""One-way layers: ai_assist builds on issues, never the reverse.

The AI app adds itself to the issue admin and the issue page from its own side, so nothing
under issues/ may import it, load its template tags or include its templates.
"""

import ast
import re
from pathlib import Path

import pytest
from model_bakery import baker

import issues

ISSUES = Path(issues.__file__).parent
AI_TAG_LIBRARIES = {
    path.stem
    for path in (ISSUES.parent / "ai_assist" / "templatetags").glob("*.py")
    if path.stem != "__init__"
}


def imported(path: Path) -> set[str]:
    """The modules a Python file imports, at any level (inside functions too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_no_issues_module_imports_ai_assist():
    modules = sorted(ISSUES.rglob("*.py"))
    assert len(modules) > 10  # the walk found the app

    offenders = {}
    for path in modules:
        if found := sorted(name for name in imported(path) if name.split(".")[0] == "ai_assist"):
            offenders[str(path.relative_to(ISSUES.parent))] = found

    assert offenders == {}


def test_no_issues_template_uses_ai_assist():
    templates = sorted(ISSUES.rglob("templates/**/*.html"))
    assert templates  # the walk found them
    assert {"ai_usage", "ai_page"} <= AI_TAG_LIBRARIES

    offenders = []
    for path in templates:
        text = path.read_text()
        loaded = {
            name for load in re.findall(r"{%\s*load\s+([^%]+)%}", text) for name in load.split()
        }
        if loaded & AI_TAG_LIBRARIES or re.search(r"""["']ai_assist/""", text):
            offenders.append(path.name)

    assert offenders == []


@pytest.mark.django_db
def test_the_issue_page_and_admin_still_get_the_ai_parts(admin_client):
    """What ai_assist adds from its side is there: the panel, the history and the inline."""
    issue = baker.make("issues.Issue", key="ISSUE-1", title="Parent")
    baker.make("ai_assist.Suggestion", issue=issue, issue_key="ISSUE-1")

    page = admin_client.get("/issues/ISSUE-1/")
    change = admin_client.get(f"/admin/issues/issue/{issue.pk}/change/")

    assert b'id="ai-heading"' in page.content
    assert b'id="history-list"' in page.content and b"data-suggestion=" in page.content
    assert b"js/issue-page.js" in page.content
    assert b'id="suggestions-group"' in change.content
