"""A running generation, apart from the connections that watch it.

A suggestion's call runs in a task of its own (a Generation) that keeps its text so far and
wakes its readers at each change. Readers (a stream's response, GET .../events, a JSON call
waiting for the end) come and go: each replays what it has not seen, then follows live. When
the last one leaves, the call goes on for AI_DETACH_GRACE seconds, for a reader to come back;
then it ends `cancelled`. A reader in another server process follows through the database:
it marks the suggestion followed, and every TICK each process writes the text of its calls
that are followed (and NOTIFYs on PostgreSQL), and stops those that were asked to stop.

Event ids are places in the text: a text event's id is the length of the text up to its end,
and the closing events follow it (confidence or an error: length + 1; metadata: length + 2).
A reader that resumes after id n gets text[n:], however it was cut before, then the closing
events: the text it puts together is the stored one, with no gap and no duplicate.
"""

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import psycopg
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from ai_assist import services, sse
from ai_assist.models import Suggestion, Worker
from ai_assist.providers import ProviderError
from ai_assist.workers import WORKER_ID
from config.sql import column, table

logger = logging.getLogger("ai_assist")

STOPPED = "The suggestion was stopped."
STREAMING = Suggestion.Status.STREAMING
TICK = 0.1  # seconds between a process's looks at what other processes asked of it
FOLLOW_TTL = 3.0  # a follower's mark holds this long; renewed every RENEW seconds
RENEW = 1.0
NOTIFIED_POLL = 0.5  # on PostgreSQL, followers poll this often beside NOTIFY
CANCEL_WAIT = 5.0  # the longest a cancel waits for another process to stop its call
CHANNEL = "ai_assist_suggestion"

_generations: dict[int, "Generation"] = {}  # the calls running in this process
_remotes: dict[int, "Remote"] = {}  # calls of other processes that readers here follow


@dataclass
class _Hub:
    renew_now: bool = False  # a new follower here: mark it at the next tick
    notified: set[int] = field(default_factory=set)  # suggestions NOTIFY said were written
    wakeup: asyncio.Event | None = None
    listener: asyncio.Task | None = None
    tasks: set[asyncio.Task] = field(default_factory=set)  # held until they end


_hub = _Hub()


class Stopped(Exception):
    """The suggestion was stopped (cancelled) before it ended."""


class Feed:
    """What this process knows of a suggestion's events: its text so far, its closing events
    (confidence and metadata, or one error) once it ended, and futures that wake its readers
    at each change."""

    __slots__ = ("_waiters", "closing", "done", "pieces", "pings", "readers", "size")

    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.size = 0  # characters of text so far
        self.pings = 0  # keep-alive pings so far
        self.closing: list[tuple[int, bytes]] = []  # (id, encoded event)
        self.done = False
        self.readers = 0
        self._waiters: list[asyncio.Future[None]] = []

    def text_after(self, offset: int) -> str:
        """Return the text from character `offset` on."""
        parts = []
        end = self.size
        for piece in reversed(self.pieces):  # a reader following live wants the last piece
            if end <= offset:
                break
            start = end - len(piece)
            parts.append(piece[offset - start :] if start < offset else piece)
            end = start
        return "".join(reversed(parts))

    def changed(self) -> asyncio.Future[None]:
        """Return a future, the caller's own, done at the next change."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        return waiter

    def _wake(self) -> None:
        if self._waiters:
            for waiter in self._waiters:
                if not waiter.done():  # a reader that left cancelled its own
                    waiter.set_result(None)
            self._waiters.clear()

    async def finished(self) -> None:
        while not self.done:
            await self.changed()

    def attach(self) -> None:
        self.readers += 1

    def detach(self) -> None:
        self.readers -= 1


def _ended(suggestion: Suggestion) -> Feed:
    """A feed of a suggestion that has ended, as stored."""
    feed = Feed()
    if suggestion.text:
        feed.pieces.append(suggestion.text)
        feed.size = len(suggestion.text)
    feed.closing = closing_events(suggestion, feed.size)
    feed.done = True
    return feed


def closing_events(suggestion: Suggestion, size: int) -> list[tuple[int, bytes]]:
    """Return the events that end a suggestion's stream, as stored, after `size` characters."""
    if suggestion.status == Suggestion.Status.COMPLETED:
        return [
            _closing(size + 1, {"type": "confidence", "value": suggestion.confidence}),
            _closing(size + 2, {"type": "metadata", "value": suggestion.metadata}),
        ]
    if suggestion.status == Suggestion.Status.FAILED:
        message = suggestion.error or "Something went wrong on our side."
    else:  # cancelled, or still `streaming` if even storing that failed
        message = STOPPED
    return [_closing(size + 1, {"type": "error", "message": message})]


def _closing(id: int, payload: dict[str, Any]) -> tuple[int, bytes]:
    return id, sse.event(payload, id=id)


class Generation(Feed):
    """A suggestion's call running in this process, in a task of its own."""

    __slots__ = ("_stopping", "_timer", "error", "remote_until", "suggestion", "task", "written")

    def __init__(self, suggestion: Suggestion, *, deadline: float) -> None:
        super().__init__()
        self.suggestion = suggestion
        self.error: ProviderError | None = None  # its error event's, for a JSON answer
        self.remote_until = 0.0  # followed from another process until then (the loop's clock)
        self.written = 0  # how much of its text the database holds, for those followers
        self._stopping = False
        self._timer: asyncio.TimerHandle | None = None
        _generations[suggestion.pk] = self
        events = services.suggestion_events(
            suggestion, keepalive=settings.AI_SSE_KEEPALIVE, deadline=deadline
        )
        # Started at once, up to its first wait, so that a cancel from any moment on finds it
        # running and stores it cancelled. In a context of its own: its work in the database
        # must not go to the thread of the request that started it, which it may outlive.
        self.task = asyncio.Task(
            self._run(events),
            loop=asyncio.get_running_loop(),
            context=contextvars.Context(),
            eager_start=True,
        )

    async def _run(self, events: AsyncIterator[services.Event]) -> None:
        try:
            async with contextlib.aclosing(events):  # type: ignore[type-var]
                async for event in events:
                    self._publish(event)
        except asyncio.CancelledError:
            pass  # suggestion_events stored how it ended (cancelled, or failed past its deadline)
        except Exception:
            logger.exception("AI suggestion %s could not run", self.suggestion.pk)
        finally:
            self._end()

    def _publish(self, event: services.Event) -> None:
        if event.type == "text":
            self.pieces.append(event.value)
            self.size += len(event.value)
        elif event.type == "ping":
            self.pings += 1
        else:
            self._close(event)
        self._wake()

    def _close(self, event: services.Event) -> None:
        if not self.closing and len(stored := self.suggestion.text) > self.size:
            # What the splitter held back to the end (a backtick that might have opened the
            # JSON block) is stored with the text: sent too, the text sent is the stored one.
            self.pieces.append(stored[self.size :])
            self.size = len(stored)
        if event.type == "error":
            self.error = event.value
            payload = {"type": "error", "message": event.value.message}
        else:
            payload = {"type": event.type, "value": event.value}
        self.closing.append(_closing(self.size + 1 + len(self.closing), payload))

    def _end(self) -> None:
        if not self.closing:  # stopped: no event said how it ended, the stored row does
            self.closing = closing_events(self.suggestion, self.size)
        self.done = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if _generations.get(self.suggestion.pk) is self:
            del _generations[self.suggestion.pk]
        self._wake()

    def cancel(self) -> None:
        """Stop the call now: its upstream is closed, and it is stored cancelled."""
        if not (self.done or self.closing or self._stopping):
            self._stopping = True
            self.task.cancel()

    def attach(self) -> None:
        self.readers += 1
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def detach(self) -> None:
        self.readers -= 1
        if self.readers or self.done:
            return
        loop = asyncio.get_running_loop()
        grace = max(settings.AI_DETACH_GRACE, self.remote_until - loop.time())
        if grace <= 0:
            self.cancel()
        else:
            self._timer = loop.call_later(grace, self._grace_over)

    def _grace_over(self) -> None:
        self._timer = None
        if self.readers or self.done:
            return
        loop = asyncio.get_running_loop()
        if (left := self.remote_until - loop.time()) > 0:
            self._timer = loop.call_later(left, self._grace_over)
        else:
            _spawn(self._cancel_unless_followed())

    async def _cancel_unless_followed(self) -> None:
        # A reader in another process may have marked it since this process last looked.
        try:
            followed = await sync_to_async(_followed)(self.suggestion.pk)
        except Exception:  # the database is out of reach: nobody follows from elsewhere
            logger.exception(
                "AI suggestion %s: could not tell whether it is followed", self.suggestion.pk
            )
            followed = False
        if self.readers or self.done or self._timer is not None:
            return
        if followed:
            self.remote_until = asyncio.get_running_loop().time() + FOLLOW_TTL
            self._timer = asyncio.get_running_loop().call_later(FOLLOW_TTL, self._grace_over)
        else:
            self.cancel()


def _followed(pk: int) -> bool:
    return Suggestion.objects.filter(pk=pk, followed_until__gte=timezone.now()).exists()


class Remote(Feed):
    """A suggestion running in another process, followed here through the database."""

    __slots__ = ("heard_at", "pk")

    def __init__(self, suggestion: Suggestion) -> None:
        super().__init__()
        self.pk = suggestion.pk
        self.heard_at = asyncio.get_running_loop().time()
        _remotes[self.pk] = self
        _hub.renew_now = True
        if connection.vendor == "postgresql":
            _listen_soon()
        self.update(suggestion.status, suggestion.text, suggestion)

    def update(self, status: str, more: str, ended: Suggestion | None) -> None:
        """Take what the database holds beyond the text known here (its process writes a
        longer prefix each time) and, once `status` says it ended, the closing events of the
        row `ended`."""
        if more:
            self.pieces.append(more)
            self.size += len(more)
            self.heard_at = asyncio.get_running_loop().time()
        if status != STREAMING and ended is not None:
            self.closing = closing_events(ended, self.size)
            self.done = True
            if _remotes.get(self.pk) is self:
                del _remotes[self.pk]
        self._wake()

    def detach(self) -> None:
        self.readers -= 1
        if not self.readers and _remotes.get(self.pk) is self:
            del _remotes[self.pk]  # its mark lapses by itself


class Reader:
    """One reader of a feed, from the event after id `after`: attached until closed."""

    __slots__ = ("_attached", "after", "feed")

    def __init__(self, feed: Feed, *, after: int = 0) -> None:
        self.feed = feed
        self.after = after
        self._attached = True
        feed.attach()

    def close(self) -> None:
        if self._attached:
            self._attached = False
            self.feed.detach()

    async def events(self) -> AsyncIterator[bytes]:
        """Yield the events after `after`, encoded, then each change, to the end; then close."""
        feed = self.feed
        sent = self.after
        pings = feed.pings
        try:
            while True:
                size = feed.size
                if size > sent:
                    text = feed.text_after(sent)
                    sent = size
                    pings = feed.pings
                    yield sse.text(text, id=size)
                elif pings != feed.pings:
                    pings = feed.pings
                    yield sse.PING
                elif feed.done:
                    # An id past all of them: the reader saw text that was never stored (its
                    # process died); it still learns how the suggestion ended.
                    beyond = sent > feed.closing[-1][0]
                    for id, data in feed.closing:
                        if id > sent or beyond:
                            yield data
                    return
                else:
                    await feed.changed()
        finally:
            self.close()


def start(suggestion: Suggestion, *, deadline: float) -> Reader:
    """Run a suggestion just stored `streaming` in this process; return its first reader."""
    return Reader(Generation(suggestion, deadline=deadline))


def read(suggestion: Suggestion, *, after: int = 0) -> Reader:
    """Return a reader of a suggestion as just read from the database (see follow_mark):
    replayed if it ended, else followed live, here or in its process through the database."""
    if suggestion.status != STREAMING:
        return Reader(_ended(suggestion), after=after)
    feed = _generations.get(suggestion.pk) or _remotes.get(suggestion.pk) or Remote(suggestion)
    return Reader(feed, after=after)


def follow_mark(suggestion: Suggestion) -> None:
    """Mark a suggestion that runs in another process as followed from this one, so that its
    process writes its text as it grows. Sync: call it where the suggestion is read."""
    if suggestion.status == STREAMING and suggestion.worker != WORKER_ID:
        Suggestion.objects.filter(pk=suggestion.pk, status=STREAMING).update(
            followed_until=timezone.now() + timedelta(seconds=FOLLOW_TTL)
        )


async def answer(started: services.Started) -> dict[str, Any]:
    """Run (or, for a repeat, wait for) a JSON call's suggestion to its end; return its answer
    as services.suggestion_answer does. Raise its ProviderError, or Stopped."""
    suggestion = started.suggestion
    if started.repeat:
        reader = read(suggestion)
    else:
        reader = start(suggestion, deadline=services.call_deadline())
    try:
        await reader.feed.finished()
    finally:
        reader.close()
    error = None
    if isinstance(reader.feed, Generation):  # as it stored how it ended
        suggestion, error = reader.feed.suggestion, reader.feed.error
    elif isinstance(reader.feed, Remote):
        suggestion = await sync_to_async(Suggestion.objects.get)(pk=suggestion.pk)
    if suggestion.status == Suggestion.Status.COMPLETED:
        return {
            "suggestionId": suggestion.pk,
            "kind": suggestion.kind,
            "text": suggestion.text,
            "confidence": suggestion.confidence,
            "metadata": suggestion.metadata,
        }
    if suggestion.status == Suggestion.Status.FAILED:
        raise error or ProviderError(
            suggestion.error, reason=services.error_reason(suggestion.error)
        )
    raise Stopped(STOPPED)


async def cancel(suggestion: Suggestion) -> Suggestion:
    """Stop a running suggestion; return it as it then is: `cancelled`, or as it ended first,
    or still `streaming` if its process did not stop it within CANCEL_WAIT."""
    generation = _generations.get(suggestion.pk)
    if generation is None:
        return await sync_to_async(_cancel_elsewhere)(suggestion)
    generation.cancel()
    await generation.finished()
    return generation.suggestion


def _cancel_elsewhere(suggestion: Suggestion) -> Suggestion:
    pk = suggestion.pk
    alive = Worker.objects.filter(id=suggestion.worker, expires_at__gte=timezone.now())
    if alive.exists():
        # Its process stops it at its next look (within TICK).
        Suggestion.objects.filter(pk=pk, status=STREAMING).update(
            cancel_requested=True,
            followed_until=timezone.now() + timedelta(seconds=FOLLOW_TTL),
        )
        waited_until = time.monotonic() + CANCEL_WAIT
        while (current := Suggestion.objects.get(pk=pk)).status == STREAMING:
            if time.monotonic() > waited_until:
                return current
            time.sleep(0.05)
        return current
    # Its process is gone and cannot store how it ended: stopped here, as it stands.
    Suggestion.objects.filter(pk=pk, status=STREAMING).update(
        status=Suggestion.Status.CANCELLED, finished_at=timezone.now()
    )
    return Suggestion.objects.get(pk=pk)


async def run() -> None:
    """Look after this process's part in following, until cancelled (the ASGI lifespan runs
    it): every TICK, write the text of this process's calls that readers elsewhere follow and
    stop those asked to stop; renew the marks of the calls followed from here, and read what
    changed in them (at once on PostgreSQL's NOTIFY)."""
    loop = asyncio.get_running_loop()
    _hub.wakeup = asyncio.Event()
    followed: set[int] = set()  # this process's calls followed elsewhere, as last seen
    next_tick = loop.time()
    renew_at = polled_at = 0.0
    try:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(next_tick - loop.time(), 0)):
                    await _hub.wakeup.wait()
            _hub.wakeup.clear()
            now = loop.time()
            full = now >= next_tick
            if full:
                next_tick = now + TICK
            writes = {}
            for pk in followed if full else ():
                generation = _generations.get(pk)
                if generation is not None and generation.size > generation.written:
                    writes[pk] = (generation.size, generation.text_after(0))
            renew = []
            if _remotes and full and (_hub.renew_now or now >= renew_at):
                renew, renew_at, _hub.renew_now = list(_remotes), now + RENEW, False
            if not full:
                poll = {pk: _remotes[pk].size for pk in _hub.notified if pk in _remotes}
            elif _hub.listener is None or now >= polled_at + NOTIFIED_POLL:
                poll, polled_at = {pk: remote.size for pk, remote in _remotes.items()}, now
            else:
                poll = {}
            _hub.notified.clear()
            mine = full and bool(_generations)
            if full and not mine:
                followed = set()
            if not (mine or writes or renew or poll):
                continue
            try:
                flags, changes = await sync_to_async(_exchange)(
                    mine=mine,
                    writes={pk: text for pk, (_, text) in writes.items()},
                    renew=renew,
                    poll=poll,
                )
            except Exception:
                logger.exception("following: the database could not be reached; trying again")
                with contextlib.suppress(Exception):
                    await sync_to_async(close_old_connections)()
                continue
            for pk, (size, _) in writes.items():
                if generation := _generations.get(pk):
                    generation.written = size
            if mine:
                followed = set()
                until = loop.time() + FOLLOW_TTL
                for pk, cancel_requested in flags:
                    if generation := _generations.get(pk):
                        followed.add(pk)
                        generation.remote_until = until
                        if cancel_requested:
                            generation.cancel()
            for pk, status, more, ended in changes:
                # Unless a new follower here read the row meanwhile, and knows more.
                if (remote := _remotes.get(pk)) is not None and remote.size == poll[pk]:
                    remote.update(status, more, ended)
            if full:
                _ping_quiet_remotes(loop.time())
    finally:
        if _hub.listener is not None:
            _hub.listener.cancel()
            _hub.listener = None


def _ping_quiet_remotes(now: float) -> None:
    keepalive = settings.AI_SSE_KEEPALIVE
    for remote in _remotes.values():
        if now - remote.heard_at >= keepalive:
            remote.heard_at = now
            remote.pings += 1
            remote._wake()


def _exchange(
    *, mine: bool, writes: dict[int, str], renew: list[int], poll: dict[int, int]
) -> tuple[list[tuple[int, bool]], list[tuple[int, str, str, Suggestion | None]]]:
    """A tick's work in the database, in one trip to its thread.

    Write the text of this process's followed calls (and NOTIFY their followers); if `mine`,
    return which of this process's calls are followed and whether each was asked to stop;
    renew the marks on the calls followed from here; and of those in `poll` (with the text
    each has here), return the ones that changed: status, the new text, and the row if it
    ended. Raw SQL for what runs at every tick, and for the writes and the poll, where a
    tick reads or writes every followed call at once (the ORM would compile a statement for
    each); the names are the model's, quoted.
    """
    rows = table(Suggestion)
    pk_col, text_col, status_col, cancel_col, worker_col, until_col = (
        column(Suggestion, name)
        for name in ("pk", "text", "status", "cancel_requested", "worker", "followed_until")
    )
    now = timezone.now()
    if writes:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(
                f"UPDATE {rows} SET {text_col} = %s WHERE {pk_col} = %s"  # noqa: S608
                f" AND {status_col} = %s",
                [(text, pk, STREAMING.value) for pk, text in writes.items()],
            )
            if connection.vendor == "postgresql":
                # Delivered when this transaction commits, with the text it wrote.
                cursor.executemany(
                    "SELECT pg_notify(%s, %s)", [(CHANNEL, str(pk)) for pk in writes]
                )
    flags: list[tuple[int, bool]] = []
    if mine:  # every tick of a worker with calls running: 0.1 ms, against 1.5 ms in the ORM
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {pk_col}, {cancel_col} FROM {rows}"  # noqa: S608
                f" WHERE {worker_col} = %s AND {status_col} = %s"
                # A stop asked for stays asked for after the follower's mark runs out; IS NOT
                # NULL lets the partial index on (worker, followed_until) serve the query.
                f" AND {until_col} IS NOT NULL"
                f" AND ({until_col} >= %s OR {cancel_col})",
                [WORKER_ID, STREAMING.value, connection.ops.adapt_datetimefield_value(now)],
            )
            flags = [(pk, bool(cancel)) for pk, cancel in cursor.fetchall()]
    if renew:
        Suggestion.objects.filter(pk__in=renew, status=STREAMING).update(
            followed_until=now + timedelta(seconds=FOLLOW_TTL)
        )
    changes: list[tuple[int, str, str, Suggestion | None]] = []
    if poll:
        # Only the text each follower here does not have yet, of the calls that changed.
        known = ", ".join(["(%s, %s)"] * len(poll))
        sql = (
            f"WITH known (pk, size) AS (VALUES {known})"  # noqa: S608
            f" SELECT s.{pk_col}, s.{status_col},"
            f" SUBSTR(s.{text_col}, known.size + 1)"
            f" FROM {rows} s JOIN known ON s.{pk_col} = known.pk"
            f" WHERE s.{status_col} <> %s OR LENGTH(s.{text_col}) > known.size"
        )
        params = [value for pair in poll.items() for value in pair]
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, STREAMING.value])
            found = cursor.fetchall()
        ended = {
            row.pk: row
            for row in Suggestion.objects.filter(
                pk__in=[pk for pk, status, _ in found if status != STREAMING]
            )
        }
        changes = [(pk, status, tail or "", ended.get(pk)) for pk, status, tail in found]
    return flags, changes


def _listen_soon() -> None:
    if _hub.listener is None and _hub.wakeup is not None:
        _hub.listener = asyncio.create_task(_listen(), context=contextvars.Context())


async def _listen() -> None:
    """Wake the hub when another process wrote what readers here wait for (PostgreSQL's
    LISTEN, on a connection of its own); the hub polls besides, should this fail."""
    params = connection.get_connection_params()
    for name in ("cursor_factory", "context"):  # Django's own, for its sync connections
        params.pop(name, None)
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(**params, autocommit=True) as conn:
                await conn.execute(f"LISTEN {CHANNEL}")
                async for notice in conn.notifies():
                    with contextlib.suppress(ValueError):
                        _hub.notified.add(int(notice.payload))
                    if _hub.wakeup is not None:
                        _hub.wakeup.set()
        except Exception as error:
            logger.warning("following: LISTEN failed (%s); polling meanwhile", type(error).__name__)
            await asyncio.sleep(1)


def _spawn(coroutine: Coroutine[Any, Any, None]) -> None:
    task = asyncio.create_task(coroutine, context=contextvars.Context())
    _hub.tasks.add(task)
    task.add_done_callback(_hub.tasks.discard)


async def stop() -> None:
    """Stop this process's calls (its server is stopping), and give them up to 2 seconds to
    store how they ended."""
    generations = list(_generations.values())
    for generation in generations:
        generation.cancel()
    if generations:
        await asyncio.wait([generation.task for generation in generations], timeout=2)
