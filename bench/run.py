"""Benchmark the streams: the service under uvicorn, many clients, the loopback fake upstream.

Prints the server's CPU time per relayed chunk, the time to the first text event beside the
upstream read directly, the largest gaps between events, errors, the stored suggestions per
status and the server's peak memory. Run it with `bin/bench` (see the README's Performance).
"""

import argparse
import asyncio
import bisect
import contextlib
import json
import os
import statistics
import time
from collections import Counter
from typing import Any

import uvloop

from bench import client, harness
from tests.fake_openai import json_block, split_tokens

KINDS = ("refine", "estimate", "breakdown")
RELAYS = {"ours": "openai", "sdk": "bench.sdk_relay.SDKRelayProvider"}


def chunks_per_stream(kind: str, tokens: int) -> int:
    """The upstream's content chunks in one answer: the prose, then the JSON block's chunks."""
    return tokens + len(split_tokens(json_block(kind)))


def service_request(i: int, tokens: list[str], marker: str = "") -> tuple[str, bytes]:
    kind = KINDS[i % len(KINDS)]
    body = {
        "issueId": f"BENCH-{i + 1}",
        "issueType": "STORY",
        "currentDescription": f"Export the report of team {i} as CSV. {marker}",
    }
    headers = {"Authorization": f"Token {tokens[i % len(tokens)]}"}
    return kind, client.post(harness.PATHS[kind], body, headers)


def upstream_request(i: int, marker: str = "") -> bytes:
    kind = KINDS[i % len(KINDS)]
    body = {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": f"Operation: {kind}"},
            {"role": "user", "content": f"Export the report of team {i} as CSV. {marker}"},
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    return client.post("/v1/chat/completions", body, {"Authorization": "Bearer sk-bench"})


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def peak_open(outcomes: list[client.Outcome]) -> int:
    """The most streams that were open (first text seen, end not yet) at one moment."""
    moments = []
    for o in outcomes:
        if o.first_text is not None and o.ended is not None:
            moments += [(o.first_text, 1), (o.ended, -1)]
    open_now = peak = 0
    for _, step in sorted(moments):
        open_now += step
        peak = max(peak, open_now)
    return peak


async def probe_ttft(args: argparse.Namespace, server: int, upstream: int, tokens: list[str]):
    """Time to first text at one stream: the upstream directly, then through the service.

    The upstream paces its chunks as in the load (a model's first token comes alone), and each
    probe leaves at its first text: the rest of the answer is not what is measured.
    """
    direct, relayed = [], []
    for i in range(args.probes):
        o = await client.stream(
            upstream,
            upstream_request(i),
            text_marker=client.UPSTREAM_TEXT,
            leave_at_first_text=True,
        )
        direct.append(o.ttft)
        o = await client.stream(server, service_request(i, tokens)[1], leave_at_first_text=True)
        relayed.append(o.ttft)
        await asyncio.sleep(0.05)  # the service ends the stream its client left
    return statistics.median(direct), statistics.median(relayed)


async def load(port: int, requests: list[bytes], marker: bytes) -> list[client.Outcome]:
    return await asyncio.gather(*(client.stream(port, r, text_marker=marker) for r in requests))


async def load_followed(
    port: int, other: int, requests: list[bytes], tokens: list[str]
) -> tuple[list[client.Outcome], list[client.Outcome]]:
    """Post each stream to `port` and, once its headers name its suggestion, follow it with
    GET .../events on `other` (as its poster's user); return the posters and the followers."""

    async def one(i: int, request: bytes) -> tuple[client.Outcome, client.Outcome]:
        heard = asyncio.get_running_loop().create_future()
        post = asyncio.ensure_future(client.stream(port, request, keep_ids=True, on_headers=heard))
        await asyncio.wait([heard, post], return_when=asyncio.FIRST_COMPLETED)
        pk = heard.result().suggestion_id if heard.done() else None
        if pk is None:
            return await post, client.Outcome(error="nothing to follow")
        path = f"/api/ai/suggestions/{pk}/events"
        headers = {"Authorization": f"Token {tokens[i % len(tokens)]}"}
        follower = await client.stream(other, client.get(path, headers), keep_ids=True)
        return await post, follower

    pairs = await asyncio.gather(*(one(i, r) for i, r in enumerate(requests)))
    return [post for post, _ in pairs], [follower for _, follower in pairs]


def follow_delays(posters: list[client.Outcome], followers: list[client.Outcome]) -> list[float]:
    """How much later than its poster a follower had each event (by id: a place in the text)."""
    delays = []
    for post, follower in zip(posters, followers, strict=True):
        if not post.ids or not follower.ids:
            continue
        ids = [id for _, id in post.ids]
        for at, id in follower.ids:
            first = bisect.bisect_left(ids, id)
            if first < len(ids):
                delays.append(at - post.ids[first][0])
    return delays


def summary(outcomes: list[client.Outcome]) -> dict[str, Any]:
    ttft = [o.ttft for o in outcomes if o.ttft is not None]
    gaps = [gap for o in outcomes for gap in o.gaps]
    return {
        "ttft_p50_ms": percentile(ttft, 50) * 1000,
        "ttft_p99_ms": percentile(ttft, 99) * 1000,
        "gap_p99_ms": percentile(gaps, 99) * 1000,
        "gap_max_ms": max(gaps, default=0) * 1000,
        "events_per_stream": statistics.mean(o.events for o in outcomes),
        "errors": sum(1 for o in outcomes if o.status != 200 or o.error or o.left),
        "incomplete": sum(1 for o in outcomes if o.saw != "completed"),
        "duration_s": max(o.ended or 0 for o in outcomes) - min(o.started for o in outcomes),
    }


async def bench(
    args: argparse.Namespace,
    server: harness.Process,
    upstream: int,
    tokens,
    database_url: str,
    other: harness.Process | None = None,
):
    # Warm up every worker: imports, the SDK's client and connection pool, database connections.
    warm = [service_request(i, tokens, "[[fake:delay=0]]")[1] for i in range(20 * args.workers)]
    await load(server.port, warm, client.SERVICE_TEXT)
    if other is not None:
        await load_followed(server.port, other.port, warm, tokens)
    direct_ttft, relayed_ttft = await probe_ttft(args, server.port, upstream, tokens)
    last_probe = max(row["id"] for row in harness.suggestions(database_url))  # before the load

    direct = await load(
        upstream,
        [upstream_request(i) for i in range(args.streams)],
        client.UPSTREAM_TEXT,
    )
    requests = [service_request(i, tokens) for i in range(args.streams)]
    pids = [server.pid] + ([other.pid] if other else [])
    speed_before = harness.machine_speed()
    rss_before = sum(map(harness.rss_bytes, pids))
    cpu_before = sum(map(harness.cpu_seconds, pids))
    client_cpu = time.process_time()
    followers: list[client.Outcome] = []
    with harness.PeakMemory(*pids) as memory, harness.profiling(server.pid, args.profile):
        if other is None:
            outcomes = await load(server.port, [r for _, r in requests], client.SERVICE_TEXT)
        else:
            outcomes, followers = await load_followed(
                server.port, other.port, [r for _, r in requests], tokens
            )
    client_cpu = time.process_time() - client_cpu
    cpu = sum(map(harness.cpu_seconds, pids)) - cpu_before
    speed_after = harness.machine_speed()
    chunks = sum(
        chunks_per_stream(kind, args.tokens)
        for (kind, _), o in zip(requests, outcomes, strict=True)
        if o.saw == "completed"
    )
    return {
        "direct": summary(direct),
        "relayed": summary(outcomes),
        "probe": {"direct_ms": direct_ttft * 1000, "relayed_ms": relayed_ttft * 1000},
        "last_probe": last_probe,
        "cpu_s": cpu,
        "client_cpu_s": client_cpu,
        "chunks": chunks,
        "calls": sum(1 for o in outcomes if o.saw == "completed"),
        "rss_before": rss_before,
        "rss_peak": memory.peak,
        "peak_open": peak_open(outcomes),
        "speed_s": (speed_before, speed_after),
        "followers": followers_summary(outcomes, followers) if other else None,
    }


def followers_summary(
    posters: list[client.Outcome], followers: list[client.Outcome]
) -> dict[str, Any]:
    delays = follow_delays(posters, followers)
    return {
        "delay_p50_ms": percentile(delays, 50) * 1000,
        "delay_p99_ms": percentile(delays, 99) * 1000,
        "delay_max_ms": max(delays, default=float("nan")) * 1000,
        "errors": sum(1 for f in followers if f.status != 200 or f.error),
        "completed": sum(1 for f in followers if f.saw == "completed"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="bin/bench", description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=1000, help="concurrent streams")
    parser.add_argument("--tokens", type=int, default=200, help="prose chunks per answer")
    parser.add_argument("--delay", type=float, default=0.02, help="upstream seconds per chunk")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--relay", choices=sorted(RELAYS), default="ours", help="sdk: baseline")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--probes", type=int, default=20, help="1-stream TTFT samples")
    parser.add_argument("--profile", metavar="FILE", help="py-spy's collapsed stacks of the load")
    parser.add_argument(
        "--no-baseline", action="store_true", help="skip the SDK relay's run after ours"
    )
    parser.add_argument(
        "--followers",
        action="store_true",
        help="follow every stream with GET .../events on a second server process",
    )
    args = parser.parse_args()
    if args.followers and args.workers != 1:
        parser.error("--followers runs two server processes of one worker each")

    harness.raise_open_files()
    harness.keep_load_off_the_server_core(2 if args.followers else args.workers)
    ours = run(args, args.relay)
    if args.relay == "sdk" or args.no_baseline:
        return
    baseline = run(args, "sdk")
    print(
        "against the baseline, measured in this run:\n"
        f"  CPU per relayed chunk         {ours['cpu_per_chunk'] / baseline['cpu_per_chunk']:8.0%}"
        f"   ({ours['cpu_per_chunk']:.1f} µs against {baseline['cpu_per_chunk']:.1f} µs)\n"
        f"  memory per open stream        {ours['kb_per_open'] / baseline['kb_per_open']:8.0%}"
        f"   ({ours['kb_per_open']:.1f} KB against {baseline['kb_per_open']:.1f} KB)",
        flush=True,
    )


def run(args: argparse.Namespace, relay: str) -> dict[str, Any]:
    """Run the benchmark once with `relay`, on a fresh database; print and return its figures."""
    if args.db == "postgres":
        database_url = harness.postgres_fresh(os.environ["DATABASE_URL"], f"bench_{relay}")
    else:
        database_url = harness.sqlite_url(f"bench-{relay}")
    tokens = harness.database_prepare(database_url, users=args.users)
    env = harness.service_env(database_url=database_url, upstream_port=0, provider=RELAYS[relay])
    if relay == "sdk":
        env["AI_SSE_FLUSH_INTERVAL"] = "0"  # a plain relay sends each chunk as it comes
    with harness.fake_upstream(tokens=args.tokens, delay=args.delay) as fake:
        env["OPENAI_BASE_URL"] = f"http://127.0.0.1:{fake.port}/v1"
        with contextlib.ExitStack() as stack:
            pinned = not args.followers  # two servers on two cores: none of them pinned
            server = stack.enter_context(
                harness.service(workers=args.workers, env=env, pinned=pinned)
            )
            other = None
            if args.followers:
                other = stack.enter_context(
                    harness.service(workers=1, env=env, name="server-2", pinned=False)
                )
            result = uvloop.run(bench(args, server, fake.port, tokens, database_url, other))
    stored = Counter(
        row["status"] for row in harness.suggestions(database_url, after=result["last_probe"])
    )
    return report(args, relay, result, stored)


def report(args: argparse.Namespace, relay: str, r: dict[str, Any], stored: Counter) -> dict:
    relayed, direct, probe = r["relayed"], r["direct"], r["probe"]
    grown = r["rss_peak"] - r["rss_before"]
    r["cpu_per_chunk"] = r["cpu_s"] / max(r["chunks"], 1) * 1e6
    r["cpu_per_call_ms"] = r["cpu_s"] / max(r["calls"], 1) * 1e3
    r["kb_per_open"] = grown / 2**10 / max(r["peak_open"], 1)
    lines = [
        f"relay={relay} db={args.db} workers={args.workers} streams={args.streams} "
        f"{'followers=yes ' if args.followers else ''}"
        f"tokens={args.tokens} delay={args.delay}s",
        f"  server CPU per relayed chunk  {r['cpu_per_chunk']:8.1f} µs"
        f"   ({r['cpu_s']:.2f} s for {r['chunks']} upstream content chunks, JSON block's included;"
        f" client {r['client_cpu_s']:.2f} s)",
        f"  server CPU per call           {r['cpu_per_call_ms']:8.2f} ms"
        f"   ({r['calls']} calls completed)",
        f"  time to first text, 1 stream  {probe['relayed_ms']:8.2f} ms"
        f"   (upstream direct {probe['direct_ms']:.2f} ms, overhead "
        f"{probe['relayed_ms'] - probe['direct_ms']:+.2f} ms; median of {args.probes})",
        f"  time to first text, loaded    {relayed['ttft_p50_ms']:8.1f} ms p50"
        f"   {relayed['ttft_p99_ms']:.1f} ms p99 (upstream direct {direct['ttft_p50_ms']:.1f} /"
        f" {direct['ttft_p99_ms']:.1f} ms)",
        f"  gap between text events       {relayed['gap_p99_ms']:8.1f} ms p99"
        f"   {relayed['gap_max_ms']:.1f} ms max (upstream direct {direct['gap_p99_ms']:.1f} /"
        f" {direct['gap_max_ms']:.1f} ms); {relayed['events_per_stream']:.0f} events per stream",
        f"  errors                        {relayed['errors']:8d}"
        f"   ({relayed['incomplete']} without metadata)"
        f"   (upstream direct {direct['errors']}); wall time {relayed['duration_s']:.1f} s"
        f" (direct {direct['duration_s']:.1f} s)",
        f"  suggestions stored            {dict(sorted(stored.items()))}",
        f"  server memory                 {r['rss_peak'] / 2**20:8.1f} MB peak"
        f"   ({r['rss_before'] / 2**20:.1f} MB before; {r['kb_per_open']:.1f}"
        f" KB per open stream, {r['peak_open']} open at the peak)",
        f"  machine speed                 {r['speed_s'][0] * 1000:8.0f} ms before"
        f"   {r['speed_s'][1] * 1000:.0f} ms after: a fixed Python loop on the server's core",
    ]
    if followed := r["followers"]:
        lines.append(
            f"  followers on the 2nd server   {followed['delay_p50_ms']:8.1f} ms p50 later"
            f"   {followed['delay_p99_ms']:.1f} ms p99, {followed['delay_max_ms']:.1f} ms max"
            f" (each event, against its poster); {followed['completed']} to the metadata,"
            f" {followed['errors']} errors"
        )
    print("\n".join(lines), flush=True)
    with (harness.VAR / "results.jsonl").open("a") as log:
        log.write(json.dumps({"args": vars(args) | {"relay": relay}, **r, "stored": stored}) + "\n")
    return r


if __name__ == "__main__":
    main()
