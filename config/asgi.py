"""ASGI entry point: `uvicorn config.asgi:application`."""

import asyncio
import gc
import os
from concurrent.futures import ThreadPoolExecutor
from importlib import import_module

import django
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler, ASGIRequest
from django.db import connections
from django.http import HttpRequest
from django.http.response import HttpResponseBase

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


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

    async def __call__(self, scope: dict, receive: object, send: object) -> None:
        if scope["type"] != "http":
            return await super().__call__(scope, receive, send)
        if scope["path"].endswith("-stream"):
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

    async def run_get_response(self, request: HttpRequest) -> HttpResponseBase:
        try:
            return await super().run_get_response(request)
        except asyncio.CancelledError:
            # The client left while the response passed back through the middleware: Django
            # then drops it unclosed, and a stream's close() is what ends its suggestion.
            if response := getattr(request, "stream", None):
                await sync_to_async(response.close)()
            raise


django.setup(set_prefix=False)  # as get_asgi_application() does, for our handler
application = Handler()

# What start-up loads (Django, the apps, every view, the SDK) lives as long as the process:
# frozen, it is left out of the garbage collector's full passes, which under load otherwise
# stop every stream for a tenth of a second or more to walk it.
import_module(settings.ROOT_URLCONF)  # the views, imported now rather than on the first request
gc.collect()
gc.freeze()
