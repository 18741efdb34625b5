"""ASGI entry point: `uvicorn config.asgi:application`."""

import asyncio
import contextlib
import gc
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from importlib import import_module
from typing import Any

import django
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler, ASGIRequest
from django.db import connections
from django.http import HttpRequest
from django.http.response import HttpResponseBase

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

logger = logging.getLogger("ai_assist")


class BodyTooLarge(Exception):
    """A request's body is larger than DATA_UPLOAD_MAX_MEMORY_SIZE."""


class Request(ASGIRequest):
    def close(self) -> None:
        """Drop all that the request holds once its response is sent and closed.

        Django's handler leaves each request in reference cycles (a class it defines per
        request, and the exception that ends its task group, whose traceback keeps the
        handler's frame with the request and the response): only a full garbage collection
        frees them, and a server under load piles up thousands of requests' sessions, users
        and bodies before one runs. Emptied, a request holds next to nothing.
        """
        if self.__dict__:  # not closed yet
            super().close()
            self.__dict__.clear()


class Handler(ASGIHandler):
    """Django's ASGI handler, with one shared thread for the event streams' sync work, and
    sure to close a stream whose client left before it was sent.

    Django gives each request a thread of its own for its sync parts (middleware hooks, ORM
    calls), alive until the response ends: for a stream that is seconds of an idle thread, a
    new one per call. A stream's sync work is a few short calls, so one thread serves them
    all, in turn, as the GIL would have them run anyway.
    """

    streams = ThreadPoolExecutor(max_workers=1, thread_name_prefix="streams")
    request_class = Request

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return await self.lifespan(receive, send)
        if scope["type"] != "http":
            return await super().__call__(scope, receive, send)
        if _too_large(scope):
            # Refused before a byte of it is read, authenticated or not.
            return await _send_too_large(send)
        if scope["path"].endswith(("-stream", "/events")):
            async with ThreadSensitiveContext(executor=self.streams):
                return await self.handle(scope, receive, send)
        # Any other request keeps a thread of its own, which may wait long (a JSON call waits
        # for the whole answer); it ends with the request, and so must its connection, which
        # CONN_MAX_AGE keeps open for the streams' thread.
        async with ThreadSensitiveContext():
            try:
                await self.handle(scope, receive, send)
            finally:
                await sync_to_async(connections.close_all)()

    async def handle(self, scope: dict, receive: Any, send: Any) -> None:
        try:
            await super().handle(scope, receive, send)
        except BodyTooLarge:  # a body sent without its length, read up to the limit
            await _send_too_large(send)

    async def read_body(self, receive: Any) -> Any:
        return await super().read_body(_counting(receive))

    async def send_response(self, response: HttpResponseBase, send: Any) -> None:
        """Send a response; an event stream only until its call's deadline.

        A client that stops reading blocks the send of the next event, and the events with it.
        At the deadline (a moment after the call's own, so that it can end itself first) the
        stream is ended all the same: its suggestion is stored as it ended, and the server
        closes the connection.
        """
        deadline = getattr(response, "deadline", None)
        if deadline is None:
            return await super().send_response(response, send)
        try:
            async with asyncio.timeout_at(deadline):
                await super().send_response(response, send)
        except TimeoutError:
            logger.warning(
                "suggestion=%s: its client stopped reading; the stream ended at its deadline",
                getattr(getattr(response, "suggestion", None), "pk", None),
            )

    async def lifespan(self, receive: Any, send: Any) -> None:
        """Run the AI calls' heartbeat (ai_assist.workers) and their following across processes
        (ai_assist.live) from the server's start to its end."""
        from ai_assist import live
        from ai_assist.workers import keep_alive

        tasks: list[asyncio.Task] = []
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                tasks = [asyncio.create_task(keep_alive()), asyncio.create_task(live.run())]
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                # The calls first, which the server's cut streams may have left running (their
                # grace), so that the heartbeat finds them ended as they stood.
                await live.stop()
                for task in reversed(tasks):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def run_get_response(self, request: HttpRequest) -> HttpResponseBase:
        try:
            return await super().run_get_response(request)
        except asyncio.CancelledError:
            # The client left while the response passed back through the middleware: Django
            # then drops it unclosed, and a stream's close() is what ends its suggestion.
            if response := getattr(request, "stream", None):
                await sync_to_async(response.close)()
            raise


def _too_large(scope: dict) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return value.isdigit() and int(value) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return False


def _counting(receive: Any) -> Any:
    """Wrap `receive` to raise BodyTooLarge once the body passes the limit."""
    read = 0

    async def receive_counted() -> dict:
        nonlocal read
        message = await receive()
        read += len(message.get("body", b""))
        if read > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            raise BodyTooLarge
        return message

    return receive_counted


async def _send_too_large(send: Any) -> None:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    body = json.dumps({"detail": f"The request body is larger than {limit:,} bytes."}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


django.setup(set_prefix=False)  # as get_asgi_application() does, for our handler
application = Handler()

# What start-up loads (Django, the apps, every view, the SDK) lives as long as the process:
# frozen, it is left out of the garbage collector's full passes, which under load otherwise
# stop every stream for a tenth of a second or more to walk it.
import_module(settings.ROOT_URLCONF)  # the views, imported now rather than on the first request
gc.collect()
gc.freeze()
