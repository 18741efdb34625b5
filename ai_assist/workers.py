"""Server processes that run AI calls: each says it is alive, and ends the calls of dead ones.

A process killed mid-call (SIGKILL, a crash, its machine gone) cannot store how its calls
ended. Each process beats every AI_HEARTBEAT seconds in its own row; any process that finds
a call `streaming` in a process not heard from for three of its beats ends it `failed`, so
that it can be reviewed and no longer counts against its user's limits. A process that stops
gives its calls a moment to store how they ended, and ends those that could not.
"""

import asyncio
import logging
import os
import secrets
import socket
from datetime import timedelta

from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone

from ai_assist import calibration
from ai_assist.models import Suggestion, Worker

logger = logging.getLogger("ai_assist")

INTERRUPTED = "The call was interrupted: the server running it stopped. Try again."

# This process: its host, its pid and a random part (a restarted process may get the pid back).
WORKER_ID = f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"
_registered = False


def worker_id() -> str:
    """Return this process's id, registering it before its first call is stored."""
    global _registered
    if not _registered:
        beat()
        _registered = True
    return WORKER_ID


def beat() -> None:
    """Say that this process is alive, for three heartbeats from now."""
    now = timezone.now()
    expires_at = now + timedelta(seconds=3 * settings.AI_HEARTBEAT)
    Worker.objects.update_or_create(
        id=WORKER_ID, defaults={"seen_at": now, "expires_at": expires_at}
    )


def sweep() -> int:
    """End the calls of the processes no longer alive; return how many."""
    now = timezone.now()
    alive = Worker.objects.filter(expires_at__gte=now).values("id")
    # A call younger than three beats is left alone: its process may have lost its row a
    # moment ago (swept while it stalled) and not have beaten since.
    young = now - timedelta(seconds=3 * settings.AI_HEARTBEAT)
    ended = (
        Suggestion.objects.filter(status=Suggestion.Status.STREAMING, created_at__lt=young)
        .exclude(worker__in=alive)
        .update(status=Suggestion.Status.FAILED, error=INTERRUPTED, finished_at=now)
    )
    Worker.objects.filter(expires_at__lt=now).delete()
    if ended:
        logger.warning("ended %s AI calls of server processes that stopped", ended)
    return ended


def stop() -> None:
    """End this process's calls that are still running, and say it is gone."""
    Suggestion.objects.filter(worker=WORKER_ID, status=Suggestion.Status.STREAMING).update(
        status=Suggestion.Status.FAILED, error=INTERRUPTED, finished_at=timezone.now()
    )
    Worker.objects.filter(id=WORKER_ID).delete()


def running_here() -> bool:
    return Suggestion.objects.filter(worker=WORKER_ID, status=Suggestion.Status.STREAMING).exists()


async def keep_alive() -> None:
    """Beat and sweep, and keep the confidence's calibration fresh, every AI_HEARTBEAT seconds
    until cancelled (from the first moment: the calls of a process that died before this one
    started end soon after it starts).

    Cancelled, wait a little for this process's calls (the server has just cut their
    streams) to store how they ended, then end the rest.
    """
    try:
        while True:
            try:
                await sync_to_async(beat)()
                await sync_to_async(sweep)()
                # A thread of its own: a refit must not hold up the streams' shared thread.
                await sync_to_async(calibration.keep_fresh, thread_sensitive=False)()
            except Exception:
                logger.exception("the heartbeat failed; trying again")
            await asyncio.sleep(settings.AI_HEARTBEAT)
    except asyncio.CancelledError:
        for _ in range(40):  # up to 2 s
            if not await sync_to_async(running_here)():
                break
            await asyncio.sleep(0.05)
        await sync_to_async(stop)()
        raise
