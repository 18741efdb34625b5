"""Confidence calibrated on review outcomes: the fit, its effect on a known skew, its use."""

import random
import time
from typing import Any

import pytest
from django.utils import timezone
from model_bakery import baker

from ai_assist import calibration
from ai_assist.calibration import Review, calibration_error, cross_validated, fits_for, isotonic
from ai_assist.models import Suggestion
from tests.ai_assist.sse_client import read_stream
from tests.ai_assist.suggestions import suggest

BODY = {"issueId": "ISSUE-1", "issueType": "STORY", "currentDescription": "Log in with email."}


@pytest.fixture(autouse=True)
def _no_fits_between_tests() -> Any:
    calibration._fits, calibration._fitted_at = {}, None
    yield
    calibration._fits, calibration._fitted_at = {}, None


def test_isotonic_regression_pools_adjacent_violators():
    fit = isotonic([(0.1, 0), (0.2, 1), (0.3, 0), (0.4, 1), (0.4, 1)])
    # 0.2 and 0.3 violate the order (1 then 0): pooled to their mean; ties pooled first.
    assert fit.xs == (0.1, 0.2, 0.3, 0.4)
    assert fit.ys == (0.0, 0.5, 0.5, 1.0)
    assert fit(0.15) == pytest.approx(0.25)  # linear between the points
    assert fit(0.0) == 0.0  # flat beyond the ends
    assert fit(1.0) == 1.0
    assert fit.reviews == 5


def test_isotonic_regression_is_the_least_squares_increasing_fit():
    rng = random.Random(7)
    points = [(round(rng.random(), 1), float(rng.random() < 0.5)) for _ in range(200)]
    fit = isotonic(points)
    assert list(fit.ys) == sorted(fit.ys)  # increasing
    # Each pooled block keeps its mean, so the fit keeps the overall acceptance rate.
    assert sum(fit(x) for x, _ in points) == pytest.approx(sum(y for _, y in points))
    # And no small increasing change of it fits better.
    error = sum((fit(x) - y) ** 2 for x, y in points)
    for step in (-0.01, 0.01):
        shifted = [min(1.0, max(0.0, v + step)) for v in fit.ys]
        other = calibration.Fit(xs=fit.xs, ys=tuple(shifted), reviews=fit.reviews)
        assert sum((other(x) - y) ** 2 for x, y in points) >= error


def skewed_history(n: int, rng: random.Random, kind: str = "estimate") -> list[Review]:
    """Reviews whose raw confidence says more than it should: a raw r is accepted with
    probability r² (an overconfident scorer; at 0.9, 81%; at 0.5, 25%)."""
    history = []
    for _ in range(n):
        raw = round(rng.uniform(0.3, 1.0), 2)
        history.append(Review(kind, "gpt-4o-mini", raw, rng.random() < raw * raw))
    return history


@pytest.mark.parametrize(("reviews", "most_after"), [(30, 0.11), (300, 0.045), (2000, 0.025)])
def test_calibration_lowers_the_expected_calibration_error_of_a_known_skew(reviews, most_after):
    rng = random.Random(19)
    fits = fits_for(skewed_history(reviews, rng))
    unseen = skewed_history(20_000, rng)  # scored on reviews the fit never saw

    before = calibration_error([(r.raw, r.accepted) for r in unseen])
    after = calibration_error(
        [
            (calibration.apply(fits, kind=r.kind, model=r.model, raw=r.raw), r.accepted)
            for r in unseen
        ]
    )
    assert before == pytest.approx(0.18, abs=0.02)  # E[r - r²] over U(0.3, 1)
    assert after < most_after  # 0.099, 0.041 and 0.020 with this seed


def test_thirty_reviews_do_little_harm_to_a_scorer_already_calibrated():
    """Thirty reviews make a noisy fit; weighed against the raw figure it stays near it."""
    rng = random.Random(5)

    def honest(n: int) -> list[Review]:
        return [
            Review("refine", "m", raw := round(rng.uniform(0.3, 1.0), 2), rng.random() < raw)
            for _ in range(n)
        ]

    fits = fits_for(honest(30))
    unseen = honest(20_000)
    before = calibration_error([(r.raw, r.accepted) for r in unseen])
    after = calibration_error(
        [(calibration.apply(fits, kind="refine", model="m", raw=r.raw), r.accepted) for r in unseen]
    )
    unweighed = calibration_error(
        [(round(fits["refine", None](r.raw), 2), r.accepted) for r in unseen]
    )
    assert before < 0.01
    assert after < 0.08
    assert after < unweighed


def test_the_calibrated_figure_recovers_the_known_acceptance_rate():
    rng = random.Random(1)
    fit = fits_for(skewed_history(5000, rng))["estimate", None]
    for raw in (0.5, 0.7, 0.9):
        assert fit(raw) == pytest.approx(raw * raw, abs=0.06)


def test_fewer_than_30_reviews_leave_the_raw_figure():
    history = skewed_history(29, random.Random(2))
    assert fits_for(history) == {}
    assert calibration.apply({}, kind="estimate", model="gpt-4o-mini", raw=0.83) == 0.83


def test_a_fit_per_kind_and_model_where_there_are_enough_reviews():
    history = [Review("refine", "gpt-4o", 0.8, True)] * 30
    history += [Review("refine", "gpt-4o-mini", 0.8, False)] * 30
    history += [Review("refine", "offline", 0.8, True)] * 10  # too few for a fit of its own
    fits = fits_for(history)
    # Each fit weighs n / (n + 30) against the raw figure: 30 reviews, half and half.
    assert calibration.apply(fits, kind="refine", model="gpt-4o-2024-08-06", raw=0.8) == 0.9
    assert calibration.apply(fits, kind="refine", model="gpt-4o-mini", raw=0.8) == 0.4
    # The kind's fit over all models: 40 of 70 accepted, weighed 70 to 30.
    assert calibration.apply(fits, kind="refine", model="offline", raw=0.8) == 0.64
    assert calibration.apply(fits, kind="estimate", model="gpt-4o", raw=0.8) == 0.8


def test_cross_validation_scores_each_review_by_a_fit_made_without_it():
    history = skewed_history(500, random.Random(3))
    calibrated = cross_validated(history)
    pairs = [(c, r.accepted) for c, r in zip(calibrated, history, strict=True)]
    assert calibration_error(pairs) < calibration_error([(r.raw, r.accepted) for r in history])


def stored_reviews(*, kind: str, raw: float, accepted: int, rejected: int, **more: Any) -> None:
    """Reviewed suggestions (of no one in particular: they must not count against the user's
    rate limit)."""
    statuses = ["accepted"] * accepted + ["rejected"] * rejected
    for status in statuses:
        baker.make(
            Suggestion,
            kind=kind,
            status="completed",
            model=more.get("model", "offline"),
            confidence=raw,
            raw_confidence=raw,
            review_status=status,
            reviewed_at=timezone.now(),
        )


@pytest.mark.django_db
def test_the_confidence_sent_is_calibrated_and_the_raw_one_stored_beside_it(user):
    # 40 reviewed estimates said 90% and 18 were accepted: 90% means 45% here.
    stored_reviews(kind="estimate", raw=0.9, accepted=18, rejected=22)
    # Pending, failed and other kinds' suggestions are no evidence for estimates.
    baker.make(Suggestion, kind="estimate", status="completed", confidence=0.9, _quantity=5)
    stored_reviews(kind="refine", raw=0.9, accepted=0, rejected=29)
    calibration.refresh()

    estimate = suggest(user, "estimate", key="NEW-1", issueType="STORY", currentDescription="Go.")
    raw = estimate.raw_confidence
    assert raw is not None
    assert estimate.confidence == round((40 * 0.45 + 30 * raw) / 70, 2) != raw

    refine = suggest(user, "refine", key="NEW-1", issueType="STORY", currentDescription="Go.")
    assert refine.confidence == refine.raw_confidence  # 29 reviews: not enough, sent raw


@pytest.mark.django_db
def test_reverted_counts_against_and_old_suggestions_count_by_their_confidence(user):
    stored_reviews(kind="breakdown", raw=0.7, accepted=20, rejected=0)
    baker.make(
        Suggestion,
        kind="breakdown",
        status="completed",
        model="offline",
        confidence=0.7,
        raw_confidence=None,  # made before the raw figure was stored apart
        review_status="reverted",
        _quantity=20,
    )
    fits = calibration.refresh()
    assert fits["breakdown", None].reviews == 40
    # Half accepted, weighed 40 to 30 against the raw 0.7.
    assert calibration.calibrated(kind="breakdown", model="offline", raw=0.7) == 0.59


@pytest.mark.django_db(transaction=True)
def test_each_server_process_refits_at_its_heartbeat(service_factory, auth, fake):
    server = service_factory(AI_HEARTBEAT="0.2", AI_CALIBRATION_REFRESH="0")
    try:
        refits(server, auth)
    finally:
        # It sweeps every 0.2 s: left running, it would take other tests' calls (their
        # servers' heartbeat rows go with the flush after each test) for a dead process's.
        server.stop()


def refits(server: Any, auth: dict[str, str]) -> None:
    with server.client() as client:
        first = read_stream(client, "/api/ai/estimate-points-stream", BODY, headers=auth)
    raw = first.value("confidence")
    assert raw > 0  # nothing reviewed yet: the raw figure

    # Thirty estimates of this model were rejected since: the server learns it without a
    # restart.
    stored_reviews(kind="estimate", raw=raw, accepted=0, rejected=30, model="gpt-4o-mini")
    deadline = time.monotonic() + 10
    while True:
        with server.client() as client:
            stream = read_stream(client, "/api/ai/estimate-points-stream", BODY, headers=auth)
        if stream.value("confidence") == round(raw / 2, 2):  # 0 weighed 30 to 30 against raw
            break
        assert time.monotonic() < deadline, "the server never refitted"
        time.sleep(0.2)
    stored = Suggestion.objects.get(pk=stream.value("metadata")["suggestionId"])
    assert (stored.confidence, stored.raw_confidence) == (round(raw / 2, 2), raw)
