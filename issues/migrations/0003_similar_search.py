"""The full-text index of the issues' titles and descriptions that issues/similar.py searches.

SQLite: an external-content FTS5 table kept current by triggers, and its vocabulary (how many
issues hold each word). PostgreSQL: a generated tsvector column with a GIN index, of the title
and the description's first 2,000 characters: ts_rank reads the vector of every issue it ranks,
and a longer one is stored out of line (at 30,000 issues a look-up took 124 ms against 54).
Other databases get none. On SQLite a later migration that has Django rebuild issues_issue
drops the triggers with the old table: issues.similar.repair_sqlite_index puts them back after
every migrate."""

from django.db import migrations

SQLITE = [
    """CREATE VIRTUAL TABLE issues_issue_fts USING fts5(
        title, description, content='issues_issue', content_rowid='id',
        tokenize='porter unicode61 remove_diacritics 2')""",
    """CREATE TRIGGER issues_issue_fts_insert AFTER INSERT ON issues_issue BEGIN
        INSERT INTO issues_issue_fts(rowid, title, description)
        VALUES (new.id, new.title, new.description);
    END""",
    """CREATE TRIGGER issues_issue_fts_delete AFTER DELETE ON issues_issue BEGIN
        INSERT INTO issues_issue_fts(issues_issue_fts, rowid, title, description)
        VALUES ('delete', old.id, old.title, old.description);
    END""",
    """CREATE TRIGGER issues_issue_fts_update AFTER UPDATE OF title, description ON issues_issue
    BEGIN
        INSERT INTO issues_issue_fts(issues_issue_fts, rowid, title, description)
        VALUES ('delete', old.id, old.title, old.description);
        INSERT INTO issues_issue_fts(rowid, title, description)
        VALUES (new.id, new.title, new.description);
    END""",
    "INSERT INTO issues_issue_fts(issues_issue_fts) VALUES ('rebuild')",
    # How many issues hold each (stemmed) word: the look-up leaves out the most common ones.
    "CREATE VIRTUAL TABLE issues_issue_fts_vocab USING fts5vocab(issues_issue_fts, 'row')",
]
SQLITE_DROP = [
    "DROP TABLE issues_issue_fts_vocab",
    "DROP TRIGGER issues_issue_fts_update",
    "DROP TRIGGER issues_issue_fts_delete",
    "DROP TRIGGER issues_issue_fts_insert",
    "DROP TABLE issues_issue_fts",
]
POSTGRESQL = [
    """ALTER TABLE issues_issue ADD COLUMN search tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', coalesce(title, '')), 'A')
        || setweight(to_tsvector('english', left(coalesce(description, ''), 2000)), 'B')
    ) STORED""",
    "CREATE INDEX issues_issue_search ON issues_issue USING GIN (search)",
]
POSTGRESQL_DROP = ["ALTER TABLE issues_issue DROP COLUMN search"]


def _run(statements):
    def run(apps, schema_editor):
        vendor = schema_editor.connection.vendor
        for statement in statements.get(vendor, []):
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("issues", "0002_bounded_keys_and_descriptions")]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE, "postgresql": POSTGRESQL}),
            _run({"sqlite": SQLITE_DROP, "postgresql": POSTGRESQL_DROP}),
            elidable=False,
        ),
    ]
