"""Per-user limits on the AI endpoints, kept in the shared cache so they hold across workers."""

from rest_framework.throttling import UserRateThrottle


class AIRateThrottle(UserRateThrottle):
    """At most `AI_RATE_LIMIT` AI calls per user (e.g. 60/min), streams and JSON alike."""

    scope = "ai"
