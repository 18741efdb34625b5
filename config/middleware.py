"""Django's middleware, with the hooks that only look at headers run on the event loop.

Under ASGI, Django runs each hook of a sync middleware in a thread: about 0.2 ms of latency
and a thread's wake-up per hook, 13 per request with the middleware in settings, where the
hooks themselves read and set a few headers. These subclasses run such hooks in place, and
hop to the thread only for what touches the database: saving a session or messages.
"""

from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django.contrib.sessions import middleware as sessions
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.middleware import clickjacking, common, csrf, security


class InPlace:
    """Run process_request and process_response on the event loop (a mixin)."""

    get_response: Any

    def needs_thread(self, request: HttpRequest) -> bool:
        """Whether process_response must run in the thread, as it touches the database."""
        return False

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        response = None
        if hasattr(self, "process_request"):
            response = self.process_request(request)
        response = response or await self.get_response(request)
        if not hasattr(self, "process_response"):
            return response
        if self.needs_thread(request):
            return await sync_to_async(self.process_response)(request, response)
        return self.process_response(request, response)


class SecurityMiddleware(InPlace, security.SecurityMiddleware):
    pass


class SessionMiddleware(InPlace, sessions.SessionMiddleware):
    # The session is loaded when first read (in a thread: a view's, or its own hop).
    def needs_thread(self, request: HttpRequest) -> bool:
        session = getattr(request, "session", None)
        return session is not None and (session.modified or settings.SESSION_SAVE_EVERY_REQUEST)


class CommonMiddleware(InPlace, common.CommonMiddleware):
    pass


class CsrfViewMiddleware(InPlace, csrf.CsrfViewMiddleware):
    def __init__(self, get_response: Any) -> None:
        super().__init__(get_response)
        if self.async_mode:  # Django takes a coroutine function's process_view as it is
            self.process_view = self._process_view_async  # type: ignore[method-assign]

    async def _process_view_async(self, request: HttpRequest, *args: Any) -> Any:
        if getattr(args[0], "csrf_exempt", False):
            return None  # what the check would answer, without the hop
        # The check may read the form data, which may be a file on disk.
        return await sync_to_async(csrf.CsrfViewMiddleware.process_view)(self, request, *args)


class AuthenticationMiddleware(InPlace, auth.AuthenticationMiddleware):
    pass  # the user is looked up when first read, not here


class MessageMiddleware(InPlace, messages.MessageMiddleware):
    def needs_thread(self, request: HttpRequest) -> bool:
        storage = getattr(request, "_messages", None)
        return storage is not None and (storage.used or storage.added_new)


class XFrameOptionsMiddleware(InPlace, clickjacking.XFrameOptionsMiddleware):
    pass
