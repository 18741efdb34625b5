"""Read the service's event streams in tests, as a client would."""

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
from httpx_sse import connect_sse


@dataclass
class Stream:
    """What a client saw of one stream."""

    status: int
    headers: httpx.Headers
    events: list[dict[str, Any]] = field(default_factory=list)
    body: Any = None

    @property
    def types(self) -> list[str]:
        return [event["type"] for event in self.events]

    @property
    def text(self) -> str:
        return "".join(event["content"] for event in self.events if event["type"] == "text")

    def value(self, type: str) -> Any:
        [event] = [event for event in self.events if event["type"] == type]
        return event.get("value", event.get("message"))


def read_stream(
    client: httpx.Client, path: str, body: Any, *, headers: dict[str, str] | None = None
) -> Stream:
    """POST to a stream and read it to the end (or return the error response's JSON)."""
    with connect_sse(client, "POST", path, json=body, headers=dict(headers or {})) as source:
        response = source.response
        stream = Stream(status=response.status_code, headers=response.headers)
        if not response.headers.get("content-type", "").startswith("text/event-stream"):
            response.read()
            stream.body = response.json()
            return stream
        for sse in source.iter_sse():
            stream.events.append(json.loads(sse.data))
    return stream
