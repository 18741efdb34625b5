"""The OpenAI provider: any OpenAI-compatible server, through the official SDK's async client."""

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator

import httpx2
import jiter
import openai
from django.conf import settings

from ai_assist.providers.base import Completion, Prompt, Provider, ProviderError

# The SDK's telemetry headers (its version, the OS, the runtime, the retry count): a request
# without them is built faster, and each open stream holds its request's headers, 2.5 KB of them.
NO_TELEMETRY = dict.fromkeys(
    (
        "X-Stainless-Lang",
        "X-Stainless-Package-Version",
        "X-Stainless-OS",
        "X-Stainless-Arch",
        "X-Stainless-Runtime",
        "X-Stainless-Runtime-Version",
        "X-Stainless-Async",
        "X-Stainless-Retry-Count",
        "X-Stainless-Read-Timeout",
    ),
    openai.omit,
)

NOT_CONFIGURED = (
    "The AI provider is not configured: set OPENAI_API_KEY (and OPENAI_BASE_URL for an "
    "OpenAI-compatible server), or set AI_PROVIDER=offline to use the built-in offline engine."
)


class OpenAIProvider(Provider):
    name = "openai"

    def __init__(self) -> None:
        # An SDK client pools connections on the event loop that made it: one client per loop.
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, openai.AsyncOpenAI]
        self._clients = weakref.WeakKeyDictionary()

    def problem(self) -> str:
        return "" if settings.OPENAI_API_KEY or settings.OPENAI_BASE_URL else NOT_CONFIGURED

    def model_name(self) -> str:
        return settings.AI_MODEL

    def _client(self) -> openai.AsyncOpenAI:
        loop = asyncio.get_running_loop()
        if (client := self._clients.get(loop)) is None:
            client = self._clients[loop] = openai.AsyncOpenAI(
                # Local servers (Ollama, vLLM) need no key, but the SDK wants one.
                api_key=settings.OPENAI_API_KEY or "no-key",
                base_url=settings.OPENAI_BASE_URL or None,
                # No read time-out here: aiohttp would re-arm a timer for every packet. The
                # stream's silence is timed once per wait instead (services.suggestion_events).
                timeout=httpx2.Timeout(None, connect=min(settings.AI_TIMEOUT, 10)),
                max_retries=settings.AI_MAX_RETRIES,
                default_headers=NO_TELEMETRY,
                # The SDK's aiohttp transport: its C parser and pool cost a fraction of the
                # default's per read, and a relay pays per read.
                http_client=openai.DefaultAioHttpClient(
                    limits=httpx2.Limits(max_connections=0, max_keepalive_connections=100)
                ),
            )
        return client

    async def stream(self, prompt: Prompt, completion: Completion) -> AsyncIterator[str]:
        """Yield the text of each network read: one piece per read, however many chunks it held.

        The raw bytes are parsed here rather than through the SDK's chunk models: a relay pays
        for every chunk, and a dict lookup costs a fraction of building a pydantic object.
        """
        if problem := self.problem():
            raise ProviderError(problem, reason="not_configured")
        try:
            # The SDK retries (429, 5xx, connection errors) while opening the response, which
            # is before the first token; nothing is retried once text has been sent on. Its
            # documented raw request (`post` with `cast_to=httpx.Response`) sends the body as
            # it is: the typed `create()` spends a millisecond converting each request's params.
            response = await self._client().post(
                "/chat/completions",
                cast_to=httpx2.Response,
                stream=True,
                options={"headers": NO_TELEMETRY},  # the two the SDK adds to each request
                body={
                    "model": settings.AI_MODEL,
                    "messages": prompt.messages,
                    "max_tokens": settings.AI_MAX_TOKENS,
                    "temperature": settings.AI_TEMPERATURE,
                    "stream": True,
                    "stream_options": {"include_usage": True},
                },
            )
            # Sent: the stream, open for the whole answer, need not hold its prompt.
            del prompt
            async with contextlib.aclosing(response):
                # An answer sent without a content-encoding (as SSE is) is read straight from
                # its transport: httpx2's decoding would add two generator steps to every read.
                encoded = "content-encoding" in response.headers
                reads = response.aiter_bytes() if encoded else response.stream
                buffer = b""
                done = False
                async for data in reads:
                    if done:
                        continue  # read the body to its end, so that the connection is reused
                    buffer, text, done = _read_events(buffer + data, completion)
                    if text:
                        yield text
            if not done:
                raise ProviderError("The AI service's answer was cut off before it ended.")
        except openai.APIStatusError as error:
            raise _status_error(error) from None
        except (openai.APIConnectionError, httpx2.TimeoutException) as error:
            if _caused_by_time_out(error):
                raise ProviderError.timed_out(settings.AI_TIMEOUT) from None
            raise ProviderError(
                "The AI service could not be reached; check OPENAI_BASE_URL and the network."
            ) from None
        except httpx2.HTTPError:
            raise ProviderError("The AI service's answer was cut off before it ended.") from None
        except (ValueError, AttributeError, TypeError):
            raise ProviderError("The AI service sent an answer that could not be read.") from None


def _read_events(data: bytes, completion: Completion) -> tuple[bytes, str, bool]:
    """Read the complete `data:` lines of `data`: return the incomplete last line, their text,
    and whether the answer's `[DONE]` came; take the model and usage into `completion`.

    A function of its own so that a read's lines and parsed chunks are freed before the stream
    yields: the stream's frame would otherwise hold them until the next read, in every stream.
    """
    lines = data.split(b"\n")
    rest = lines.pop()
    text = []
    for line in lines:
        if not line.startswith(b"data:"):
            continue  # blank separators, comments, event names
        payload = line[5:].strip()
        if payload == b"[DONE]":
            return rest, _no_nul("".join(text)), True
        chunk = jiter.from_json(payload)
        if "error" in chunk:
            raise ProviderError("The AI service reported an error in the middle of its answer.")
        for choice in chunk.get("choices") or ():
            if content := (choice.get("delta") or {}).get("content"):
                text.append(content)
        if usage := chunk.get("usage"):
            completion.usage = usage
        completion.model = chunk.get("model") or completion.model
    return rest, _no_nul("".join(text)), False


def _no_nul(text: str) -> str:
    # No database stores a NUL character in text (PostgreSQL refuses it): none is sent either.
    return text.replace("\x00", "") if "\x00" in text else text


def _caused_by_time_out(error: BaseException) -> bool:
    """Whether a connection error of the SDK comes from a time-out. Its aiohttp transport
    reports every failure to connect (refused, an unknown host, a pooled connection the server
    closed) as a connect time-out, with the real failure as its cause.
    """
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, TimeoutError):  # asyncio's and aiohttp's time-outs included
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def _status_error(error: openai.APIStatusError) -> ProviderError:
    """Say what an HTTP error from the upstream means for the person, never its raw body."""
    status = error.status_code
    if status in (401, 403):
        return ProviderError(
            "The AI service refused the credentials; check OPENAI_API_KEY.", reason="credentials"
        )
    if status == 429:
        return ProviderError(
            "The AI service is rate limiting us or the account is out of quota; "
            "try again in a minute.",
            reason="rate_limited",
        )
    if status == 404:
        return ProviderError(
            f"The AI service does not know the model {settings.AI_MODEL!r}; check AI_MODEL "
            "and OPENAI_BASE_URL.",
            reason="bad_request",
        )
    if 400 <= status < 500:
        return ProviderError(
            f"The AI service rejected the request (HTTP {status}); check AI_MODEL, "
            "AI_MAX_TOKENS and AI_TEMPERATURE.",
            reason="bad_request",
        )
    return ProviderError(
        f"The AI service is unavailable right now (HTTP {status}); try again shortly."
    )
