"""What Python memory one open stream holds, by allocation site (tracemalloc).

Starts the loopback fake upstream (slow, so that the streams stay open) and the service under
uvicorn in a process that traces its allocations, opens N streams, and compares a snapshot
taken while they are all open with one taken before. Prints the growth per open stream, by the
innermost frame of the project's own code and by the allocating line.

    .venv/bin/python -m bench.tracemem [--streams 200] [--root OTHER_CHECKOUT]

--root runs another checkout's server and fake upstream (an older commit, to compare), with
this checkout's client and analysis.
"""

import argparse
import asyncio
import sys
import time
import tracemalloc
from collections import defaultdict
from pathlib import Path

from bench import client, harness
from bench.run import service_request

# Runs in the server's process: trace once the application is imported (tracing its imports
# takes minutes), and take a snapshot (after a full collection) whenever the parent asks for
# one with a file <name>.want.
SERVER = """
import gc, os, sys, threading, time, tracemalloc
from pathlib import Path
import config.asgi
tracemalloc.start({frames})
out = Path({out!r})
def watch():
    while True:
        for want in out.glob("*.want"):
            want.unlink()
            gc.collect()
            snapshot = tracemalloc.take_snapshot()
            snapshot.dump(str(out / (want.stem + ".tmp")))
            os.rename(out / (want.stem + ".tmp"), out / (want.stem + ".snap"))
        time.sleep(0.1)
threading.Thread(target=watch, daemon=True).start()
import uvicorn
uvicorn.run("config.asgi:application", host="127.0.0.1", port={{port}}, backlog=4096,
            access_log=False)
"""

PROJECT = ("ai_assist/", "config/", "issues/", "insights/")


def snapshot(out: Path, name: str) -> tracemalloc.Snapshot:
    (out / f"{name}.want").touch()
    path = out / f"{name}.snap"
    while not path.exists():
        time.sleep(0.1)
    return tracemalloc.Snapshot.load(str(path))


async def measure(port: int, tokens: list[str], out: Path, n: int, settle: float):
    # Warm up: imports, the SDK's client and pool, the database connection.
    warm = [service_request(i, tokens, "[[fake:delay=0]]")[1] for i in range(30)]
    await asyncio.gather(*(client.stream(port, r) for r in warm))
    await asyncio.sleep(1)
    before = snapshot(out, "before")
    heard = [asyncio.get_running_loop().create_future() for _ in range(n)]
    requests = [service_request(i, tokens)[1] for i in range(n)]
    streams = [
        asyncio.ensure_future(client.stream(port, r, on_headers=h, timeout=900))
        for r, h in zip(requests, heard, strict=True)
    ]
    await asyncio.wait(heard, timeout=120)
    await asyncio.sleep(settle)  # past the first text, into the steady part of each stream
    opened = sum(1 for s in streams if not s.done())
    during = snapshot(out, "during")
    for s in streams:
        s.cancel()
    await asyncio.gather(*streams, return_exceptions=True)
    return before, during, opened


def where(frame: tracemalloc.Frame) -> str:
    name = frame.filename
    for marker in ("site-packages/", "/lib/python3.13/"):
        if marker in name:
            name = name.split(marker, 1)[1]
    return f"{name}:{frame.lineno}"


def project_frame(traceback: tracemalloc.Traceback) -> str:
    """The innermost frame of the project's own code (tracebacks list the newest last)."""
    for frame in reversed(traceback):
        if any(part in frame.filename for part in PROJECT) and "/.venv/" not in frame.filename:
            return where(frame)
    return "(no project frame)"


def report(before, during, n: int, top: int) -> None:
    ignore = [
        tracemalloc.Filter(False, tracemalloc.__file__),
        tracemalloc.Filter(False, "<frozen importlib._bootstrap*>"),
    ]
    before, during = before.filter_traces(ignore), during.filter_traces(ignore)
    diffs = during.compare_to(before, "traceback")
    total = sum(d.size_diff for d in diffs)
    print(f"{n} streams open; Python memory grown {total / 2**10:.0f} KB, "
          f"{total / n / 2**10:.2f} KB per stream ({total / n:.0f} B)")  # fmt: skip
    by_project: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_pair: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for d in diffs:
        key = project_frame(d.traceback)
        line = where(d.traceback[-1])
        for table, k in ((by_project, key), (by_pair, (key, line))):
            table[k][0] += d.size_diff
            table[k][1] += d.count_diff
    print("\nby the innermost project frame (bytes per stream, blocks per stream):")
    for key, (size, count) in sorted(by_project.items(), key=lambda kv: -kv[1][0])[:top]:
        print(f"  {size / n:8.0f} B  {count / n:6.1f}  {key}")
    print("\nby project frame and allocating line:")
    for (key, line), (size, count) in sorted(by_pair.items(), key=lambda kv: -kv[1][0])[:top]:
        print(f"  {size / n:8.0f} B  {count / n:6.1f}  {key}  <-  {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--tokens", type=int, default=400, help="prose chunks per answer")
    parser.add_argument("--delay", type=float, default=0.5, help="upstream seconds per chunk")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds open before the snap")
    parser.add_argument("--frames", type=int, default=25)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--root", type=Path, default=harness.ROOT)
    parser.add_argument("--save", type=Path, help="keep the two snapshots in this directory")
    args = parser.parse_args()
    root = args.root.resolve()
    out = args.save or (harness.VAR / "tracemem")
    out.mkdir(parents=True, exist_ok=True)
    for old in [*out.glob("*.snap"), *out.glob("*.want")]:
        old.unlink()
    harness.VAR.mkdir(parents=True, exist_ok=True)
    harness.raise_open_files()
    database_url = harness.sqlite_url("tracemem")
    tokens = harness.database_prepare(database_url, users=20, root=root)
    fake = [sys.executable, "-m", "tests.fake_openai", "--port", "{port}"]
    fake += ["--tokens", str(args.tokens), "--delay", str(args.delay)]
    with harness.running("tracemem-fake", fake, root=root) as upstream:
        env = harness.service_env(
            database_url=database_url, upstream_port=upstream.port, provider="openai"
        )
        code = SERVER.format(frames=args.frames, out=str(out.resolve()))
        server_args = [sys.executable, "-c", code]
        with harness.running("tracemem-server", server_args, env, root=root) as server:
            before, during, opened = asyncio.run(
                measure(server.port, tokens, out, args.streams, args.settle)
            )
    report(before, during, opened, args.top)


if __name__ == "__main__":
    main()
