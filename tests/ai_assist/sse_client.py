"""Read the service's event streams in tests, as a client would."""

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from httpx_sse import EventSource, connect_sse


@dataclass
class Stream:
    """What a client saw of one stream."""

    status: int
    headers: httpx.Headers
    events: list[dict[str, Any]] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)  # each event's id, as sent
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


def _read(source: EventSource, *, leave_after: int | None = None) -> Stream:
    response = source.response
    stream = Stream(status=response.status_code, headers=response.headers)
    if not response.headers.get("content-type", "").startswith("text/event-stream"):
        response.read()
        stream.body = response.json()
        return stream
    for sse in source.iter_sse():
        stream.events.append(json.loads(sse.data))
        stream.ids.append(sse.id)
        if len(stream.events) == leave_after:
            break  # the caller's block closes the connection
    return stream


def read_stream(
    client: httpx.Client,
    path: str,
    body: Any,
    *,
    headers: dict[str, str] | None = None,
    leave_after: int | None = None,
) -> Stream:
    """POST to a stream and read it to the end, or leave after `leave_after` events (or return
    the error response's JSON)."""
    with connect_sse(client, "POST", path, json=body, headers=dict(headers or {})) as source:
        return _read(source, leave_after=leave_after)


def follow(
    client: httpx.Client,
    pk: int,
    *,
    headers: dict[str, str],
    after: str | None = None,
    query: bool = False,
    leave_after: int | None = None,
) -> Stream:
    """GET a suggestion's events (after the event `after`: in the Last-Event-ID header, as
    EventSource sends it on a reconnect, or with `query` in ?lastEventId=) and read them to
    the end, or leave after `leave_after` events."""
    path = f"/api/ai/suggestions/{pk}/events"
    headers = dict(headers)
    if after is not None and query:
        path += f"?lastEventId={after}"
    elif after is not None:
        headers["Last-Event-ID"] = after
    with connect_sse(client, "GET", path, headers=headers) as source:
        return _read(source, leave_after=leave_after)


def post_events(
    client: httpx.Client, path: str, body: Any, *, headers: dict[str, str]
) -> Iterator[tuple[httpx.Response, dict[str, Any], str]]:
    """POST to a stream; yield its response, each event and its id as they come."""
    with connect_sse(client, "POST", path, json=body, headers=headers) as source:
        for sse in source.iter_sse():
            yield source.response, json.loads(sse.data), sse.id


def get_events(
    client: httpx.Client, pk: int, *, headers: dict[str, str]
) -> Iterator[tuple[httpx.Response, dict[str, Any], str]]:
    """GET a suggestion's events; yield its response, each event and its id as they come."""
    path = f"/api/ai/suggestions/{pk}/events"
    with connect_sse(client, "GET", path, headers=headers) as source:
        for sse in source.iter_sse():
            yield source.response, json.loads(sse.data), sse.id
