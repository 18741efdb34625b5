"""The AI assistant's writes: start a suggestion, stream it from the provider, store the outcome."""

import asyncio
import contextlib
import hashlib
import json
import logging
import math
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Min
from django.utils import timezone

from ai_assist import calibration, review, rows, selectors, usage
from ai_assist.duplicates import duplicates_mark
from ai_assist.estimating import estimate_evidence
from ai_assist.models import Suggestion
from ai_assist.parsing import MAX_ANSWER, AnswerError, ProseSplitter, answer_parse
from ai_assist.prompts import prompt_build
from ai_assist.providers import Completion, ProviderError, get_provider
from ai_assist.workers import worker_id
from config.sql import column, table
from issues.models import Issue

logger = logging.getLogger("ai_assist")

# The request's fields that override the stored issue's, by their context names.
OVERRIDES = {"issueType": "type", "currentDescription": "description", "priority": "priority"}


class TooManyCalls(Exception):
    """The user is at a limit: too many AI calls lately, or running at once, or their monthly
    token budget is spent."""

    def __init__(self, message: str, *, retry_after: int, says_when: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.says_when = says_when  # the message names the moment: no "in N seconds" added


@dataclass(frozen=True)
class Event:
    """One step of a suggestion as it happens: text, ping, confidence, metadata or error."""

    type: str
    value: Any = None


PING = Event("ping")

# How long an Idempotency-Key names its call.
IDEMPOTENCY_WINDOW = timedelta(hours=24)


class IdempotencyConflict(Exception):
    """An Idempotency-Key that named another request; the message is meant for a person."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Started:
    """The suggestion of a call, and whether an earlier call with its key started it."""

    suggestion: Suggestion
    repeat: bool


def suggestion_start_once(*, user: Any, kind: str, data: dict[str, Any], key: str) -> Started:
    """Start a suggestion, unless this user sent the same `key` within IDEMPOTENCY_WINDOW.

    Then return that call's suggestion (a repeat starts nothing and is not counted against
    the limits), or raise IdempotencyConflict if it asked something else. Otherwise as
    suggestion_start; an older call's key is released.
    """
    digest = request_digest(kind=kind, data=data)
    for attempt in range(2):
        try:
            with transaction.atomic():
                earlier = Suggestion.objects.filter(user=user, idempotency_key=key).first()
                if earlier and timezone.now() - earlier.created_at > IDEMPOTENCY_WINDOW:
                    Suggestion.objects.filter(pk=earlier.pk).update(idempotency_key="")
                    earlier = None  # the key is free again
            if earlier and earlier.request_digest != digest:
                raise IdempotencyConflict(
                    "This Idempotency-Key was sent with another request in the last 24 "
                    "hours; use a new key for a new request."
                )
            if earlier:
                return Started(earlier, repeat=True)
            suggestion = suggestion_start(
                user=user, kind=kind, data=data, idempotency_key=key, request_digest=digest
            )
            return Started(suggestion, repeat=False)
        except IntegrityError:
            # The key's unique constraint: another request with it stored its suggestion
            # first; look again, and find it.
            if attempt:
                raise
    raise AssertionError("unreachable")


def request_digest(*, kind: str, data: dict[str, Any]) -> str:
    """Return a digest of an operation and its validated body, to tell requests apart."""
    canonical = json.dumps([kind, data], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def suggestion_start(
    *,
    user: Any,
    kind: str,
    data: dict[str, Any],
    idempotency_key: str = "",
    request_digest: str = "",
) -> Suggestion:
    """Look up the issue's context and store a new suggestion, `streaming` from now on.

    An estimate's context also holds its evidence: the project's most similar past issues and
    its scale (ai_assist/estimating.py). Raise ValidationError (nothing stored) when an unknown
    issue comes without its type and description, and TooManyCalls when the user is at a limit
    (user_check_limits).
    """
    key = data["issueId"]
    issue = selectors.issue_get(key=key)
    if issue is None:
        missing = {
            name: f"Required, since no issue {key} is stored."
            for name in ("issueType", "currentDescription")
            if not data.get(name)
        }
        if missing:
            raise ValidationError(missing)
    overrides = {OVERRIDES[name]: data.get(name) for name in OVERRIDES}
    context = selectors.issue_context(issue=issue, key=key, overrides=overrides)
    # The team's history, read before the transaction: on SQLite it holds the write lock.
    if kind == Suggestion.Kind.ESTIMATE:
        context |= estimate_evidence(issue=issue, context=context)
    elif kind == Suggestion.Kind.BREAKDOWN:
        context |= selectors.breakdown_precedents(issue=issue, context=context)
    return _suggestion_insert(
        user=user,
        kind=kind,
        issue=issue,
        data=data,
        context=context,
        idempotency_key=idempotency_key,
        request_digest=request_digest,
    )


@transaction.atomic
def _suggestion_insert(
    *,
    user: Any,
    kind: str,
    issue: Issue | None,
    data: dict[str, Any],
    context: dict[str, Any],
    idempotency_key: str,
    request_digest: str,
) -> Suggestion:
    user_check_limits(user=user)
    provider = get_provider()
    suggestion = Suggestion(
        kind=kind,
        issue_key=data["issueId"],
        issue=issue,
        user=user,
        request=data,
        context=context,
        provider=provider.name,
        model=provider.model_name(),
        worker=worker_id(),
        issue_updated_at=issue.updated_at if issue else None,
        idempotency_key=idempotency_key,
        request_digest=request_digest,
    )
    return rows.insert(suggestion)


def suggestion_abandon(*, suggestion: Suggestion) -> None:
    """Mark a suggestion whose request ended before its stream ran as `cancelled`."""
    Suggestion.objects.filter(pk=suggestion.pk, status=Suggestion.Status.STREAMING).update(
        status=Suggestion.Status.CANCELLED, finished_at=timezone.now()
    )


@cache
def _limits_sql() -> str:
    """user_check_limits' query, with the models' own names (built once, on first use)."""
    created, status, user = (column(Suggestion, name) for name in ("created_at", "status", "user"))
    return (
        f"SELECT COUNT(CASE WHEN {created} >= %s THEN 1 END),"  # noqa: S608 (the models' names)
        f" COUNT(CASE WHEN {status} = %s AND {created} >= %s THEN 1 END),"
        f" {usage.own_budget_sql()}"
        f" FROM {table(Suggestion)} WHERE {user} = %s AND {created} >= %s"
    )


def user_check_limits(*, user: Any) -> None:
    """Raise TooManyCalls when the user made AI_RATE_LIMIT calls in its period, has
    AI_MAX_CONCURRENT_STREAMS calls running, or has spent their monthly token budget. All count
    the user's stored suggestions (one per call), so they hold across workers and servers.
    """
    allowed, period, period_name = rate_limit()
    cap = settings.AI_MAX_CONCURRENT_STREAMS
    now = timezone.now()
    window_start = now - timedelta(seconds=period)
    # No call runs past its deadline: an older `streaming` row is from a server that died and
    # was not swept yet (workers.sweep), and must not hold the user back.
    running_since = now - timedelta(seconds=settings.AI_DEADLINE + 60)
    # Raw SQL: every AI call runs this, and the ORM would spend ten times the query's own time
    # compiling it (0.45 ms against 0.05 ms). Datetimes go in as the ORM stores them.
    moment = connection.ops.adapt_datetimefield_value
    _lock_user(user)
    with connection.cursor() as cursor:
        # The user's own budget comes along in the same query (a look-up by its unique key):
        # without a budget, the check costs no query more.
        cursor.execute(
            _limits_sql(),
            [
                moment(window_start),
                Suggestion.Status.STREAMING.value,
                moment(running_since),
                user.pk,
                user.pk,
                moment(min(window_start, running_since)),
            ],
        )
        calls, running, own_budget = cursor.fetchone()
    # The budget first: its wait, to the month's turn, is the longest.
    budget = usage.budget_from_sql(own_budget)
    if budget is not None:
        # The tokens of calls still running are not known yet: a call that starts under the
        # budget may end past it, and the next one is refused.
        used = usage.month_tokens(user=user, since=usage.month_of(now)[0])
        if used >= budget:
            message, wait = usage.over_budget(used=used, budget=budget, now=now)
            raise TooManyCalls(message, retry_after=wait, says_when=True)
    if calls >= allowed:
        in_window = Suggestion.objects.filter(user=user, created_at__gte=window_start)
        # None if another connection deleted them since the count.
        oldest = in_window.aggregate(oldest=Min("created_at"))["oldest"] or now
        wait = oldest + timedelta(seconds=period) - now
        raise TooManyCalls(
            f"You made {allowed} AI calls in the last {period_name}; wait a little.",
            retry_after=max(1, math.ceil(wait.total_seconds())),
        )
    if cap and running >= cap:
        raise TooManyCalls(
            "Too many AI calls are running for you; wait for one to end.", retry_after=5
        )


def _lock_user(user: Any) -> None:
    """Lock the user's row until the transaction ends (where the database can).

    One user's calls then start one at a time, as SQLite's write lock has all calls do, so
    that two at the same instant (on PostgreSQL) cannot both take the last slot. NO KEY: rows
    that refer to the user may still be written meanwhile (a review storing its reviewer,
    while it holds the issue this call refers to: each would wait for the other).
    """
    if not connection.features.has_select_for_update:
        return
    table, pk = map(connection.ops.quote_name, (user._meta.db_table, user._meta.pk.column))
    lock = "NO KEY UPDATE" if connection.features.has_select_for_no_key_update else "UPDATE"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {table} WHERE {pk} = %s FOR {lock}", [user.pk])  # noqa: S608


_PERIODS = {"s": (1, "second"), "m": (60, "minute"), "h": (3600, "hour"), "d": (86400, "day")}


def rate_limit() -> tuple[int, int, str]:
    """Read AI_RATE_LIMIT as DRF writes it ("60/min": 60 calls a minute): the calls, the
    period's seconds and its name. Raise ImproperlyConfigured for anything else.
    """
    match = re.fullmatch(r"([0-9]+)/([smhd])[a-z]*", settings.AI_RATE_LIMIT)
    if match is None:
        raise ImproperlyConfigured(
            f"AI_RATE_LIMIT={settings.AI_RATE_LIMIT!r} is not a rate: write it like 60/min "
            "(s, min, hour, day)."
        )
    seconds, name = _PERIODS[match[2]]
    return int(match[1]), seconds, name


async def suggestion_events(
    suggestion: Suggestion, *, keepalive: float | None = None, deadline: float | None = None
) -> AsyncIterator[Event]:
    """Stream a started suggestion: its text, then its confidence and metadata, or one error.

    Whatever happens (an upstream failure, a bad answer, the client leaving), the suggestion is
    stored as it ended. `keepalive` seconds of silence from the upstream yield a PING. The call
    ends by `deadline` (on the event loop's clock; by default AI_DEADLINE from now).
    """
    if deadline is None:
        deadline = call_deadline()
    completion = Completion(model=suggestion.model)
    splitter = ProseSplitter()
    started = time.perf_counter()
    # The prompt is not kept in this frame: only the request needs it, and an open stream
    # would hold it (the issue's context and its history as JSON) to its end.
    prompt = prompt_build(kind=suggestion.kind, context=suggestion.context)
    pump = _Pump(get_provider().stream(prompt, completion), pace=settings.AI_SSE_FLUSH_INTERVAL)
    del prompt
    outcome: dict[str, Any] = {"status": Suggestion.Status.CANCELLED}
    silence = settings.AI_TIMEOUT  # the longest the upstream may say nothing
    size = 0
    try:
        while (text := await pump.take(min(keepalive or silence, silence, _left(deadline)))) != "":
            if _left(deadline) <= 0:
                raise _past_deadline()
            if text is None:
                if pump.silent_for() >= silence:
                    raise ProviderError.timed_out(silence)
                yield PING
                continue
            size += len(text)
            if size > MAX_ANSWER:
                raise AnswerError(f"The AI answer was longer than {MAX_ANSWER:,} characters.")
            if prose := splitter.feed(text):
                yield Event("text", prose)
        prose, block = splitter.finish()
        answer = answer_parse(
            kind=suggestion.kind, prose=prose, block=block, context=suggestion.context
        )
        if suggestion.kind == Suggestion.Kind.BREAKDOWN:  # its subtasks' duplicateOf
            subtasks = answer.result["subtasks"]
            await sync_to_async(duplicates_mark)(subtasks=subtasks, key=suggestion.issue_key)
        metadata = {"suggestionId": suggestion.pk, **answer.metadata}
        confidence = calibration.calibrated(
            kind=suggestion.kind, model=str(completion.model), raw=answer.confidence
        )
        outcome = {
            "status": Suggestion.Status.COMPLETED,
            "result": answer.result,
            "confidence": confidence,
            "raw_confidence": answer.confidence,
            "metadata": metadata,
        }
        await _finish(suggestion, splitter, completion, pump, started, outcome)
        yield Event("confidence", confidence)
        yield Event("metadata", metadata)
    except (ProviderError, AnswerError) as error:
        message = getattr(error, "message", None) or str(error)
        reason = getattr(error, "reason", "bad_answer")
        outcome = {"status": Suggestion.Status.FAILED, "error": message}
        await _finish(suggestion, splitter, completion, pump, started, outcome)
        yield Event("error", ProviderError(message, reason=reason))
    except (asyncio.CancelledError, GeneratorExit):
        if _left(deadline) <= 0:  # its client stopped reading (config.asgi.Handler)
            outcome = {"status": Suggestion.Status.FAILED, "error": _past_deadline().message}
        await _finish(suggestion, splitter, completion, pump, started, outcome)
        raise
    except Exception:
        logger.exception("AI suggestion %s failed", suggestion.pk)
        outcome = {"status": Suggestion.Status.FAILED, "error": "Something went wrong on our side."}
        await _finish(suggestion, splitter, completion, pump, started, outcome)
        yield Event("error", ProviderError(outcome["error"], reason="internal"))


def call_deadline() -> float:
    """Return when a call starting now must end, on the event loop's clock."""
    return asyncio.get_running_loop().time() + settings.AI_DEADLINE


def _left(deadline: float) -> float:
    return deadline - asyncio.get_running_loop().time()


def error_reason(message: str) -> str:
    """Return the reason of a stored error: TIMEOUT for the two time-outs, which name the
    setting to raise (AI_TIMEOUT, AI_DEADLINE), and nothing else does."""
    timed_out = "AI_TIMEOUT" in message or "AI_DEADLINE" in message
    return ProviderError.TIMEOUT if timed_out else "unavailable"


def _past_deadline() -> ProviderError:
    return ProviderError(
        f"The AI call took longer than {settings.AI_DEADLINE:g} seconds (AI_DEADLINE) and was "
        "ended.",
        reason=ProviderError.TIMEOUT,
    )


async def _finish(
    suggestion: Suggestion,
    splitter: ProseSplitter,
    completion: Completion,
    pump: "_Pump",
    started: float,
    outcome: dict[str, Any],
) -> None:
    """Close the upstream at once, then store how the suggestion ended and log it."""
    await pump.close()
    fields = {
        "text": "".join(splitter.prose),  # what the client was sent, whatever the outcome
        # What the upstream says of itself is checked like the rest of its answer.
        "model": str(completion.model)[: Suggestion._meta.get_field("model").max_length],
        **{name: _count(completion.usage.get(name)) for name in _USAGE},
        "time_to_first_token_ms": _ms(pump.first_at, started),
        "duration_ms": _ms(time.perf_counter(), started),
        "finished_at": timezone.now(),
        **outcome,
    }
    fields["cost_usd"] = usage.call_cost(
        provider=suggestion.provider,
        model=fields["model"],
        prompt_tokens=fields["prompt_tokens"],
        completion_tokens=fields["completion_tokens"],
    )
    try:
        await sync_to_async(rows.update)(suggestion.pk, fields)
    except Exception:
        # Whatever made the write fail, the suggestion must not stay `streaming`.
        logger.exception("AI suggestion %s could not be stored as it ended", suggestion.pk)
        fields = {
            "status": Suggestion.Status.FAILED,
            "error": "The answer could not be stored.",
            "finished_at": fields["finished_at"],
        }
        await sync_to_async(rows.update)(suggestion.pk, fields)
    for name, value in fields.items():
        setattr(suggestion, name, value)
    logger.info(
        "ai %s suggestion=%s status=%s ttft_ms=%s total_ms=%s tokens=%s",
        suggestion.kind,
        suggestion.pk,
        fields["status"],
        fields["time_to_first_token_ms"],
        fields["duration_ms"],
        fields["total_tokens"],
    )


_USAGE = ("prompt_tokens", "completion_tokens", "total_tokens")


def _count(value: Any) -> int | None:
    """Return a token count as the upstream gave it, or None if it is not one."""
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31
    return value if ok else None


def _ms(moment: float | None, started: float) -> float | None:
    return None if moment is None else round((moment - started) * 1000, 1)


class _Pump:
    """Read the provider in a task of its own, so that the reader can wait with a time-out
    (for keep-alive pings) without cancelling a read, and take at once all that arrived while
    it was busy: a client slower than the upstream gets fewer, larger events, not more delay.

    After each read it waits for the next tick of a clock that ticks every `pace` seconds, so
    that a stream sends at most one event per tick however fast the tokens come (the first
    text is never held back).
    """

    def __init__(self, source: AsyncIterator[str], *, pace: float = 0) -> None:
        self.first_at: float | None = None
        self._pace = pace
        self._heard_at = time.perf_counter()
        self._pieces: list[str] = []
        # A future only while the reader waits (an asyncio.Event would hold a deque, 0.8 KB).
        self._waiter: asyncio.Future[None] | None = None
        self._error: BaseException | None = None
        self._done = False
        self._task = asyncio.create_task(self._run(source))

    async def _run(self, source: AsyncIterator[str]) -> None:
        try:
            async with contextlib.aclosing(source):  # type: ignore[type-var]
                async for piece in source:
                    self._heard_at = time.perf_counter()
                    if self.first_at is None:
                        self.first_at = self._heard_at
                    self._pieces.append(piece)
                    self._wake()
                    if self._pace:
                        # Let the next tokens gather in the socket meanwhile: one read and one
                        # event for all of them costs a fraction of one each. Every stream
                        # reads on the same ticks of the loop's clock, so that the process
                        # wakes once per tick for all of them and their events leave together;
                        # a tick less than half a pace away (a timer that fired a little early,
                        # a read that came late) is skipped.
                        wait = self._pace - asyncio.get_running_loop().time() % self._pace
                        await asyncio.sleep(wait if wait > self._pace / 2 else wait + self._pace)
        except Exception as error:
            self._error = error
        finally:
            self._done = True
            self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def take(self, patience: float) -> str | None:
        """Return all text that arrived since the last call, waiting for some if need be.

        Return None when `patience` seconds passed with nothing, and "" once the answer ended;
        raise what the provider raised.
        """
        while not self._pieces:
            if self._done:
                if self._error is not None:
                    raise self._error
                return ""
            loop = asyncio.get_running_loop()
            self._waiter = loop.create_future()
            # A plain timer rather than asyncio.wait_for(), whose time-out scope costs several
            # times as much, and this runs before every event of every stream.
            timer = loop.call_later(patience, self._wake)
            try:
                await self._waiter
            finally:
                self._waiter = None
                timer.cancel()
            if not self._pieces and not self._done:
                return None  # the patience ran out
        text = "".join(self._pieces)
        self._pieces.clear()
        return text

    def silent_for(self) -> float:
        """Return the seconds since the provider last sent something (or since the start)."""
        return time.perf_counter() - self._heard_at

    async def close(self) -> None:
        """Stop reading; the provider's stream is closed before this returns."""
        if not self._task.done():
            self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def suggestion_answer(*, suggestion: Suggestion) -> dict[str, Any]:
    """Run a started suggestion to its end for a caller that does not stream.

    Return what the stream would have carried, as the legacy JSON endpoints answer it:
    suggestionId, kind, text, confidence and metadata. Raise the error event's ProviderError
    when it failed (the suggestion is stored failed all the same).
    """

    async def collect() -> dict[str, Any]:
        answer: dict[str, Any] = {"text": []}
        async with contextlib.aclosing(suggestion_events(suggestion)) as events:  # type: ignore[type-var]
            async for event in events:
                if event.type == "text":
                    answer["text"].append(event.value)
                elif event.type != "ping":
                    answer[event.type] = event.value
        return answer

    answer = async_to_sync(collect)()
    if "error" in answer:
        raise answer["error"]
    return {
        "suggestionId": suggestion.pk,
        "kind": suggestion.kind,
        "text": "".join(answer["text"]),
        "confidence": answer["confidence"],
        "metadata": answer["metadata"],
    }


class SuggestionConflict(Exception):
    """A suggestion cannot be reviewed as asked; the message is meant for a person."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Acceptance:
    """An accepted suggestion, the issue it was applied to and the issues it created."""

    suggestion: Suggestion
    issue: Issue
    created: list[Issue]


@transaction.atomic
def suggestion_accept(
    *, suggestion: Suggestion, user: Any, changes: dict[str, Any] | None = None
) -> Acceptance:
    """Apply a completed, pending suggestion to its issue and mark it accepted, all or nothing.

    Refine sets the description, estimate the story points, breakdown creates the subtasks
    under the issue: as proposed, or as `changes` (the accept's body, validated by
    serializers.AcceptSerializer) has them. The suggestion keeps what was applied, whether it
    was edited, and what undoing it needs. Raise SuggestionConflict when the suggestion is not
    completed and pending, when its issue is not stored, or when the field it would overwrite
    changed since.
    """
    suggestion = _locked_for_review(suggestion)
    issue = _issue_to_apply(suggestion)
    proposed = review.proposal(suggestion)
    applied = changes or proposed
    if suggestion.kind in review.FIELDS:
        _check_unchanged(suggestion, issue, field=review.FIELDS[suggestion.kind][0])
    try:
        created, undo = review.apply(kind=suggestion.kind, issue=issue, applied=applied)
    except ValidationError as error:  # parsing bounds what it applies; this is the last guard
        raise SuggestionConflict(
            f"This suggestion cannot be applied to {issue.key}: {' '.join(error.messages)}"
        ) from error
    suggestion.issue = issue  # an issue stored under the key since the suggestion was made
    suggestion.applied = applied
    suggestion.edited = applied != proposed
    suggestion.undo = undo
    _mark_reviewed(suggestion, user, Suggestion.ReviewStatus.ACCEPTED)
    return Acceptance(suggestion=suggestion, issue=issue, created=created)


@dataclass(frozen=True)
class Reversal:
    """A reverted suggestion, its issue as it is now (None if deleted) and the keys deleted."""

    suggestion: Suggestion
    issue: Issue | None
    deleted: list[str]


@transaction.atomic
def suggestion_revert(*, suggestion: Suggestion, user: Any) -> Reversal:
    """Undo an accepted suggestion, all or nothing, and mark it reverted.

    The description or points it replaced come back; the issues it created are deleted.
    Raise SuggestionConflict when it is not accepted, or when anything it touched changed
    since (the message names what).
    """
    suggestion = Suggestion.objects.select_for_update().get(pk=suggestion.pk)
    if suggestion.review_status != Suggestion.ReviewStatus.ACCEPTED:
        state = suggestion.review_status
        raise SuggestionConflict(
            "Only an accepted suggestion can be undone; this one is "
            f"{'not reviewed' if state == Suggestion.ReviewStatus.PENDING else state}."
        )
    if suggestion.undo is None:
        raise SuggestionConflict(
            "This suggestion was accepted before undo was possible, so it cannot be undone."
        )
    if changes := review.changes_since(suggestion.undo):
        raise SuggestionConflict(
            f"This suggestion cannot be undone: {'; '.join(changes)} since it was accepted. "
            "Undoing it would lose that change."
        )
    issue, deleted = review.undo(suggestion.undo)
    suggestion.review_status = Suggestion.ReviewStatus.REVERTED
    suggestion.reverted_by = user
    suggestion.reverted_at = timezone.now()
    suggestion.save(update_fields=["review_status", "reverted_by", "reverted_at"])
    return Reversal(suggestion=suggestion, issue=issue, deleted=deleted)


@transaction.atomic
def suggestion_reject(*, suggestion: Suggestion, user: Any) -> Suggestion:
    """Mark a completed, pending suggestion rejected; raise SuggestionConflict otherwise."""
    suggestion = _locked_for_review(suggestion)
    _mark_reviewed(suggestion, user, Suggestion.ReviewStatus.REJECTED)
    return suggestion


def _locked_for_review(suggestion: Suggestion) -> Suggestion:
    # The row lock (PostgreSQL) or the write lock that SQLite's IMMEDIATE transaction takes
    # makes a second, concurrent review wait here and then see the first one's outcome.
    suggestion = Suggestion.objects.select_for_update().get(pk=suggestion.pk)
    if suggestion.status != Suggestion.Status.COMPLETED:
        raise SuggestionConflict(
            f"Only a completed suggestion can be reviewed; this one is {suggestion.status}."
        )
    if suggestion.review_status != Suggestion.ReviewStatus.PENDING:
        raise SuggestionConflict(f"This suggestion was already {suggestion.review_status}.")
    return suggestion


def _issue_to_apply(suggestion: Suggestion) -> Issue:
    # An issue that was not stored when the suggestion was made may have been created since.
    issue = (
        Issue.objects.select_for_update().filter(pk=suggestion.issue_id).first()
        if suggestion.issue_id
        else Issue.objects.select_for_update().filter(key=suggestion.issue_key).first()
    )
    if issue is None:
        raise SuggestionConflict(
            f"No issue {suggestion.issue_key} is stored, so there is nothing to apply this "
            "suggestion to; create the issue first."
        )
    return issue


_CONTEXT_NAMES = {"description": "description", "story_points": "storyPoints"}


def _check_unchanged(suggestion: Suggestion, issue: Issue, *, field: str) -> None:
    # The context holds the field as the prompt saw it; that may be the request's draft rather
    # than the stored value, so only an edit saved since the context was read is a change.
    seen = suggestion.context.get(_CONTEXT_NAMES[field])
    if suggestion.issue_updated_at is not None:
        saved_since = issue.updated_at != suggestion.issue_updated_at
    else:  # an issue stored under the key after the suggestion was made
        saved_since = issue.updated_at > suggestion.created_at
    if getattr(issue, field) != seen and saved_since:
        raise SuggestionConflict(
            f"{issue.key}'s {Issue._meta.get_field(field).verbose_name} changed after this "
            "suggestion was made; accepting it would overwrite that change. Ask for a new one."
        )


def _mark_reviewed(suggestion: Suggestion, user: Any, review_status: str) -> None:
    suggestion.review_status = review_status
    suggestion.reviewed_by = user
    suggestion.reviewed_at = timezone.now()
    fields = ["issue", "review_status", "reviewed_by", "reviewed_at", "applied", "edited", "undo"]
    suggestion.save(update_fields=fields)
