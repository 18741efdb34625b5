"""The figures behind the insights page and ai_report, on histories with known answers."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from ai_assist import metrics
from ai_assist.models import TokenBudget
from tests.insights.history import made, price, result_of, synthetic

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(user, other_user):
    """A known history over the last 30 days (and one suggestion before it)."""
    # Refine, one model in two snapshots: 3 accepted (1 edited), 1 rejected, 1 reverted.
    words = result_of("refine")["refinedDescription"].split()
    made(kind="refine", user=user, review="accepted")
    made(kind="refine", user=user, review="accepted", model="gpt-4o-mini", edited=False)
    made(
        kind="refine",
        user=user,
        review="accepted",
        edited=True,
        applied={"refinedDescription": " ".join(words[:12])},  # 4 of 16 words dropped
    )
    made(kind="refine", user=user, review="rejected")
    made(kind="refine", user=other_user, review="reverted", days_ago=10)
    # Estimates by gpt-4o: applied 5 (as suggested), 8 (+3), 3 (-2), none stored (as is).
    made(kind="estimate", user=other_user, model="gpt-4o", review="accepted", edited=False)
    for points in (8, 3):
        made(
            kind="estimate",
            user=other_user,
            model="gpt-4o",
            review="accepted",
            edited=True,
            applied={"storyPoints": points},
        )
    made(kind="estimate", user=other_user, model="gpt-4o", review="accepted")
    made(kind="estimate", user=other_user, model="gpt-4o", review="rejected")
    # Breakdowns offline: one accepted with a subtask renamed (1 of 3), pending ones, a failure.
    tasks = result_of("breakdown")["subtasks"]
    renamed = [dict(tasks[0], title="Another part"), *tasks[1:]]
    made(
        kind="breakdown",
        user=user,
        model="offline",
        review="accepted",
        applied={"subtasks": renamed},  # `edited` not stored: found from `applied`
    )
    made(kind="breakdown", user=user, model="offline", tokens=500)
    made(kind="breakdown", user=user, model="my-local-model", tokens=700)  # no price
    made(kind="refine", user=user, status="failed", tokens=None)
    made(kind="refine", user=user, review="accepted", days_ago=40, tokens=99_999)  # before
    return {"user": user, "other": other_user}


def test_acceptance_per_kind_and_model(history):
    report = metrics.report(days=30)
    rows = {(a.kind, a.model): (a.accepted, a.rejected, a.reverted) for a in report.acceptance}
    assert rows == {
        ("refine", "gpt-4o-mini"): (3, 1, 1),  # both snapshots, one family
        ("estimate", "gpt-4o"): (4, 1, 0),
        ("breakdown", "offline"): (1, 0, 0),
    }
    refine = next(a for a in report.acceptance if a.kind == "refine")
    assert refine.rate == 0.6
    # Over time: the refine reverted 10 days ago is in an earlier week than the rest.
    weeks = [a for a in report.weeks if a.kind == "refine"]
    assert sum(a.reviewed for a in weeks) == 5
    assert (
        len(weeks) == 2
        or (timezone.now() - timedelta(days=10)).isocalendar()[1] == timezone.now().isocalendar()[1]
    )


def test_edits_before_accepting(history):
    edits = {e.kind: e for e in metrics.report(days=30).edits}
    assert (edits["refine"].accepted, edits["refine"].edited) == (3, 1)
    assert edits["refine"].change == pytest.approx(1 - 2 * 12 / (16 + 12))  # difflib's ratio
    assert (edits["estimate"].accepted, edits["estimate"].edited) == (4, 2)
    assert edits["estimate"].change == 2.5  # |+3| and |-2|
    assert (edits["breakdown"].accepted, edits["breakdown"].edited) == (1, 1)
    assert edits["breakdown"].change == pytest.approx(1 / 3)


def test_estimate_error(history):
    errors = metrics.report(days=30).estimates
    assert errors.count == 4
    assert errors.differences == {-2: 1, 0: 2, 3: 1}
    assert errors.mean_absolute == 1.25
    assert errors.bias == 0.25
    assert errors.exact == 0.5


def test_tokens_and_cost_per_day_and_user(history, user, other_user, settings):
    settings.AI_MONTHLY_TOKEN_BUDGET = 100_000
    TokenBudget.objects.create(user=other_user, monthly_tokens=None)
    report = metrics.report(days=30)
    mini = price("gpt-4o-mini-2024-07-18", 1000)
    four = price("gpt-4o", 1000)
    assert report.total.calls == 14
    assert report.total.tokens == 11 * 1000 + 500 + 700  # the failed call reported none
    assert report.total.cost == 5 * mini + 5 * four  # offline costs 0; unknown prices left out
    assert report.total.unpriced == 1
    assert len(report.per_day) == 31  # every day, those without calls too
    assert sum(d.tokens for d in report.per_day) == report.total.tokens
    users = {u.label: u for u in report.per_user}
    assert users["alice"].calls == 8
    assert users["alice"].tokens == 5000 + 500 + 700
    assert users["alice"].cost == 4 * mini  # her refines; her breakdowns are free or unpriced
    assert (users["alice"].budget, users["bob"].budget) == (100_000, None)
    assert [u.label for u in report.per_user] == ["alice", "bob"]


def test_calibration_before_and_after_on_a_known_skew(user, other_user):
    synthetic([user, other_user], count=600)
    pooled, *kinds = metrics.report(days=30).calibration
    assert pooled.kind == "all"
    assert pooled.reviews == 600
    assert pooled.before > 0.12  # raw r is accepted with probability r²
    assert pooled.after < pooled.before / 2
    assert pooled.fitted
    assert {c.kind for c in kinds} == {"refine", "estimate", "breakdown"}
    assert sum(b.count for b in pooled.bins_before) == 600


def test_ai_report_prints_the_same_figures(history, capsys):
    call_command("ai_report", "--days", "30")
    out = capsys.readouterr().out
    report = metrics.report(days=30)
    assert f"{report.total.calls:,} calls, {report.total.tokens:,} tokens" in out
    assert "(and 1 call of models with no known price)" in out
    for line in [
        "  alice      8   6,200  $0.0015  none",
        "refine     gpt-4o-mini         5         3         1         1   60%",
        "estimate   gpt-4o              5         4         1         0   80%",
        "4 accepted estimates; mean absolute error 1.25 points, bias 0.25 points, applied as "
        "suggested 50%",
        "differences: -2: 1, +0: 2, +3: 1",
    ]:
        assert line in out
    assert "refine            3       1           33%  14% of the words" in out


def test_ai_report_on_an_empty_database(capsys):
    call_command("ai_report")
    out = capsys.readouterr().out
    assert "0 calls, 0 tokens, $0" in out
    assert "No reviewed suggestions." in out


def test_costs_add_up_exactly():
    assert price("gpt-4o", 1000) == Decimal("0.00625")  # 500 * 2.50 + 500 * 10, per million
