"""Similar issues: the database's full-text index, kept current, and the API on top of it."""

from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from issues.models import Issue
from issues.services import issue_create, issue_update
from issues.similar import similar_issues, similar_to
from tests.issues.history import make_history

pytestmark = pytest.mark.django_db


def keys(found: list) -> list[str]:
    return [issue.key for issue in found]


def test_the_obvious_neighbour_comes_first():
    make_history()
    found = similar_issues(
        project="SHOP",
        title="Password reset emails never arrive",
        description="Users who reset their password get no email.",
    )
    assert found[0].key == "SHOP-1"
    assert found[0].similarity > 0.4
    assert "OTHER-1" not in keys(found)  # another project's issue, however alike
    # Most similar first, each in 0..1.
    similarities = [issue.similarity for issue in found]
    assert similarities == sorted(similarities, reverse=True)
    assert all(0 < value <= 1 for value in similarities)


def test_an_issue_is_most_similar_to_its_twin_and_never_to_itself_or_its_children():
    issues = make_history()
    twin = issue_create(
        key="SHOP-7", title="Pay by PayPal during checkout", description="PayPal payments."
    )
    issue_create(key="SHOP-8", title="PayPal refunds at checkout", parent=twin, story_points=3)
    found = similar_to(issue=twin)
    assert keys(found)[0] == "SHOP-4"
    assert "SHOP-7" not in keys(found)
    assert "SHOP-8" not in keys(found)  # its own child
    assert set(keys(similar_to(issue=issues["SHOP-4"]))[:2]) == {"SHOP-7", "SHOP-8"}


def test_only_issues_with_points_count_as_history():
    make_history()
    issue_create(key="SHOP-9", title="Reset password email is not sent again", description="")
    found = similar_issues(
        project="SHOP", title="Reset password email", description="", with_points=True
    )
    assert "SHOP-9" not in keys(found)
    assert all(issue.story_points is not None for issue in found)
    everything = similar_issues(project="SHOP", title="Reset password email", description="")
    assert "SHOP-9" in keys(everything)


def test_the_index_follows_edits_and_deletes():
    issues = make_history()
    query = {"project": "SHOP", "title": "Invoice PDF attachment", "description": ""}
    assert similar_issues(**query) == []

    issue_update(issue=issues["SHOP-3"], title="Attach the invoice as a PDF")
    assert keys(similar_issues(**query)) == ["SHOP-3"]

    issue_update(issue=issues["SHOP-3"], title="Dark mode", description="A dark theme.")
    assert similar_issues(**query) == []
    dark = {"project": "SHOP", "title": "dark theme", "description": ""}
    assert keys(similar_issues(**dark)) == ["SHOP-3"]

    issues["SHOP-3"].delete()
    assert similar_issues(**dark) == []
    Issue.objects.filter(key="SHOP-1").delete()  # a bulk delete, through the ORM's SQL
    assert "SHOP-1" not in keys(similar_issues(project="SHOP", title="password", description=""))


def test_an_issue_edited_by_plain_sql_is_found_by_its_new_words():
    # The index is the database's own: any writer keeps it current, not only this process.
    make_history()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE issues_issue SET title = %s WHERE key = %s", ["Zebra", "SHOP-2"])
    assert keys(similar_issues(project="SHOP", title="zebra", description="")) == ["SHOP-2"]


def test_text_with_no_words_finds_nothing_and_search_syntax_is_plain_text():
    make_history()
    assert similar_issues(project="SHOP", title="the and of", description="!!! ???") == []
    tricky = "password\" OR title:* NEAR( -email AND '; DROP TABLE x; -- :* | & !"
    found = similar_issues(project="SHOP", title=tricky, description="")
    assert keys(found)[0] == "SHOP-1"


def test_a_project_whose_name_has_an_underscore_is_kept_apart():
    issue_create(key="A_B-1", title="Reset password email", story_points=1)
    issue_create(key="AXB-1", title="Reset password email", story_points=1)
    issue_create(key="A_BC-1", title="Reset password email", story_points=1)
    found = similar_issues(project="A_B", title="reset password", description="")
    assert keys(found) == ["A_B-1"]


def test_the_api_lists_similar_issues(api_client: Any):
    make_history()
    issue_create(key="SHOP-7", title="Password reset mail does not arrive", description="")
    response = api_client.get("/api/issues/shop-7/similar")
    assert response.status_code == 200
    body = response.json()
    assert body[0]["key"] == "SHOP-1"
    assert set(body[0]) == {"key", "title", "storyPoints", "similarity"}
    assert body[0]["storyPoints"] == 3
    assert 0 < body[0]["similarity"] <= 1
    assert "SHOP-7" not in [item["key"] for item in body]
    assert len(body) <= 10


def test_the_api_needs_a_user_and_a_stored_issue(client: Any, api_client: Any):
    make_history()
    assert client.get("/api/issues/SHOP-1/similar").status_code in (401, 403)
    assert api_client.get("/api/issues/SHOP-404/similar").status_code == 404


def test_a_table_rebuild_that_drops_the_triggers_is_repaired_after_migrate():
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's index only: PostgreSQL's is a column of the table")
    make_history()
    with connection.cursor() as cursor:  # what a later migration's table rebuild does
        cursor.execute("DROP TRIGGER issues_issue_fts_insert")
        cursor.execute("DROP TRIGGER issues_issue_fts_update")
    issue_create(key="SHOP-7", title="Zebra crossing", story_points=1)
    assert similar_issues(project="SHOP", title="zebra", description="") == []  # unseen

    call_command("migrate", verbosity=0)

    assert keys(similar_issues(project="SHOP", title="zebra", description="")) == ["SHOP-7"]
    issue_create(key="SHOP-8", title="Zebra stripes", story_points=1)
    assert "SHOP-8" in keys(similar_issues(project="SHOP", title="zebra", description=""))
