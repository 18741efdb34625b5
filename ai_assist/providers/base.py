"""The interface every AI provider implements, and the errors it raises."""

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any


class ProviderError(Exception):
    """An upstream failure, with a message meant for a person (never a key or a raw body)."""

    TIMEOUT = "timeout"

    def __init__(self, message: str, *, reason: str = "unavailable") -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason

    @classmethod
    def timed_out(cls, seconds: float) -> "ProviderError":
        return cls(
            f"The AI service did not answer within {seconds:g} seconds; "
            "try again, or raise AI_TIMEOUT.",
            reason=cls.TIMEOUT,
        )


@dataclass(frozen=True)
class Prompt:
    """What a provider is asked: the operation, the issue's context and the chat messages."""

    kind: str
    context: dict[str, Any]
    messages: list[dict[str, str]]


@dataclass
class Completion:
    """What is known of an answer besides its text: filled in by the provider as it streams."""

    model: str
    usage: dict[str, int] = field(default_factory=dict)


class Provider:
    """Stream answers to prompts. Subclasses set `name` and implement `stream`."""

    name = ""

    def model_name(self) -> str:
        raise NotImplementedError

    def stream(self, prompt: Prompt, completion: Completion) -> AsyncIterator[str]:
        """Yield the answer's text in pieces; closing the iterator closes the upstream at once.

        Raise ProviderError for any failure, before or during the answer.
        """
        raise NotImplementedError

    def problem(self) -> str:
        """Say why this provider cannot work as configured, or return an empty string."""
        return ""
