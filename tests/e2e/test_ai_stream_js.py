"""static/js/ai-stream.js inside Chromium: the SSE parser and streamAI over a ReadableStream."""

from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from tests.conftest import Service
from tests.e2e.conftest import browser_page

pytestmark = pytest.mark.e2e

# Run `body` in the page with the module imported as `sse`; chunks are fed as they are given.
RUN = """async ([body, arg]) => {
  const sse = await import("/static/js/ai-stream.js");
  return await (new Function("sse", "arg", `return (async () => { ${body} })()`))(sse, arg);
}"""

PARSE = """
  const events = [];
  const parser = sse.createParser((event) => events.push(event));
  for (const chunk of arg) parser.feed(chunk);
  parser.end();
  return events;
"""

# A fake fetch answering with the given status, headers and body chunks (bytes as arrays).
STREAM = """
  let { status = 200, headers = {"Content-Type": "text/event-stream"}, chunks = [],
          abortAfter = null } = arg;
  const encoder = new TextEncoder();
  const calls = [];
  let handle;
  const fetch = async (url, init) => {
    calls.push({ url, method: init.method, headers: init.headers, body: init.body });
    const body = new ReadableStream({
      async pull(controller) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        if (init.signal.aborted) return controller.error(new DOMException("aborted", "AbortError"));
        const chunk = chunks.shift();
        if (chunk === undefined) return controller.close();
        const bytes = typeof chunk === "string" ? encoder.encode(chunk) : new Uint8Array(chunk);
        controller.enqueue(bytes);
        if (abortAfter !== null && --abortAfter === 0) handle.abort();
      },
    });
    return new Response(body, { status, headers });
  };
  const seen = [];
  handle = sse.streamAI({
    url: "/api/ai/estimate-points-stream", body: { issueId: "ISSUE-1" }, csrfToken: "tok", fetch,
    onText: (text) => seen.push(["text", text]),
    onConfidence: (value) => seen.push(["confidence", value]),
    onMetadata: (value) => seen.push(["metadata", value]),
    onError: (error) => seen.push(["error", error.message]),
    onDone: ({ status }) => seen.push(["done", status]),
  });
  const outcome = await handle.done;
  return { status: outcome, seen, calls };
"""


@pytest.fixture
def page(browser: Browser, e2e_service: Service) -> Any:
    """A blank page of the service's origin, where the module can be imported."""
    with browser_page(browser, e2e_service) as tab:
        tab.goto("/accounts/login/")
        yield tab


def parse(page: Page, chunks: list[str]) -> list[dict[str, str]]:
    return page.evaluate(RUN, [PARSE, chunks])


def stream(page: Page, **options: Any) -> dict[str, Any]:
    return page.evaluate(RUN, [STREAM, options])


def test_parser_joins_events_split_across_chunks(page):
    whole = (
        'data: {"type":"text","content":"Hello "}\n\ndata: {"type":"text","content":"world"}\n\n'
    )
    one_byte_at_a_time = list(whole)

    events = parse(page, one_byte_at_a_time)

    assert [event["data"] for event in events] == [
        '{"type":"text","content":"Hello "}',
        '{"type":"text","content":"world"}',
    ]


def test_parser_ignores_comments_and_keeps_ids(page):
    events = parse(
        page,
        [": ping\n\n", "id: 7\n", "data: a\n\n", ":another comment\n", "data: b\n\n"],
    )

    assert events == [
        {"data": "a", "id": "7", "event": "message"},
        {"data": "b", "id": "7", "event": "message"},  # the last id stays, as the standard says
    ]


@pytest.mark.parametrize(
    ("chunks", "data"),
    [
        (["data: a\r\n\r\ndata: b\r\n\r\n"], ["a", "b"]),
        (["data: a\r\rdata: b\r\r"], ["a", "b"]),  # bare CRs
        (["data: a\n\ndata: b\n", "\n"], ["a", "b"]),
        # A CRLF split between chunks is one line break, not a line break and a blank line.
        (["data: a\r", "\ndata: b\r\n\r\n"], ["a\nb"]),
        (["data: a\r\n\r", "\n"], ["a"]),
        (["data: a\n\r"], ["a"]),  # a CR last in the stream still ends its line
    ],
    ids=["crlf", "cr", "lf", "crlf-split", "crlf-split-blank", "cr-at-end"],
)
def test_parser_accepts_every_line_ending(page, chunks, data):
    assert [event["data"] for event in parse(page, chunks)] == data


def test_parser_follows_the_field_rules(page):
    events = parse(
        page,
        [
            "event: custom\nretry: 1000\nunknown: x\ndata:first\ndata:  second\n\n",
            "data\n\n",  # a field with no colon: empty data, still an event
            "\n\n",  # blank lines with no data dispatch nothing
            "data: cut off at the end",
        ],
    )

    assert events == [
        {"data": "first\n second", "id": "", "event": "custom"},
        {"data": "", "id": "", "event": "message"},
    ]


def test_stream_calls_back_in_order_and_decodes_split_characters(page):
    text = 'data: {"type":"text","content":"café "}\n\n'.encode()
    cut = text.index("é".encode()) + 1  # between the two bytes of é
    chunks = [
        list(text[:cut]),
        list(text[cut:]),
        ": ping\n\nid: 3\r\n",
        'data: {"type":"text","content":"ok"}\r\n\r\n',
        'data: {"type":"confidence","value":0.85}\n\n',
        'data: {"type":"future","value":1}\n\ndata: not json\n\n',
        'data: {"type":"metadata","value":{"suggestionId":4,"suggestedPoints":5}}\n\n',
    ]

    result = stream(page, chunks=chunks)

    assert result["status"] == "completed"
    assert result["seen"] == [
        ["text", "café "],
        ["text", "ok"],
        ["confidence", 0.85],
        ["metadata", {"suggestionId": 4, "suggestedPoints": 5}],
        ["done", "completed"],
    ]
    [call] = result["calls"]
    assert call["method"] == "POST"
    assert call["headers"]["X-CSRFToken"] == "tok"
    assert call["headers"]["Content-Type"] == "application/json"
    assert call["body"] == '{"issueId":"ISSUE-1"}'


def test_stream_reports_an_error_event(page):
    chunks = [
        'data: {"type":"text","content":"Half "}\n\n',
        'data: {"type":"error","message":"The AI service timed out."}\n\n',
    ]

    result = stream(page, chunks=chunks)

    assert result["status"] == "error"
    assert result["seen"][1:] == [["error", "The AI service timed out."], ["done", "error"]]


def test_stream_ending_without_metadata_is_an_error(page):
    result = stream(page, chunks=['data: {"type":"text","content":"Half "}\n\n'])

    assert result["status"] == "error"
    assert result["seen"][1][0] == "error"
    assert "closed before the answer was complete" in result["seen"][1][1]


def test_stream_describes_a_refused_request(page):
    result = stream(
        page,
        status=429,
        headers={"Content-Type": "application/json", "Retry-After": "5"},
        chunks=['{"detail": "Request was throttled."}'],
    )

    assert result["seen"] == [
        ["error", "Request was throttled. Try again in 5 seconds."],
        ["done", "error"],
    ]


def test_stream_names_the_bad_fields_of_a_400(page):
    result = stream(
        page,
        status=400,
        headers={"Content-Type": "application/json"},
        chunks=['{"currentDescription": ["Ensure this field has no more than 20000 characters."]}'],
    )

    assert result["seen"][0] == [
        "error",
        "The request was refused. currentDescription: "
        "Ensure this field has no more than 20000 characters.",
    ]


def test_abort_ends_the_stream_as_aborted(page):
    chunks = [f'data: {{"type":"text","content":"word{i} "}}\n\n' for i in range(50)]

    result = stream(page, chunks=chunks, abortAfter=3)

    assert result["status"] == "aborted"
    assert result["seen"][-1] == ["done", "aborted"]
    assert not any(kind == "error" for kind, _ in result["seen"])
    assert len(result["seen"]) < 10


def test_stream_explains_a_csrf_failure(page):
    result = stream(
        page,
        status=403,
        headers={"Content-Type": "application/json"},
        chunks=['{"detail": "CSRF Failed: CSRF token missing."}'],
    )

    assert result["seen"][0] == [
        "error",
        "This page is out of date (its security token expired). Reload it, then retry.",
    ]


# A fake fetch answering each call with the next of `responses`: {status, headers, chunks,
# broken (the body errors after its chunks, as a dropped connection), rejected (no answer)}.
RESUMING = """
  const { responses, headers = {}, retries = 3 } = arg;
  const encoder = new TextEncoder();
  const calls = [];
  const fetch = async (url, init) => {
    calls.push({ url, method: init.method, headers: init.headers });
    const answer = responses.shift() ?? { rejected: true };
    if (answer.rejected) throw new TypeError("Failed to fetch");
    const chunks = [...(answer.chunks ?? [])];
    const body = new ReadableStream({
      async pull(controller) {
        await new Promise((resolve) => setTimeout(resolve, 2));
        const chunk = chunks.shift();
        if (chunk !== undefined) return controller.enqueue(encoder.encode(chunk));
        if (answer.broken) return controller.error(new TypeError("network error"));
        controller.close();
      },
    });
    return new Response(body, {
      status: answer.status ?? 200,
      headers: answer.headers ?? { "Content-Type": "text/event-stream" },
    });
  };
  const seen = [];
  const handle = sse.streamAI({
    url: "/api/ai/estimate-points-stream", body: { issueId: "ISSUE-1" }, csrfToken: "tok",
    headers, fetch, retries, retryDelay: 5,
    onStarted: (id) => seen.push(["started", id]),
    onText: (text) => seen.push(["text", text]),
    onMetadata: (value) => seen.push(["metadata", value]),
    onError: (error) => seen.push(["error", error.message]),
    onDone: ({ status }) => seen.push(["done", status]),
  });
  return { status: await handle.done, seen, calls };
"""

SSE_HEADERS = {"Content-Type": "text/event-stream", "X-Suggestion-Id": "9"}


def text_event(id: int, content: str) -> str:
    return f'id: {id}\ndata: {{"type":"text","content":"{content}"}}\n\n'


def test_a_dropped_stream_is_picked_up_where_it_broke(page):
    result = page.evaluate(
        RUN,
        [
            RESUMING,
            {
                "responses": [
                    {
                        "headers": SSE_HEADERS,
                        "chunks": [text_event(4, "One "), text_event(8, "two ")],
                        "broken": True,
                    },
                    {"rejected": True},  # still offline
                    {
                        "headers": SSE_HEADERS,
                        # The server cuts text its own way: an id already seen is dropped.
                        "chunks": [
                            text_event(8, "two "),
                            text_event(14, "three."),
                            'id: 16\ndata: {"type":"metadata","value":{"suggestionId":9}}\n\n',
                        ],
                    },
                ]
            },
        ],
    )
    assert result["status"] == "completed"
    assert result["seen"] == [
        ["started", "9"],
        ["text", "One "],
        ["text", "two "],
        ["text", "three."],
        ["metadata", {"suggestionId": 9}],
        ["done", "completed"],
    ]
    post, *resumes = result["calls"]
    assert post["method"] == "POST"
    assert [(call["method"], call["url"]) for call in resumes] == [
        ("GET", "/api/ai/suggestions/9/events")
    ] * 2
    assert all(call["headers"]["Last-Event-ID"] == "8" for call in resumes)


def test_a_post_that_never_answered_is_sent_again_with_its_key(page):
    result = page.evaluate(
        RUN,
        [
            RESUMING,
            {
                "headers": {"Idempotency-Key": "click-1"},
                "responses": [
                    {"rejected": True},
                    {
                        "headers": SSE_HEADERS,
                        "chunks": [
                            text_event(3, "Hi."),
                            'id: 5\ndata: {"type":"metadata","value":{"suggestionId":9}}\n\n',
                        ],
                    },
                ],
            },
        ],
    )
    assert result["status"] == "completed"
    assert [call["method"] for call in result["calls"]] == ["POST", "POST"]
    assert {call["headers"]["Idempotency-Key"] for call in result["calls"]} == {"click-1"}


def test_without_a_key_a_post_that_never_answered_is_not_sent_again(page):
    result = page.evaluate(RUN, [RESUMING, {"responses": [{"rejected": True}]}])
    assert result["status"] == "error"
    assert len(result["calls"]) == 1  # it might have started a call: never a second one
    assert result["seen"][0] == [
        "error",
        "Could not reach the server. Check your connection and try again.",
    ]


def test_a_stream_that_cannot_be_picked_up_again_ends_in_an_error(page):
    broken = {"headers": SSE_HEADERS, "chunks": [text_event(4, "One ")], "broken": True}
    result = page.evaluate(RUN, [RESUMING, {"responses": [broken], "retries": 3}])
    assert result["status"] == "error"
    assert len(result["calls"]) == 1 + 3  # the POST, then three tries
    assert result["seen"][-2] == [
        "error",
        "Could not reach the server. Check your connection and try again.",
    ]
