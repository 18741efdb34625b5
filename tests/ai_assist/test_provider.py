"""The OpenAI provider on its own: the real SDK against sockets that fail in known ways."""

import asyncio
import contextlib
import socket

import pytest

from ai_assist.providers.base import Completion, Prompt, ProviderError
from ai_assist.providers.openai import OpenAIProvider

PROMPT = Prompt(kind="refine", context={}, messages=[{"role": "user", "content": "Hello"}])


def failure(settings, base_url: str) -> ProviderError:
    """Stream from `base_url` and return the ProviderError that ends the stream."""
    settings.OPENAI_BASE_URL = base_url

    async def stream() -> ProviderError:
        provider = OpenAIProvider()
        try:
            async for _ in provider.stream(PROMPT, Completion(model="gpt-4o-mini")):
                pass
        except ProviderError as error:
            return error
        finally:
            await provider._client().close()
        raise AssertionError("the stream ended without an error")

    return asyncio.run(stream())


@pytest.fixture(autouse=True)
def upstream_settings(settings):
    settings.OPENAI_API_KEY = "sk-test-not-a-real-key"
    settings.AI_MAX_RETRIES = 0
    settings.AI_TIMEOUT = 1  # the time-out to connect, too


def test_a_refused_connection_says_the_service_could_not_be_reached(settings):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed: nothing listens there

    error = failure(settings, f"http://127.0.0.1:{port}/v1")

    assert error.reason == "unavailable"
    assert error.message.startswith("The AI service could not be reached")


def test_a_connection_not_accepted_in_time_is_a_time_out(settings):
    # A server whose queue of connections is full: the kernel drops the next ones' SYNs.
    with socket.socket() as server, contextlib.ExitStack() as queued:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        for _ in range(4):
            waiting = queued.enter_context(socket.socket())
            waiting.setblocking(False)
            waiting.connect_ex(server.getsockname())
        error = failure(settings, f"http://127.0.0.1:{server.getsockname()[1]}/v1")

    assert error.reason == ProviderError.TIMEOUT
    assert "did not answer within 1 seconds" in error.message
