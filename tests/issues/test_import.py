"""import_issues: a team's CSV export, validated row by row as the API validates it."""

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from issues.models import Issue
from issues.similar import similar_issues

pytestmark = pytest.mark.django_db

JIRA = """\
Issue key,Summary,Description,Issue Type,Priority,Custom field (Story Points),Parent
SHOP-1,Login page crashes,"The login form throws an error, always.",Story,Major,3,
SHOP-3,Fix the submit button,,Sub-task,High,2.0,SHOP-2
SHOP-2,Checkout,All checkout work,Epic,Critical,,
SHOP-4,,no title here,Bug,High,1,
SHOP-5,Half points,x,Bug,High,2.5,
bad key,Title,x,Bug,High,1,
SHOP-6,Unknown type,x,Spike,High,1,
SHOP-7,Unknown parent,x,Task,Low,1,SHOP-99
"""


def run(tmp_path: Path, text: str, name: str = "export.csv") -> tuple[str, str]:
    path = tmp_path / name
    path.write_text(text)
    out, err = StringIO(), StringIO()
    call_command("import_issues", str(path), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_a_jira_export_is_imported_and_its_bad_rows_reported_by_line(tmp_path: Path):
    out, err = run(tmp_path, JIRA)
    assert "3 created, 0 updated, 5 bad rows skipped" in out
    assert "line 5: title: This field may not be blank." in err
    assert "line 6: storyPoints: A valid integer is required." in err
    assert "line 7: key: A key looks like ISSUE-123 (at most nine digits)." in err
    assert 'line 8: type: "SPIKE" is not a valid choice.' in err
    assert "line 9: parent:" in err
    issues = {issue.key: issue for issue in Issue.objects.select_related("parent")}
    assert set(issues) == {"SHOP-1", "SHOP-2", "SHOP-3"}  # nothing of a bad row is stored
    assert issues["SHOP-3"].parent.key == "SHOP-2"  # its parent came later in the file
    assert issues["SHOP-3"].type == "SUBTASK"
    assert issues["SHOP-3"].story_points == 2
    assert issues["SHOP-1"].priority == "MEDIUM"  # Jira's "Major"
    assert issues["SHOP-2"].story_points is None
    # The similar-issue index knows them at once.
    found = similar_issues(project="SHOP", title="login error", description="")
    assert found[0].key == "SHOP-1"


def test_a_second_import_updates_by_key(tmp_path: Path):
    run(tmp_path, JIRA)
    out, _ = run(
        tmp_path,
        "issuekey,title,description,storypoint\nSHOP-1,Login page crashes on submit,,5\n"
        "SHOP-8,Dark mode,A dark theme,2\n",
        name="plain.csv",
    )
    assert "1 created, 1 updated, 0 bad rows skipped" in out
    shop1 = Issue.objects.get(key="SHOP-1")
    assert shop1.title == "Login page crashes on submit"
    assert (shop1.story_points, shop1.type) == (5, "STORY")
    assert Issue.objects.count() == 4


def test_a_file_without_key_or_title_columns_is_refused(tmp_path: Path):
    path = tmp_path / "x.csv"
    path.write_text("Name,Points\na,1\n")
    with pytest.raises(CommandError, match="issue key column"):
        call_command("import_issues", str(path))
    assert not Issue.objects.exists()
