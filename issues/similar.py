"""Similar issues: a project's past issues nearest to an issue's text, by the database's own
full-text search (SQLite FTS5 or PostgreSQL's text search), kept current by the database.

The index lives in the database (migration 0003_similar_search): on SQLite an external-content
FTS5 table that triggers keep in step with `issues_issue`, on PostgreSQL a generated tsvector
column with a GIN index. Every insert, edit and delete updates it in the same transaction, so
that every worker sees the same index with no cache to invalidate.

A look-up runs in three steps. The issue's words are chosen, rarest first, while the issues
holding them add up to about MATCH_BUDGET (the database's own counts): the database ranks every
issue holding any word asked for, so this bounds a look-up however large the project grows.
The database then finds the best `CANDIDATES` issues of the project for the OR of those words
(bm25 on SQLite, ts_rank on PostgreSQL). Those few are scored here by the cosine of their word
vectors with the issue's (stemmed words, stop words out, the title's words counted twice): 1
is the same words in the same proportions, 0 none in common. It reads the same on both
databases and across issues, which the databases' own scores do not (bm25 grows with the size
of the corpus, ts_rank with the document)."""

import functools
import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

import snowballstemmer
from django.db import connection

from issues.models import Issue

QUERY_TERMS = 24  # the words of an issue that its look-up may ask for, at most
MATCH_BUDGET = 1000  # issues holding the words asked for, about: what one look-up ranks
CANDIDATES = 30  # the database's best matches that are scored here
TEXT_CHARS = 4000  # of a description: enough for its substance, not its stack traces
EXCERPT_CHARS = 300

_WORD = re.compile(r"[a-z][a-z0-9]+")
# Words that say nothing of an issue's subject (English function words, and tracker filler).
_STOP_WORDS = """a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing down during each few
    for from further had has have having he her here hers him his how i if in into is it its
    itself just let me more most my no nor not now of off on once only or other our ours out
    over own same she should so some such than that the their them then there these they this
    those through to too under until up very was we were what when where which while who whom
    why will with would you your yours able get got like make need needs please see seems use
    used using want way well work works should shall may might must one two new http https www
    com org html"""
STOP_WORDS = frozenset(_STOP_WORDS.split())
# Snowball's pure-Python stemmer costs ~30 µs a word; an issue's words repeat across issues.
_stem = functools.lru_cache(maxsize=1 << 16)(snowballstemmer.stemmer("english").stemWord)
_porter = functools.lru_cache(maxsize=1 << 14)(snowballstemmer.stemmer("porter").stemWord)


@dataclass(frozen=True)
class SimilarIssue:
    key: str
    title: str
    story_points: int | None
    similarity: float
    excerpt: str = ""  # the description's start, for a prompt's worked examples

    def as_dict(self) -> dict[str, Any]:
        """The issue as the API and the suggestions show it."""
        return {
            "key": self.key,
            "title": self.title,
            "storyPoints": self.story_points,
            "similarity": self.similarity,
        }


def words(text: str) -> list[str]:
    """Return the content words of a text, lower case, in order (stop words out)."""
    return [word for word in _WORD.findall(text.lower()) if word not in STOP_WORDS]


@functools.lru_cache(maxsize=2048)  # a project's usual neighbours come back look-up after look-up
def vector(title: str, description: str) -> dict[str, float]:
    """Return an issue's unit-length word vector: stemmed words weighted 1 + log(count), the
    title's counted twice. Read only: the cache hands out the same dict again."""
    counts = Counter([_stem(word) for word in words(title)] * 2)
    counts.update(_stem(word) for word in words(description[:TEXT_CHARS]))
    weights = {term: 1 + math.log(count) for term, count in counts.items()}
    norm = math.sqrt(sum(weight * weight for weight in weights.values())) or 1.0
    return {term: weight / norm for term, weight in weights.items()}


def cosine(one: dict[str, float], other: dict[str, float]) -> float:
    if len(other) < len(one):
        one, other = other, one
    return sum(weight * other.get(term, 0.0) for term, weight in one.items())


def query_terms(title: str, description: str) -> list[str]:
    """Return the words an issue's look-up may ask for: the title's, then the description's
    most frequent, at most QUERY_TERMS. The database stems them as it stemmed the index."""
    title_words = list(dict.fromkeys(words(title)))
    frequent = Counter(words(description[:TEXT_CHARS])).most_common()
    chosen = title_words + [word for word, _ in frequent if word not in title_words]
    return [word for word in chosen if len(word) <= 40][:QUERY_TERMS]


def _affordable(terms: list[str]) -> list[str]:
    """Keep the rarest of `terms` whose issues add up to at most MATCH_BUDGET, and at least
    one: the database ranks every issue that holds any word asked for, so a common word
    ("error", "page") would cost a look-up in proportion to the project's size, for the
    little it tells. The counts are the database's own (see _issues_holding)."""
    holding = _issues_holding(terms)
    ranked = sorted(terms, key=lambda term: holding.get(term, 0))
    kept, spent = [], 0
    for term in ranked:
        spent += holding.get(term, 0)
        if kept and spent > MATCH_BUDGET:
            break
        kept.append(term)
    return kept


def _issues_holding(terms: list[str]) -> dict[str, float]:
    """Return about how many issues hold each word (none: few), from the database's own
    statistics: SQLite's FTS5 vocabulary (exact, current), PostgreSQL's statistics of the
    column's most common words (as of its last ANALYZE, which autovacuum runs)."""
    table = Issue._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The 'english' configuration stems with Snowball's English stemmer, as here.
            stems = {_stem(term): term for term in terms}
            cursor.execute(
                "SELECT most_common_elems::text::text[], most_common_elem_freqs,"
                " (SELECT reltuples FROM pg_class WHERE oid = %s::regclass)"
                " FROM pg_stats WHERE tablename = %s AND attname = 'search'",
                [table, table],
            )
            row = cursor.fetchone()
            if row is None or row[0] is None:
                return {}
            lexemes, frequencies, rows = row
            return {
                stems[lexeme]: frequency * rows
                for lexeme, frequency in zip(lexemes, frequencies, strict=False)
                if lexeme in stems
            }
        # FTS5's porter tokenizer is the original Porter stemmer, as is Snowball's "porter".
        stems = {_porter(term): term for term in terms}
        vocabulary = connection.ops.quote_name(f"{table}_fts_vocab")
        cursor.execute(
            f"SELECT term, doc FROM {vocabulary}"  # noqa: S608 (our table's name)
            f" WHERE term IN ({', '.join(['%s'] * len(stems))})",
            list(stems),
        )
        return {stems[stem]: count for stem, count in cursor.fetchall() if stem in stems}


def similar_issues(
    *,
    project: str,
    title: str,
    description: str,
    exclude: int | None = None,
    limit: int = 10,
    with_points: bool = False,
) -> list[SimilarIssue]:
    """Return up to `limit` issues of `project` most similar to the text, most similar first.

    `exclude` is the issue's own id, if it is stored: it and its children are left out.
    `with_points`: only issues with story points (the history an estimate learns from).
    """
    terms = query_terms(title, description)
    if not terms:
        return []
    terms = _affordable(terms)
    rows = _candidates(project, terms, exclude, with_points)
    if not rows:
        return []
    mine = vector(title, description)
    scored = [
        SimilarIssue(
            key=key,
            title=their_title,
            story_points=points,
            similarity=round(min(1.0, cosine(mine, vector(their_title, their_text))), 3),
            excerpt=their_text[:EXCERPT_CHARS],
        )
        for key, their_title, their_text, points in rows
    ]
    scored.sort(key=lambda issue: (-issue.similarity, issue.key))
    return [issue for issue in scored[:limit] if issue.similarity > 0]


def similar_to(*, issue: Issue, limit: int = 10, with_points: bool = False) -> list[SimilarIssue]:
    """Return the issues of a stored issue's project most similar to it."""
    return similar_issues(
        project=issue.project,
        title=issue.title,
        description=issue.description,
        exclude=issue.pk,
        limit=limit,
        with_points=with_points,
    )


def _candidates(
    project: str, terms: list[str], exclude: int | None, with_points: bool
) -> list[tuple[str, str, str, int | None]]:
    """Ask the database for the best CANDIDATES matches: (key, title, text, points) each."""
    quote = connection.ops.quote_name
    table = Issue._meta.db_table
    # Keys of the project sort between "P-" and "P." ("." follows "-"): the key's own index.
    filters = ["i.key >= %s", "i.key < %s"]
    params: list[Any] = [f"{project}-", f"{project}."]
    if with_points:
        filters.append("i.story_points IS NOT NULL")
    if exclude is not None:
        filters.append("i.id <> %s AND (i.parent_id IS NULL OR i.parent_id <> %s)")
        params += [exclude, exclude]
    where = " AND ".join(filters)
    if connection.vendor == "postgresql":
        # Words are [a-z0-9] only, so the query's syntax is ours; 'english' stems them and
        # drops its stop words, as it did for the generated column.
        best = (
            "SELECT i.id, ts_rank(i.search, q) AS score"  # noqa: S608 (names and numbers are ours)
            f" FROM {quote(table)} i, to_tsquery('english', %s) q"
            f" WHERE i.search @@ q AND {where} ORDER BY score DESC, i.id LIMIT {CANDIDATES}"
        )
        params = [" | ".join(terms), *params]
        order = "best.score DESC, i.id"
    else:
        fts = quote(f"{table}_fts")
        best = (
            # The title's words weigh twice the description's.
            f"SELECT f.rowid AS id, bm25({fts}, 2.0, 1.0) AS score"  # noqa: S608 (as above)
            f" FROM {fts} f JOIN {quote(table)} i ON i.id = f.rowid"
            f" WHERE {fts} MATCH %s AND {where} ORDER BY score, f.rowid LIMIT {CANDIDATES}"
        )
        params = [" OR ".join(f'"{term}"' for term in terms), *params]
        order = "best.score, i.id"
    # The best few first, then their text: read for every match, the descriptions would cost
    # twice the ranking (2,000 matches: 14 ms against 7 on SQLite).
    sql = (
        f"SELECT i.key, i.title, substr(i.description, 1, {TEXT_CHARS}), i.story_points"  # noqa: S608 (as above)
        f" FROM ({best}) best JOIN {quote(table)} i ON i.id = best.id ORDER BY {order}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


# SQLite's triggers, as migration 0003_similar_search made them. A later migration that has
# Django rebuild issues_issue (copy, drop, rename: how SQLite alters a column) drops them with
# the old table; after every migrate, `repair_sqlite_index` puts back any that is missing.
_SQLITE_TRIGGERS = {
    "issues_issue_fts_insert": """CREATE TRIGGER issues_issue_fts_insert AFTER INSERT ON
        issues_issue BEGIN
        INSERT INTO issues_issue_fts(rowid, title, description)
        VALUES (new.id, new.title, new.description);
    END""",
    "issues_issue_fts_delete": """CREATE TRIGGER issues_issue_fts_delete AFTER DELETE ON
        issues_issue BEGIN
        INSERT INTO issues_issue_fts(issues_issue_fts, rowid, title, description)
        VALUES ('delete', old.id, old.title, old.description);
    END""",
    "issues_issue_fts_update": """CREATE TRIGGER issues_issue_fts_update AFTER UPDATE OF title,
        description ON issues_issue BEGIN
        INSERT INTO issues_issue_fts(issues_issue_fts, rowid, title, description)
        VALUES ('delete', old.id, old.title, old.description);
        INSERT INTO issues_issue_fts(rowid, title, description)
        VALUES (new.id, new.title, new.description);
    END""",
}


def repair_sqlite_index(*, using: str = "default", **kwargs: object) -> None:
    """Put back the SQLite index's missing triggers and rebuild the index from the issues.

    A post_migrate receiver (issues/apps.py): a no-op where nothing is missing.
    """
    from django.db import connections

    db = connections[using]
    if db.vendor != "sqlite":
        return
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'issues_issue_fts'"
        )
        if cursor.fetchone() is None:
            return  # before migration 0003_similar_search
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        present = {name for (name,) in cursor.fetchall()}
        missing = [sql for name, sql in _SQLITE_TRIGGERS.items() if name not in present]
        for sql in missing:
            cursor.execute(sql)
        if missing:
            cursor.execute("INSERT INTO issues_issue_fts(issues_issue_fts) VALUES ('rebuild')")
