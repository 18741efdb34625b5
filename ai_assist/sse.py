"""Encode Server-Sent Events: one `data:` line of JSON per event, comments for keep-alive."""

import json
from typing import Any

PING = b": ping\n\n"
# ASCII only: no raw U+2028 or other line breaks that a lax client might split a line on.
_dumps = json.JSONEncoder(separators=(",", ":")).encode


def event(payload: Any, *, id: str | None = None) -> bytes:
    """Encode one event whose data is `payload` as JSON (always a single line)."""
    head = f"id: {id}\n" if id is not None else ""
    return f"{head}data: {_dumps(payload)}\n\n".encode()


def text(content: str) -> bytes:
    """Encode a text event; the hot path of every stream, so it skips building a dict."""
    return b'data: {"type":"text","content":' + _dumps(content).encode() + b"}\n\n"


def comment(line: str) -> bytes:
    """Encode a comment, which clients ignore; each line of `line` stays a comment."""
    return "".join(f": {part}\n" for part in line.splitlines() or [""]).encode() + b"\n"
