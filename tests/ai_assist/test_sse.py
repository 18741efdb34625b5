"""The SSE encoder, checked by a round trip through an independent SSE parser."""

import json

import pytest
from httpx_sse._decoders import SSEDecoder

from ai_assist import sse


def decode(stream: bytes) -> list:
    decoder = SSEDecoder()
    events = []
    for line in stream.decode().splitlines():
        if (event := decoder.decode(line)) is not None:
            events.append(event)
    return events


@pytest.mark.parametrize(
    "content",
    ["plain", "two\nlines", "carriage\r\nreturn", "ünïcode ✓", "\u2028separator", 'quote " \\', ""],
)
def test_text_event_round_trips(content):
    [event] = decode(sse.text(content))
    assert json.loads(event.data) == {"type": "text", "content": content}


def test_event_with_id_and_nested_value_round_trips():
    payload = {"type": "metadata", "value": {"subtasks": [{"title": "a\nb"}], "n": 1}}
    [event] = decode(sse.event(payload, id="7"))
    assert event.id == "7"
    assert json.loads(event.data) == payload


def test_a_text_event_carries_its_id():
    [event] = decode(sse.text("a\nb", id=42))
    assert event.id == "42"
    assert json.loads(event.data) == {"type": "text", "content": "a\nb"}


def test_every_event_is_one_data_line_and_a_blank_line():
    encoded = sse.event({"type": "text", "content": "a\n\nb"})
    assert encoded.count(b"\n") == 2
    assert encoded.startswith(b"data: ") and encoded.endswith(b"\n\n")


def test_comments_are_ignored_by_clients():
    stream = sse.PING + sse.comment("two\nlines") + sse.text("after")
    assert [json.loads(event.data)["content"] for event in decode(stream)] == ["after"]


def test_a_ping_between_events_with_ids_is_no_event_even_to_a_lax_client():
    # httpx-sse dispatches a blank line once an id was seen, even with no data before it.
    stream = sse.text("a", id=1) + sse.PING + sse.PING + sse.text("b", id=2)
    assert [(event.id, json.loads(event.data)["content"]) for event in decode(stream)] == [
        ("1", "a"),
        ("2", "b"),
    ]
