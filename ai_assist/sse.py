"""Encode Server-Sent Events: one `data:` line of JSON per event, ids, comments for keep-alive."""

import json
from typing import Any

# A comment line, without the blank line that ends an event: once events carry ids, some
# clients (httpx-sse) take a blank line after a comment for an event with no data.
PING = b": ping\n"
# ASCII only: no raw U+2028 or other line breaks that a lax client might split a line on.
_dumps = json.JSONEncoder(separators=(",", ":")).encode


def event(payload: Any, *, id: int | str | None = None) -> bytes:
    """Encode one event whose data is `payload` as JSON (always a single line)."""
    head = f"id: {id}\n" if id is not None else ""
    return f"{head}data: {_dumps(payload)}\n\n".encode()


def text(content: str, *, id: int | None = None) -> bytes:
    """Encode a text event; the hot path of every stream, so it skips building a dict."""
    head = b"" if id is None else b"id: %d\n" % id
    return head + b'data: {"type":"text","content":' + _dumps(content).encode() + b"}\n\n"


def comment(line: str) -> bytes:
    """Encode a comment, which clients ignore; each line of `line` stays a comment."""
    return "".join(f": {part}\n" for part in line.splitlines() or [""]).encode() + b"\n"
