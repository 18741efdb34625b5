"""The AI assistant app: refine, estimate and break down issues."""

import logging

from django.apps import AppConfig

logger = logging.getLogger("ai_assist")


class AiAssistConfig(AppConfig):
    name = "ai_assist"
    verbose_name = "AI assistant"

    def ready(self) -> None:
        from ai_assist.providers import provider_problem
        from ai_assist.services import rate_limit
        from ai_assist.usage import prices

        rate_limit()  # a malformed AI_RATE_LIMIT stops the start, not each call later
        prices()  # and so does a malformed AI_PRICES
        # Say at start-up, in plain words, when the chosen provider cannot work.
        if problem := provider_problem():
            logger.warning(problem)
