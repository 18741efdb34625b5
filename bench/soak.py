"""Fault soak: thousands of streams with upstream errors, cut streams, clients that leave early
and clients that stop reading; then a worker killed mid-stream and restarted.

Then check every stored suggestion against what its client saw, and the server's memory against
where it started. Bounded in count and time; loopback only. Run it with `bin/bench --soak`.
"""

import argparse
import asyncio
import contextlib
import os
import random
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import uvloop

from bench import client, harness

KINDS = ("refine", "estimate", "breakdown")
# What each request asks of the fake upstream, and how its client behaves.
FAULTS = {
    "500": "[[fake:500]]",  # the upstream answers HTTP 500
    "cut": "[[fake:cut]]",  # the upstream drops the connection half way
    "leave": "[[fake:delay=0.01]]",  # a slower answer, which the client leaves after one event
    # A slow answer (20 s) whose client stops reading after one event: the call's deadline
    # (10 s) ends it. (A send blocked on such a client ends there too: tests/ai_assist/
    # test_deadline.py; on loopback the kernel takes more than an answer's worth first.)
    "stall": "[[fake:delay=0.4]]",
    "none": "",
}
# AI_DEADLINE of the soak's server: well past its plain calls' time, even on a loaded machine.
DEADLINE = 10


@dataclass(frozen=True)
class Call:
    number: int
    kind: str
    fault: str

    @property
    def key(self) -> str:
        return f"SOAK-{self.number}"


def plan(count: int, *, seed: int = 1, share: float = 0.1, stalls: float = 0.01) -> list[Call]:
    """`count` calls: `share` of them each with an upstream error, a cut, a client leaving, and
    `stalls` of them with a client that stops reading (each holds its slot to its deadline)."""
    rng = random.Random(seed)
    calls = []
    for number in range(1, count + 1):
        draw = rng.random() / share
        fault = "500" if draw < 1 else "cut" if draw < 2 else "leave" if draw < 3 else "none"
        if fault == "none" and draw < 3 + stalls / share:
            fault = "stall"
        calls.append(Call(number, KINDS[number % len(KINDS)], fault))
    return calls


def _request(call: Call, token: str) -> bytes:
    body = {
        "issueId": call.key,
        "issueType": "TASK",
        "currentDescription": f"Soak call {call.number}. {FAULTS[call.fault]}",
    }
    return client.post(harness.PATHS[call.kind], body, {"Authorization": f"Token {token}"})


async def run(
    port: int, calls: list[Call], tokens: list[str], *, concurrency: int, deadline: float
) -> list[client.Outcome]:
    """Make the calls, `concurrency` at a time; give up on what has not started by `deadline`."""
    gate = asyncio.Semaphore(concurrency)

    async def one(call: Call) -> client.Outcome:
        async with gate:
            if time.monotonic() > deadline:
                return client.Outcome(error="not started: the soak ran out of time")
            return await client.stream(
                port,
                _request(call, tokens[call.number % len(tokens)]),
                leave_after=1 if call.fault == "leave" else None,
                stall=(1, DEADLINE + 3) if call.fault == "stall" else None,
                keep_text=True,
                timeout=max(deadline - time.monotonic(), 1),
            )

    return await asyncio.gather(*(one(call) for call in calls))


def check(
    calls: list[Call], outcomes: list[client.Outcome], rows: list[dict[str, Any]]
) -> tuple[list[str], Counter]:
    """Return what contradicts the invariants, and how the calls ended (saw -> stored status).

    Every call stores one suggestion; none stays `streaming`; `completed` exactly when the
    client got the metadata (with that suggestion's id and text), `failed` exactly when it got
    an error event, `cancelled` when it left (having seen a prefix of the stored text), and
    `failed` past its deadline when it stopped reading (the server then closed the stream).
    """
    problems: list[str] = []
    by_key: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_key.setdefault(row["request"]["issueId"], []).append(row)
    if len(rows) != len(calls):
        problems.append(f"{len(rows)} suggestions stored for {len(calls)} calls")
    ends: Counter = Counter()
    expected = {"completed": "completed", "failed": "failed", "left": "cancelled"}
    for call, seen in zip(calls, outcomes, strict=True):
        stored = by_key.get(call.key, [])
        if len(stored) != 1:
            problems.append(f"{call.key}: {len(stored)} suggestions stored")
            continue
        row = stored[0]
        ends[(call.fault, seen.saw, row["status"])] += 1
        if call.fault == "stall":
            if row["status"] != "failed" or "AI_DEADLINE" not in row["error"]:
                problems.append(f"{call.key}: stopped reading, stored {row['status']}")
        elif seen.status != 200 or seen.saw == "broken":
            problems.append(f"{call.key}: HTTP {seen.status}, {seen.error or 'no end event'}")
        elif row["status"] != expected[seen.saw]:
            problems.append(f"{call.key}: the client saw {seen.saw}, stored {row['status']}")
        elif seen.saw == "completed" and (
            seen.final["value"]["suggestionId"] != row["id"] or seen.text != row["text"]
        ):
            problems.append(f"{call.key}: stored id or text differs from what the client got")
        elif seen.saw == "left" and not row["text"].startswith(seen.text):
            problems.append(f"{call.key}: the text the client saw is not what was stored")
    return problems, ends


KILLED = 24  # calls in flight when a worker is killed


async def _killed_calls(port: int, tokens: list[str], kill: Any) -> list[client.Outcome]:
    """Start slow calls (5 s each), kill a worker a second in, read what is left of them."""
    calls = [Call(number, KINDS[number % len(KINDS)], "none") for number in range(KILLED)]

    def request(call: Call) -> bytes:
        body = {
            "issueId": f"KILL-{call.number + 1}",
            "issueType": "TASK",
            "currentDescription": "Killed [[fake:delay=0.05]] [[fake:tokens=100]]",
        }
        headers = {"Authorization": f"Token {tokens[call.number % len(tokens)]}"}
        return client.post(harness.PATHS[call.kind], body, headers)

    streams = [
        asyncio.create_task(client.stream(port, request(call), keep_text=True, timeout=30))
        for call in calls
    ]
    await asyncio.sleep(1)
    kill()
    return await asyncio.gather(*streams)


def kill_a_worker(
    server: harness.Process, *, workers: int, env: dict[str, str], tokens: list[str], url: str
) -> tuple[list[str], float]:
    """Kill a worker (SIGKILL) in the middle of its streams; start it again (uvicorn's
    supervisor does with several workers); check that within a minute none of those calls is
    left `streaming`, each ended `failed` (interrupted) or, served by a worker that lived,
    `completed`. Return the problems and how long that took."""
    if workers == 1:
        victim = server.pid
    else:  # one of the supervisor's workers (not multiprocessing's resource tracker)
        victim = next(pid for pid in harness.tree(server.pid)[1:] if harness.is_worker(pid))
    outcomes = uvloop.run(
        _killed_calls(server.port, tokens, lambda: os.kill(victim, signal.SIGKILL))
    )
    killed_at = time.monotonic()
    with contextlib.ExitStack() as stack:
        if workers == 1:
            stack.enter_context(harness.service(workers=1, env=env))  # restarted
        while True:
            rows = [r for r in harness.suggestions(url) if r["request"]["issueId"][:5] == "KILL-"]
            took = time.monotonic() - killed_at
            if not any(row["status"] == "streaming" for row in rows) or took > 90:
                break
            time.sleep(2)
    problems = [f"{len(rows)} suggestions stored for {KILLED} killed calls"] * (len(rows) != KILLED)
    by_key = {row["request"]["issueId"]: row for row in rows}
    for number, seen in enumerate(outcomes, 1):
        row = by_key.get(f"KILL-{number}")
        ended = (seen.saw, row and row["status"])
        if ended not in (("completed", "completed"), ("broken", "failed")):
            problems.append(f"KILL-{number}: the client saw {ended[0]}, stored {ended[1]}")
    if took > 60:
        problems.append(f"calls of the killed worker still streaming after {took:.0f} s")
    return problems, took


def main() -> None:
    parser = argparse.ArgumentParser(prog="bin/bench --soak", description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=150)
    parser.add_argument("--tokens", type=int, default=50, help="prose chunks per answer")
    parser.add_argument("--delay", type=float, default=0.002, help="upstream seconds per chunk")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--time-limit", type=float, default=600, help="seconds for the soak")
    args = parser.parse_args()

    harness.raise_open_files()
    if args.db == "postgres":
        database_url = harness.postgres_fresh(os.environ["DATABASE_URL"], "soak")
    else:
        database_url = harness.sqlite_url("soak")
    tokens = harness.database_prepare(database_url, users=args.users)
    warm_up = plan(2 * args.concurrency, seed=args.seed + 1)
    calls = [Call(c.number + len(warm_up), c.kind, c.fault) for c in plan(args.streams)]
    harness.keep_load_off_the_server_core(args.workers)
    with harness.fake_upstream(tokens=args.tokens, delay=args.delay) as fake:
        env = harness.service_env(
            database_url=database_url, upstream_port=fake.port, provider="openai"
        )
        env["AI_MAX_RETRIES"] = "0"  # an upstream error ends the call: no retry hides it
        env["AI_DEADLINE"] = str(DEADLINE)
        with harness.service(workers=args.workers, env=env) as server:
            deadline = time.monotonic() + args.time_limit
            # Warm up with the same mix, so that "before" is the memory of a server in use.
            uvloop.run(run(server.port, warm_up, tokens, concurrency=args.concurrency,
                           deadline=deadline))  # fmt: skip
            rss_before = harness.rss_bytes(server.pid)
            started = time.monotonic()
            with harness.PeakMemory(server.pid) as memory:
                outcomes = uvloop.run(
                    run(server.port, calls, tokens, concurrency=args.concurrency,
                        deadline=deadline)
                )  # fmt: skip
            elapsed = time.monotonic() - started
            time.sleep(1)  # let the last requests' clean-up run
            rss_after = harness.rss_bytes(server.pid)
            killed_problems, swept_in = kill_a_worker(
                server, workers=args.workers, env=env, tokens=tokens, url=database_url
            )
    rows = harness.suggestions(database_url, after=0)
    rows = [
        row
        for row in rows
        if row["request"]["issueId"].startswith("SOAK-")
        and int(row["request"]["issueId"].split("-")[1]) > len(warm_up)
    ]
    problems, ends = check(calls, outcomes, rows)
    problems += killed_problems
    grown = rss_after - rss_before
    print(
        f"soak db={args.db} workers={args.workers} streams={args.streams} "
        f"concurrency={args.concurrency} tokens={args.tokens} delay={args.delay}s: "
        f"{elapsed:.1f} s",
        *(f"  fault={f:<5} client saw {saw:<9} stored {status:<9} {n:5d}"
          for (f, saw, status), n in sorted(ends.items())),
        f"  stored per status: {dict(Counter(row['status'] for row in rows))}",
        f"  server memory: {rss_before / 2**20:.1f} MB before, {memory.peak / 2**20:.1f} MB peak,"
        f" {rss_after / 2**20:.1f} MB after ({grown / 2**20:+.1f} MB)",
        f"  a worker killed (SIGKILL) mid-stream, restarted: its calls ended in {swept_in:.0f} s",
        f"  problems: {len(problems)}",
        *(f"    {problem}" for problem in problems[:20]),
        sep="\n",
    )  # fmt: skip
    # Memory is back when it is within 10% of where it started (allocator slack, caches).
    sys.exit(1 if problems or grown > rss_before * 0.1 else 0)


if __name__ == "__main__":
    main()
