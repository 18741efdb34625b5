"""Django's deploy checks, told that our middleware (config/middleware.py) are Django's own.

Django's checks look for its security, clickjacking, CSRF and session middleware by their
dotted names. Ours are subclasses, so `check --deploy` would warn that each is missing and,
believing it, skip every check of the settings it reads (HSTS, SSL redirect, secure cookies):
false warnings that hide the real ones. Each check asks whether the middleware is installed
through one function of its module; those functions accept subclasses here.
"""

from collections.abc import Callable

from django.conf import settings
from django.core.checks.security import base, csrf, sessions
from django.utils.module_loading import import_string


def _installed(path: str) -> Callable[[], bool]:
    def installed() -> bool:
        wanted = import_string(path)
        return any(issubclass(import_string(name), wanted) for name in settings.MIDDLEWARE)

    return installed


base._security_middleware = _installed("django.middleware.security.SecurityMiddleware")
base._xframe_middleware = _installed("django.middleware.clickjacking.XFrameOptionsMiddleware")
csrf._csrf_middleware = _installed("django.middleware.csrf.CsrfViewMiddleware")
sessions._session_middleware = _installed("django.contrib.sessions.middleware.SessionMiddleware")
