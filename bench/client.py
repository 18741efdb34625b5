"""A lean SSE load client: raw asyncio sockets and httptools, timing every event as it arrives."""

import asyncio
import json
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import httptools

# What marks a text event: ours, or the upstream's content delta.
SERVICE_TEXT = b'data: {"type":"text"'
UPSTREAM_TEXT = b'"delta":{"content":"'


@dataclass(slots=True)
class Outcome:
    """What one client saw of one stream."""

    status: int = 0
    started: float = 0.0
    first_text: float | None = None
    ended: float | None = None
    events: int = 0
    texts: list[bytes] = field(default_factory=list)
    gaps: list[float] = field(default_factory=list)  # between reads that brought text
    final: dict[str, Any] | None = None  # the metadata event, or the error event
    error: str = ""  # a transport problem: refused, reset, cut before the end
    left: bool = False  # the client hung up on purpose
    stalled: bool = False  # the client stopped reading for a while
    suggestion_id: int | None = None  # the X-Suggestion-Id header
    ids: list[tuple[float, int]] | None = None  # when each event with an id came (keep_ids)

    @property
    def ttft(self) -> float | None:
        return None if self.first_text is None else self.first_text - self.started

    @property
    def text(self) -> str:
        return "".join(json.loads(raw[6:])["content"] for raw in self.texts)

    @property
    def saw(self) -> str:
        """completed (metadata), failed (an error event), left, or broken (anything else)."""
        if self.left:
            return "left"
        if self.final is None or self.error:
            return "broken"
        return "completed" if self.final["type"] == "metadata" else "failed"


class _Stream(asyncio.Protocol):
    def __init__(
        self,
        request: bytes,
        outcome: Outcome,
        done: asyncio.Future,
        *,
        text_marker: bytes,
        leave_after: int | None,
        leave_at_first_text: bool,
        keep_text: bool,
        stall: tuple[int, float] | None,
        on_headers: "asyncio.Future[Outcome] | None" = None,
    ) -> None:
        self.request = request
        self.outcome = outcome
        self.done = done
        self.text_marker = text_marker
        self.leave_after = leave_after
        self.leave_at_first_text = leave_at_first_text
        self.keep_text = keep_text
        self.stall = stall
        self.on_headers = on_headers
        self.ids = outcome.ids
        self.parser = httptools.HttpResponseParser(self)
        self.buffer = b""
        self.last: float | None = None  # when the last text came
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._end(f"bad HTTP: {error}")

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"x-suggestion-id":
            self.outcome.suggestion_id = int(value)

    def on_headers_complete(self) -> None:
        self.outcome.status = self.parser.get_status_code()
        if self.on_headers is not None and not self.on_headers.done():
            self.on_headers.set_result(self.outcome)

    def on_body(self, body: bytes) -> None:
        now = time.perf_counter()
        outcome = self.outcome
        *events, self.buffer = (self.buffer + body).split(b"\n\n")
        seen = 0
        text = False
        for event in events:
            if not event.startswith(b"data:"):
                # Comment lines (keep-alive pings) and the event's id come before its data.
                head, found, data = event.partition(b"\ndata:")
                if not found:
                    continue
                event = b"data:" + data
                if self.ids is not None and (at := head.rfind(b"id: ")) >= 0:
                    self.ids.append((now, int(head[at + 4 :].split(b"\n", 1)[0])))
            seen += 1
            if self.text_marker in event:
                text = True
                if outcome.first_text is None:
                    outcome.first_text = now
            if event.startswith(SERVICE_TEXT):
                if self.keep_text:
                    outcome.texts.append(event)
            elif event.startswith(b'data: {"type":'):
                payload = json.loads(event[6:])
                if payload["type"] in ("metadata", "error"):
                    outcome.final = payload
        if not seen:
            return
        outcome.events += seen
        if text:
            # Between texts only: the wait for the confidence at the end is the upstream's
            # (the answer's JSON block streams meanwhile, and the client is shown none of it).
            if self.last is not None:
                outcome.gaps.append(now - self.last)
            self.last = now
        if self.stall and outcome.events >= self.stall[0] and not outcome.stalled:
            # Stop reading (the server's sends then block), and read on later.
            outcome.stalled = True
            self.transport.pause_reading()  # type: ignore[union-attr]
            loop = asyncio.get_running_loop()
            loop.call_later(self.stall[1], self.transport.resume_reading)  # type: ignore[union-attr]
        if (self.leave_after is not None and outcome.events >= self.leave_after) or (
            self.leave_at_first_text and outcome.first_text is not None
        ):
            if outcome.final is None:
                outcome.left = True
            self.transport.close()  # type: ignore[union-attr]
            self._end("")

    def on_message_complete(self) -> None:
        self._end("")

    def connection_lost(self, exc: Exception | None) -> None:
        self._end("" if self.done.done() else f"connection lost: {exc or 'closed'}")

    def _end(self, error: str) -> None:
        if not self.done.done():
            self.outcome.ended = time.perf_counter()
            self.outcome.error = error
            self.done.set_result(None)
            if self.transport is not None and not self.transport.is_closing():
                self.transport.close()


def get(path: str, headers: dict[str, str]) -> bytes:
    """Encode a GET; the connection closes with the response."""
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{head}\r\n").encode()


def post(path: str, body: Any, headers: dict[str, str]) -> bytes:
    """Encode a POST with a JSON body; the connection closes with the response."""
    data = json.dumps(body).encode()
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\nConnection: close\r\n{head}\r\n"
    ).encode() + data


async def stream(
    port: int,
    request: bytes,
    *,
    text_marker: bytes = SERVICE_TEXT,
    leave_after: int | None = None,
    leave_at_first_text: bool = False,
    keep_text: bool = False,
    keep_ids: bool = False,
    stall: tuple[int, float] | None = None,
    on_headers: "asyncio.Future[Outcome] | None" = None,
    timeout: float = 120,
) -> Outcome:
    """Send one request to 127.0.0.1:`port` and read its event stream to the end (or leave
    after `leave_after` events, or at the first text; or, with `stall` (events, seconds), stop
    reading after that many events for that long, through a small receive buffer). With
    `keep_ids`, note when each event with an id came; `on_headers` is set once they came."""
    loop = asyncio.get_running_loop()
    outcome = Outcome(started=time.perf_counter(), ids=[] if keep_ids else None)
    done = loop.create_future()
    transport = None
    sock = socket.socket()
    sock.setblocking(False)
    if stall:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        await loop.sock_connect(sock, ("127.0.0.1", port))
        transport, _ = await loop.create_connection(
            lambda: _Stream(
                request,
                outcome,
                done,
                text_marker=text_marker,
                leave_after=leave_after,
                leave_at_first_text=leave_at_first_text,
                keep_text=keep_text,
                stall=stall,
                on_headers=on_headers,
            ),
            sock=sock,
        )
        await asyncio.wait_for(done, timeout)
    except (OSError, TimeoutError) as error:
        outcome.error = f"{type(error).__name__}: {error}"
    finally:
        if transport is not None:
            transport.close()
        else:
            sock.close()
    return outcome
