"""Fake OpenAI-compatible Chat Completions server (pure ASGI, uvicorn) for tests and benchmarks."""

# Usage
# -----
# In pytest::
#
#     with FakeOpenAI() as fake:
#         client = openai.AsyncOpenAI(base_url=fake.base_url, api_key="sk-test")
#         fake.configure(fault="cut")            # server-wide default
#         ... "[[fake:delay=0.05]]" in a message  # per-request override
#         fake.wait_for(lambda s: s["streams_disconnected"] == 1)
#
# As a process (benchmark)::
#
#     python -m tests.fake_openai --port 8765 --tokens 200 --delay 0
#
# Replies: config `reply` if set; else a canned reply chosen by the `Operation: <name>` line of
# the system prompt (refine / estimate / breakdown: markdown prose + one ```json block; anything
# else: prose only). With `tokens=N` the prose is N chunks of lorem ipsum ("lorem ", "ipsum ", ...;
# the last is "<word>\n\n" before a block), then the operation's ```json block split the same
# way: `len(split_tokens(json_block(op)))` extra chunks (refine 26, estimate 8, breakdown 66;
# 0 for an unknown operation or `no_json`).
# One "token" is one content chunk (`split_tokens` piece); usage.completion_tokens counts them all.
#
# Faults: 429, 500, cut (half the chunks, then the connection is dropped without the chunked
# terminator), malformed (`data: {not json` half way, then carries on), no_json (prose only),
# slow_first (first_token_delay, or 2 s if that is 0).
# Per-request overrides: `[[fake:<fault>]]`, `[[fake:<field>=<value>]]` in any message content.
#
# Control endpoints: GET /_fake/stats[?bodies=1], GET|POST /_fake/config, POST /_fake/reset.

import argparse
import asyncio
import contextlib
import dataclasses
import importlib.util
import itertools
import json
import logging
import re
import socket
import sys
import threading
import time
import zlib
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any, NamedTuple, Self

import uvicorn

type Scope = MutableMapping[str, Any]
type Message = MutableMapping[str, Any]
type Receive = Callable[[], Awaitable[Message]]
type Send = Callable[[Message], Awaitable[None]]

FAULTS = frozenset({"429", "500", "cut", "malformed", "no_json", "slow_first"})
SLOW_FIRST_SECONDS = 2.0
REFUSED_KEY = "sk-refused"
LEAKY_SECRET = "upstream secret internals sk-live-XYZ"
BACKLOG = 4096
MAX_BODIES = 100

# Structured results of the canned replies, exported so tests can compare against them.
RESULTS: dict[str, dict[str, Any]] = {
    "refine": {
        "improvements": [
            "Stated the root cause instead of the symptom",
            "Added testable acceptance criteria",
            "Called out the account-enumeration risk",
        ],
        "confidence": 0.9,
    },
    "estimate": {"storyPoints": 5, "confidence": 0.8},
    "breakdown": {
        "subtasks": [
            {
                "title": "Normalise the email lookup",
                "description": "Trim and lowercase the address before querying accounts.",
                "storyPoints": 3,
            },
            {
                "title": "Uniform confirmation message",
                "description": "Show the same message for known and unknown addresses.",
                "storyPoints": 2,
            },
            {
                "title": "Tests for the reset flow",
                "description": "Cover address casing, unknown addresses and link expiry.",
                "storyPoints": 3,
            },
        ],
        "complexity": "low",  # 8 points in all
        "confidence": 0.85,
    },
}

PROSE: dict[str, str] = {
    "refine": (
        "## Summary\n\n"
        "Users cannot reset their password when the email address they type contains uppercase "
        "letters. The reset link is issued for the normalised address, but the account lookup "
        "compares the raw input, so the request fails silently.\n\n"
        "## Proposed change\n\n"
        "Trim and lowercase the address before looking up the account, and show the same "
        "confirmation message whether or not an account exists, so the form does not reveal "
        "which addresses are registered.\n\n"
        "## Acceptance criteria\n\n"
        "- Submitting the form with any casing of a registered address sends exactly one link.\n"
        "- The confirmation message is identical for registered and unknown addresses.\n"
        "- The reset link expires after 60 minutes and works only once."
    ),
    "estimate": (
        "The change is confined to the password-reset view and its form, plus tests for the "
        "casing edge cases. The code paths are well understood and no migration is needed.\n\n"
        "Most of the effort goes into the tests and into checking that the confirmation message "
        "does not leak whether an account exists, which adds some uncertainty."
    ),
    "breakdown": (
        "The work splits into normalising the account lookup, making the confirmation flow "
        "uniform, and covering both with tests."
    ),
    "": (
        "This is a canned answer from the fake OpenAI server. No known operation was named in "
        "the system prompt, so there is no structured result."
    ),
}

LOREM = [
    "lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "sed", "do",
    "eiusmod", "tempor", "incididunt", "ut", "labore", "et", "dolore", "magna", "aliqua",
]  # fmt: skip

_TOKEN = re.compile(r"\S+\s*|\s+")
_OPERATION = re.compile(r"^\s*Operation:\s*(\w+)", re.MULTILINE)
_MARKER = re.compile(r"\[\[fake:([\w.-]+)(?:=([^\]]*))?\]\]")
_JSON_FENCE = re.compile(r"\s*```json\s*\n.*?```", re.DOTALL)
_COMPLETION_PATHS = frozenset({"/v1/chat/completions", "/chat/completions"})
_MODEL_PATHS = frozenset({"/v1/models", "/models"})
_CHUNK_HEAD = '{"id":"chatcmpl-fake-0","object":"chat.completion.chunk","created":0,'
_SSE_DONE = b"data: [DONE]\n\n"
_SSE_MALFORMED = b"data: {not json\n\n"


def split_tokens(text: str) -> list[str]:
    """Split text into word-sized chunks with whitespace attached; "".join() gives it back."""
    return _TOKEN.findall(text)


def json_block(operation: str) -> str:
    """The fenced ```json block the canned reply for `operation` ends with."""
    return f"```json\n{json.dumps(RESULTS[operation], indent=2)}\n```"


def build_reply(operation: str | None, *, tokens: int | None = None, with_json: bool = True) -> str:
    """Canned reply: prose (or `tokens` lorem chunks), then the operation's JSON block."""
    op = operation if operation in RESULTS else None
    if tokens is None:
        prose = PROSE[op or ""]
    else:
        # Single spaces between words and "\n\n" before the block keep it exactly N chunks.
        prose = " ".join(LOREM[i % len(LOREM)] for i in range(tokens))
    if op is None or not with_json:
        return prose
    return f"{prose}\n\n{json_block(op)}" if prose else json_block(op)


def _text(content: Any) -> str:
    # Content is a string, or a list of parts for multimodal messages.
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text") or "" for p in content if isinstance(p, dict))
    return ""


def detect_operation(messages: list[Any]) -> str | None:
    """The `Operation: <name>` of the first system/developer message (else of messages[0])."""
    dicts = [m for m in messages if isinstance(m, dict)]
    system = [m for m in dicts if m.get("role") in {"system", "developer"}]
    first = system[0] if system else (messages[0] if messages else None)
    if not isinstance(first, dict):
        return None
    match = _OPERATION.search(_text(first.get("content")))
    return match.group(1).lower() if match else None


@dataclasses.dataclass(frozen=True, slots=True)
class FakeConfig:
    """Behaviour of the fake; immutable so a request never sees a half-applied change."""

    reply: str | None = None
    tokens: int | None = None
    delay: float = 0.0
    first_token_delay: float = 0.0
    fault: str | None = None
    retry_after: int = 1
    gzip: bool = False  # a streamed answer sent gzip-encoded, as some proxies do
    model: str | None = None  # the model the chunks name (default: the request's)
    usage: str | None = None  # the usage object sent, as JSON text (default: counted)

    def merged(self, **fields: Any) -> Self:
        """A copy with `fields` applied (strings are coerced); ValueError if one is invalid."""
        return dataclasses.replace(self, **{k: _coerce(k, v) for k, v in fields.items()})

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _coerce(name: str, value: Any) -> Any:
    # Values arrive as strings from markers/CLI and as JSON from /_fake/config.
    try:
        if name in {"reply", "model", "usage"}:
            return None if value is None else str(value)
        if name == "tokens":
            tokens = None if value in (None, "") else int(value)
            if tokens is not None and tokens < 0:
                raise ValueError
            return tokens
        if name in {"delay", "first_token_delay"}:
            seconds = float(value)
            if seconds < 0:
                raise ValueError
            return seconds
        if name == "retry_after":
            return int(value)
        if name == "gzip":
            return str(value).lower() in ("1", "true")
        if name == "fault":
            if value in (None, "", "none"):
                return None
            if str(value) not in FAULTS:
                raise ValueError
            return str(value)
    except (TypeError, ValueError):
        raise ValueError(f"invalid value for fake config {name!r}: {value!r}") from None
    raise ValueError(f"unknown fake config field {name!r}")


def request_overrides(messages: Iterable[Any]) -> dict[str, Any]:
    """Fields set by `[[fake:<fault>]]` / `[[fake:<field>=<value>]]` markers in the messages."""
    overrides: dict[str, Any] = {}
    for message in messages:
        text = _text(message.get("content")) if isinstance(message, dict) else ""
        if "[[fake:" not in text:
            continue
        for name, value in _MARKER.findall(text):
            if name in FAULTS:
                overrides["fault"] = name
            else:
                overrides[name] = value
    return overrides


COUNTERS = (
    "requests",
    "streams_started",
    "streams_completed",
    "streams_disconnected",
    "streams_cut",
    "completions",
    "errors",
)


class FakeState:
    """Config and counters, shared by the server's event loop and the test thread."""

    def __init__(self, config: FakeConfig | None = None) -> None:
        self.base_config = config or FakeConfig()
        self.config = self.base_config
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.reset()

    def reset(self) -> None:
        """Back to the construction-time config; counters and recorded bodies cleared."""
        with self._lock:
            self.config = self.base_config
            self.counters = dict.fromkeys(COUNTERS, 0)
            self.last_request: Any = None
            self.last_api_key: str | None = None
            self.bodies: deque[Any] = deque(maxlen=MAX_BODIES)

    def configure(self, **fields: Any) -> FakeConfig:
        """Merge `fields` into the server-wide config (ValueError if invalid)."""
        with self._lock:
            self.config = self.config.merged(**fields)
            return self.config

    def next_id(self) -> int:
        return next(self._ids)

    def bump(self, name: str) -> None:
        with self._lock:
            self.counters[name] += 1

    def record(self, body: Any, api_key: str | None) -> None:
        with self._lock:
            self.counters["requests"] += 1
            self.last_request = body
            self.last_api_key = api_key
            self.bodies.append(body)

    def snapshot(self, *, bodies: bool = True) -> dict[str, Any]:
        with self._lock:
            snap: dict[str, Any] = {
                **self.counters,
                "last_request": self.last_request,
                "last_api_key": self.last_api_key,
                "config": self.config.as_dict(),
            }
            if bodies:
                snap["bodies"] = list(self.bodies)
            return snap


class _Encoded(NamedTuple):
    # Pre-encoded tails of the chunks ("model" onwards); the per-request head holds id/created.
    role: bytes
    content: list[bytes]
    finish: bytes


def _chunk_tail(model: str, **fields: Any) -> bytes:
    chunk = {
        "id": "chatcmpl-fake-0",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
        "system_fingerprint": "fp_fake",
        **fields,
    }
    return json.dumps(chunk, separators=(",", ":"))[len(_CHUNK_HEAD) :].encode() + b"\n\n"


def _delta(delta: dict[str, Any], finish_reason: str | None = None) -> list[dict[str, Any]]:
    return [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]


class _CutStream(Exception):
    """Raised mid-body so uvicorn drops the connection without the chunked terminator."""


class _HideCutStreams(logging.Filter):
    # uvicorn logs every app exception with a traceback; the deliberate cuts are just noise, and
    # so are streams cancelled by stop() (uvicorn still logs one line saying it cancelled them).
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, _CutStream | asyncio.CancelledError)


_HIDE_CUT_STREAMS = _HideCutStreams()


def _install_log_filter() -> None:
    logging.getLogger("uvicorn.error").addFilter(_HIDE_CUT_STREAMS)


class _Watch:
    """Awaits receive() beside the response so a hang-up is seen even while the fake sleeps."""

    __slots__ = ("_on_gone", "_task", "finished", "gone")

    def __init__(self, receive: Receive, on_gone: Callable[[], None] | None = None) -> None:
        self.gone = asyncio.Event()
        self.finished = False
        self._on_gone = on_gone
        self._task = asyncio.create_task(self._watch(receive))

    async def _watch(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self.gone.set()
        if not self.finished and self._on_gone is not None:
            self._on_gone()

    async def pause(self, seconds: float) -> bool:
        """Sleep (or just yield); False if the client has gone."""
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await self.gone.wait()
        else:
            # Yield anyway so 1,000 zero-delay streams interleave instead of running in turn.
            await asyncio.sleep(0)
        return not self.gone.is_set()

    def close(self) -> None:
        self.finished = True
        self._task.cancel()


def _error(message: str, type_: str, code: str | None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


async def _send_json(
    send: Send, status: int, payload: Any, headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Receive) -> bytes | None:
    parts = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        parts.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(parts)


def _bearer_key(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, key = value.decode("latin-1").partition(" ")
            key = key.strip()
            return key if scheme.lower() == "bearer" and key else None
    return None


def _gzipped(send: Send) -> Send:
    """Send a response gzip-encoded, each body message flushed so that it still streams."""
    compressor = zlib.compressobj(wbits=31)  # 31: the gzip container

    async def send_gzipped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = message | {"headers": [*message["headers"], (b"content-encoding", b"gzip")]}
        elif message["type"] == "http.response.body":
            flush = zlib.Z_SYNC_FLUSH if message.get("more_body") else zlib.Z_FINISH
            body = compressor.compress(message.get("body", b"")) + compressor.flush(flush)
            message = message | {"body": body}
        await send(message)

    return send_gzipped


def _more(body: bytes) -> Message:
    # One ASGI body message per SSE chunk, so each reaches the client as it is produced.
    return {"type": "http.response.body", "body": body, "more_body": True}


_UNAUTHORIZED = _error(
    "Incorrect API key provided. You can find your API key at "
    "https://platform.openai.com/account/api-keys.",
    "invalid_request_error",
    "invalid_api_key",
)


class FakeOpenAIApp:
    """The ASGI app: chat completions (streamed or not), /v1/models and /_fake/* controls."""

    def __init__(self, state: FakeState | None = None) -> None:
        self.state = state or FakeState()
        # (reply, model) -> encoded chunks, so identical concurrent streams encode once.
        self._cache: dict[tuple[str, str], _Encoded] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if path in _COMPLETION_PATHS and method == "POST":
            await self._completion(scope, receive, send)
        elif path in _MODEL_PATHS and method == "GET":
            await self._models(scope, send)
        elif path.startswith("/_fake/"):
            await self._control(scope, receive, send, path[len("/_fake/") :], method)
        else:
            await _send_json(
                send,
                404,
                _error(
                    f"Unknown request URL: {method} {path}.", "invalid_request_error", "unknown_url"
                ),
            )

    async def _control(
        self, scope: Scope, receive: Receive, send: Send, what: str, method: str
    ) -> None:
        state = self.state
        if what == "stats" and method == "GET":
            await _send_json(send, 200, state.snapshot(bodies=b"bodies=1" in scope["query_string"]))
        elif what == "config" and method == "GET":
            await _send_json(send, 200, state.config.as_dict())
        elif what == "config" and method == "POST":
            raw = await _read_body(receive)
            try:
                fields = json.loads(raw or b"{}")
                if not isinstance(fields, dict):
                    raise ValueError("expected a JSON object")
                config = state.configure(**fields)
            except ValueError as exc:
                await _send_json(send, 400, _error(str(exc), "invalid_request_error", None))
                return
            await _send_json(send, 200, config.as_dict())
        elif what == "reset" and method == "POST":
            await _read_body(receive)
            state.reset()
            await _send_json(send, 200, state.snapshot(bodies=False))
        else:
            await _send_json(
                send,
                404,
                _error(f"Unknown control {method} /_fake/{what}", "invalid_request_error", None),
            )

    async def _models(self, scope: Scope, send: Send) -> None:
        key = _bearer_key(scope)
        if key is None or key == REFUSED_KEY:
            await _send_json(send, 401, _UNAUTHORIZED)
            return
        models = [
            {"id": name, "object": "model", "created": 0, "owned_by": "fake"}
            for name in ("gpt-fake", "gpt-4o-mini")
        ]
        await _send_json(send, 200, {"object": "list", "data": models})

    async def _fail(
        self, send: Send, status: int, payload: Any, headers: Iterable[tuple[bytes, bytes]] = ()
    ) -> None:
        self.state.bump("errors")
        await _send_json(send, status, payload, headers)

    async def _completion(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = self.state
        raw = await _read_body(receive)
        if raw is None:
            return
        key = _bearer_key(scope)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        state.record(body, key)
        # Like the real API: credentials are checked before anything else.
        if key is None or key == REFUSED_KEY:
            await self._fail(send, 401, _UNAUTHORIZED)
            return
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            await self._fail(
                send,
                400,
                _error(
                    "'messages' is a required property.", "invalid_request_error", None, "messages"
                ),
            )
            return
        messages = body["messages"]
        config = state.config
        try:
            overrides = request_overrides(messages)
            if overrides:
                config = config.merged(**overrides)
        except ValueError as exc:
            await self._fail(send, 400, _error(str(exc), "invalid_request_error", None))
            return

        if config.fault == "429":
            retry = str(config.retry_after).encode()
            await self._fail(
                send,
                429,
                _error(
                    f"Rate limit reached for gpt-fake on requests per min (RPM): Limit 3, Used 3, "
                    f"Requested 1. Please try again in {config.retry_after}s.",
                    "requests",
                    "rate_limit_exceeded",
                ),
                [(b"retry-after", retry), (b"x-ratelimit-remaining-requests", b"0")],
            )
            return
        if config.fault == "500":
            await self._fail(
                send,
                500,
                _error(
                    f"The server had an error processing your request. {LEAKY_SECRET}",
                    "server_error",
                    None,
                ),
            )
            return

        if config.reply is not None:
            reply = config.reply
            if config.fault == "no_json":
                reply = _JSON_FENCE.sub("", reply)
        else:
            reply = build_reply(
                detect_operation(messages),
                tokens=config.tokens,
                with_json=config.fault != "no_json",
            )
        model = config.model or body.get("model")
        model = model if isinstance(model, str) and model else "gpt-fake"
        # Roughly 4 characters per token, like OpenAI's rule of thumb.
        chars = sum(len(_text(m.get("content"))) for m in messages if isinstance(m, dict))
        prompt_tokens = chars // 4
        n = state.next_id()
        if body.get("stream"):
            options = body.get("stream_options")
            include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
            if config.gzip:
                send = _gzipped(send)
            await self._stream(receive, send, config, reply, model, n, prompt_tokens, include_usage)
        else:
            await self._complete(receive, send, config, reply, model, n, prompt_tokens)

    def _encoded(self, reply: str, model: str) -> _Encoded:
        cache_key = (reply, model)
        encoded = self._cache.get(cache_key)
        if encoded is None:
            if len(self._cache) >= 256:
                self._cache.clear()
            encoded = self._cache[cache_key] = _Encoded(
                role=_chunk_tail(model, choices=_delta({"role": "assistant", "content": ""})),
                content=[
                    _chunk_tail(model, choices=_delta({"content": t})) for t in split_tokens(reply)
                ],
                finish=_chunk_tail(model, choices=_delta({}, "stop")),
            )
        return encoded

    async def _stream(
        self,
        receive: Receive,
        send: Send,
        config: FakeConfig,
        reply: str,
        model: str,
        n: int,
        prompt_tokens: int,
        include_usage: bool,
    ) -> None:
        state = self.state
        encoded = self._encoded(reply, model)
        head = b'data: {"id":"chatcmpl-fake-%d","object":"chat.completion.chunk","created":%d,' % (
            n,
            int(time.time()),
        )
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream; charset=utf-8"),
                    (b"cache-control", b"no-cache"),
                    (b"x-request-id", b"req_fake_%d" % n),
                ],
            }
        )
        state.bump("streams_started")
        watch = _Watch(receive, lambda: state.bump("streams_disconnected"))
        try:
            await send(_more(head + encoded.role))
            first_delay = config.first_token_delay
            if config.fault == "slow_first" and not first_delay:
                first_delay = SLOW_FIRST_SECONDS
            if first_delay and not await watch.pause(first_delay):
                return
            content = encoded.content
            last = len(content) - 1
            broken_at = len(content) // 2 if config.fault in {"cut", "malformed"} else -1
            for i, tail in enumerate(content):
                if i == broken_at:
                    if config.fault == "cut":
                        state.bump("streams_cut")
                        raise _CutStream
                    await send(_more(_SSE_MALFORMED))
                await send(_more(head + tail))
                if not await watch.pause(config.delay if i < last else 0):
                    return
            if config.fault == "cut":  # empty reply: nothing to halve, cut anyway
                state.bump("streams_cut")
                raise _CutStream
            await send(_more(head + encoded.finish))
            if include_usage:
                usage = {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": len(content),
                    "total_tokens": prompt_tokens + len(content),
                }
                if config.usage is not None:
                    usage = json.loads(config.usage)
                tail = _chunk_tail(model, choices=[], usage=usage)
                await send(_more(head + tail))
            if watch.gone.is_set():
                return
            watch.finished = True  # a hang-up after [DONE] is not a disconnect
            await send({"type": "http.response.body", "body": _SSE_DONE, "more_body": False})
            state.bump("streams_completed")
        finally:
            watch.close()

    async def _complete(
        self,
        receive: Receive,
        send: Send,
        config: FakeConfig,
        reply: str,
        model: str,
        n: int,
        prompt_tokens: int,
    ) -> None:
        state = self.state
        count = len(split_tokens(reply))
        watch = _Watch(receive)
        try:
            # A non-streamed reply arrives after the whole generation time.
            first_delay = config.first_token_delay
            if config.fault == "slow_first" and not first_delay:
                first_delay = SLOW_FIRST_SECONDS
            wait = first_delay + config.delay * count
            if wait and not await watch.pause(wait):
                return
            completion = {
                "id": f"chatcmpl-fake-{n}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "system_fingerprint": "fp_fake",
                "choices": [
                    {
                        "index": 0,
                        "message": {
                            "role": "assistant",
                            "content": reply,
                            "refusal": None,
                            "annotations": [],
                        },
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": count,
                    "total_tokens": prompt_tokens + count,
                },
                "service_tier": "default",
            }
            body = json.dumps(completion).encode()
            if config.fault == "malformed":
                body = b"{not json"
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-request-id", b"req_fake_%d" % n),
            ]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            if config.fault == "cut":
                # Promise the full length, deliver half, then drop the connection.
                await send(_more(body[: len(body) // 2]))
                state.bump("streams_cut")
                raise _CutStream
            watch.finished = True
            await send({"type": "http.response.body", "body": body})
            state.bump("completions")
        finally:
            watch.close()


def _uvicorn_options() -> dict[str, Any]:
    # Fast paths when the optional extras are installed, stdlib fallbacks otherwise.
    return {
        "http": "httptools" if importlib.util.find_spec("httptools") else "h11",
        "loop": "uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        "log_level": "warning",
        "lifespan": "off",
        "access_log": False,
        "backlog": BACKLOG,
    }


class FakeOpenAI:
    """Runs the fake in a background thread; a context manager for tests."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, **config: Any) -> None:
        self.state = FakeState(FakeConfig().merged(**config))
        self.app = FakeOpenAIApp(self.state)
        self.host = host
        self.port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Server root, e.g. http://127.0.0.1:PORT (the control endpoints live under /_fake/)."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What to give the OpenAI SDK as base_url."""
        return f"{self.url}/v1"

    def start(self) -> Self:
        # Binding here (port 0 = any free port) means the port is known and already accepting.
        sock = socket.create_server((self.host, self.port), backlog=BACKLOG)
        self.port = sock.getsockname()[1]
        # log_config=None: leave the host's (pytest's) logging setup alone.
        config = uvicorn.Config(
            self.app, **_uvicorn_options(), log_config=None, timeout_graceful_shutdown=1
        )
        _install_log_filter()
        server = self._server = uvicorn.Server(config)
        thread = self._thread = threading.Thread(
            target=server.run,
            kwargs={"sockets": [sock]},
            name=f"fake-openai-{self.port}",
            daemon=True,
        )
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                sock.close()
                raise RuntimeError("fake OpenAI server did not start")
            time.sleep(0.002)
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(timeout=5)
        if thread.is_alive():  # a stream still sleeping: stop waiting for it
            server.force_exit = True
            thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def configure(self, **fields: Any) -> FakeConfig:
        """Merge fields (reply, tokens, delay, first_token_delay, fault, retry_after, gzip) in."""
        return self.state.configure(**fields)

    def reset(self) -> None:
        """Config back to what the constructor got; counters and recorded bodies cleared."""
        self.state.reset()

    @property
    def stats(self) -> dict[str, Any]:
        """Snapshot: counters, last_request, last_api_key, bodies (last 100), config."""
        return self.state.snapshot()

    def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 5
    ) -> dict[str, Any]:
        """Poll stats until predicate(stats) is true; returns them, TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            stats = self.stats
            if predicate(stats):
                return stats
            if time.monotonic() >= deadline:
                raise self._timeout(timeout, stats)
            time.sleep(0.01)

    async def wait_for_async(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 5
    ) -> dict[str, Any]:
        """wait_for() that does not block the caller's event loop."""
        deadline = time.monotonic() + timeout
        while True:
            stats = self.stats
            if predicate(stats):
                return stats
            if time.monotonic() >= deadline:
                raise self._timeout(timeout, stats)
            await asyncio.sleep(0.01)

    @staticmethod
    def _timeout(timeout: float, stats: dict[str, Any]) -> TimeoutError:
        counters = {name: stats[name] for name in COUNTERS}
        return TimeoutError(f"fake OpenAI stats condition not met in {timeout}s: {counters}")


def main(argv: list[str] | None = None) -> None:
    """CLI: serve the fake in the foreground until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m tests.fake_openai", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--tokens", type=int, help="prose chunks per reply (JSON block extra)")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds between chunks")
    parser.add_argument("--first-token-delay", type=float, default=0.0)
    parser.add_argument("--reply", help="fixed reply text")
    parser.add_argument("--fault", choices=sorted(FAULTS))
    parser.add_argument("--retry-after", type=int, default=1)
    args = parser.parse_args(argv)
    config = FakeConfig(
        reply=args.reply,
        tokens=args.tokens,
        delay=args.delay,
        first_token_delay=args.first_token_delay,
        fault=args.fault,
        retry_after=args.retry_after,
    )
    sock = socket.create_server((args.host, args.port), backlog=BACKLOG)
    server = uvicorn.Server(uvicorn.Config(FakeOpenAIApp(FakeState(config)), **_uvicorn_options()))
    _install_log_filter()
    print(
        f"fake OpenAI listening on http://{args.host}:{args.port}/v1", file=sys.stderr, flush=True
    )
    server.run(sockets=[sock])


if __name__ == "__main__":
    main()
