"""Per-user limits on the AI endpoints, kept in the shared cache so they hold across workers."""

import threading

from django.core.cache import DEFAULT_CACHE_ALIAS, BaseCache, caches
from rest_framework.throttling import UserRateThrottle

_local = threading.local()


class AIRateThrottle(UserRateThrottle):
    """At most `AI_RATE_LIMIT` AI calls per user (e.g. 60/min), streams and JSON alike."""

    scope = "ai"

    @property
    def cache(self) -> BaseCache:  # type: ignore[override]
        # Django keeps a cache backend per async context, so every call would build its own
        # (the database cache makes a model class and its options: 3 KB and a reference cycle
        # per call); one per thread serves the streams' shared thread and each JSON call's own.
        if (cache := getattr(_local, "cache", None)) is None:
            cache = _local.cache = caches.create_connection(DEFAULT_CACHE_ALIAS)
        return cache
