"""AI providers: where the text of a suggestion comes from, chosen by `AI_PROVIDER`."""

from functools import cache

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from ai_assist.providers.base import Completion, Prompt, Provider, ProviderError

PROVIDERS = {
    "openai": "ai_assist.providers.openai.OpenAIProvider",
    "offline": "ai_assist.providers.offline.OfflineProvider",
}

__all__ = ["Completion", "Prompt", "Provider", "ProviderError", "get_provider", "provider_problem"]


@cache
def get_provider() -> Provider:
    """Return the configured provider; one per process, so its HTTP connections are pooled."""
    path = PROVIDERS.get(settings.AI_PROVIDER, settings.AI_PROVIDER)
    return import_string(path)()


def provider_problem() -> str:
    if settings.AI_PROVIDER not in PROVIDERS and "." not in settings.AI_PROVIDER:
        return (
            f"AI_PROVIDER={settings.AI_PROVIDER!r} is not a provider: "
            f"use one of {', '.join(PROVIDERS)}."
        )
    return get_provider().problem()


@receiver(setting_changed)
def _forget_provider(*, setting: str, **kwargs: object) -> None:
    if setting.startswith(("AI_", "OPENAI_")):
        get_provider.cache_clear()
