"""Start the fake upstream and the service under uvicorn, make a database, watch CPU and RSS."""

import contextlib
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var" / "bench"
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
PATHS = {
    "refine": "/api/ai/refine-description-stream",
    "estimate": "/api/ai/estimate-points-stream",
    "breakdown": "/api/ai/breakdown-issue-stream",
}


def raise_open_files() -> None:
    """Allow as many sockets as the hard limit does: a thousand streams hold two each."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{process.args[:4]} did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.05)


def tree(pid: int) -> list[int]:
    """The process and all its descendants (uvicorn's supervisor and its workers)."""
    pids, i = [pid], 0
    while i < len(pids):
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{pids[i]}/task").iterdir():
                pids += [int(c) for c in (task / "children").read_text().split()]
        i += 1
    return pids


def is_worker(pid: int) -> bool:
    """Whether a child of uvicorn's supervisor is one of its workers."""
    with contextlib.suppress(OSError):
        return b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    return False


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of the process tree, from /proc/<pid>/stat."""
    total = 0
    for each in tree(pid):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


def rss_bytes(pid: int) -> int:
    """Resident memory of the process tree, from /proc/<pid>/statm."""
    total = 0
    for each in tree(pid):
        with contextlib.suppress(OSError):
            total += int(Path(f"/proc/{each}/statm").read_text().split()[1]) * PAGE
    return total


class PeakMemory:
    """Sample process trees' RSS every few milliseconds in a thread; keep the peak of their sum."""

    def __init__(self, *pids: int, every: float = 0.02) -> None:
        self.pids, self.every, self.peak = pids, every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, sum(map(rss_bytes, self.pids)))
            self._stop.wait(self.every)

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Process:
    process: subprocess.Popen
    port: int
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid


def _spawn(
    name: str,
    args: list[str],
    env: dict[str, str] | None = None,
    cpus: set[int] | None = None,
    root: Path = ROOT,
) -> Process:
    VAR.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = VAR / f"{name}.log"
    process = subprocess.Popen(
        [arg.replace("{port}", str(port)) for arg in args],
        cwd=root,
        env={**os.environ, **(env or {})},
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # stopped as a group, workers included
        preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
    )
    wait_for_port(port, process, log)
    return Process(process, port, log)


@contextlib.contextmanager
def running(
    name: str,
    args: list[str],
    env: dict[str, str] | None = None,
    cpus: set[int] | None = None,
    root: Path = ROOT,
) -> Iterator[Process]:
    """Run a server process for the block (on `cpus`, if given, from the checkout at `root`);
    stop it (and its children)."""
    proc = _spawn(name, args, env, cpus, root)
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.process.wait()


def fake_upstream(*, tokens: int, delay: float) -> contextlib.AbstractContextManager[Process]:
    args = [sys.executable, "-m", "tests.fake_openai", "--port", "{port}"]
    return running("fake", [*args, "--tokens", str(tokens), "--delay", str(delay)])


def service_env(*, database_url: str, upstream_port: int, provider: str) -> dict[str, str]:
    return {
        "DJANGO_SECRET_KEY": "bench-only-secret",
        "DJANGO_DEBUG": "False",
        "DATABASE_URL": database_url,
        "AI_PROVIDER": provider,
        "OPENAI_API_KEY": "sk-bench-not-a-real-key",
        "OPENAI_BASE_URL": f"http://127.0.0.1:{upstream_port}/v1",
        "AI_TIMEOUT": "60",
        "AI_RATE_LIMIT": "1000000/min",
        "AI_MAX_CONCURRENT_STREAMS": "0",
        # The first-text probes leave at their first text: their calls end then, rather than
        # run on for a grace and load the probes that follow.
        "AI_DETACH_GRACE": "0",
    }


# One worker gets a core of its own, and the load (this process, the fake upstream it starts)
# the others: the server's CPU time is then its own work, not the cost of sharing a core with
# them, and runs agree within a few per cent where they were 15% apart.
CPUS = sorted(os.sched_getaffinity(0))


_LOOP = """
import time
t = time.process_time()
x = 0
for i in range(2_000_000):
    x += i
print(time.process_time() - t)
"""


def machine_speed() -> float:
    """Seconds of CPU that a fixed pure-Python loop takes on the server's core, now.

    This machine's speed drifts by half from minute to minute (its host is shared): the same
    code's CPU per chunk moves with it, and this says how fast the machine was at the time.
    """
    cpus = {CPUS[0]}
    run = subprocess.run(
        [sys.executable, "-c", _LOOP],
        capture_output=True,
        text=True,
        check=True,
        preexec_fn=lambda: os.sched_setaffinity(0, cpus),
    )
    return float(run.stdout)


def keep_load_off_the_server_core(workers: int) -> None:
    """Call before the fake upstream starts, so that it inherits the load's cores."""
    if workers == 1 and len(CPUS) > 1:
        os.sched_setaffinity(0, CPUS[1:])


def service(
    *, workers: int, env: dict[str, str], name: str = "server", pinned: bool = True
) -> contextlib.AbstractContextManager[Process]:
    """Run the service under uvicorn; one worker gets a core of its own, unless not `pinned`."""
    args = [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1"]
    args += ["--port", "{port}", "--workers", str(workers), "--backlog", "4096"]
    cpus = {CPUS[0]} if pinned and workers == 1 and len(CPUS) > 1 else None
    return running(name, [*args, "--no-access-log"], env, cpus)


def database_prepare(database_url: str, *, users: int, root: Path = ROOT) -> list[str]:
    """Migrate a fresh database and create `users` users with API tokens; return the tokens.
    `root`: the checkout whose migrations to run."""
    env = {**os.environ, "DATABASE_URL": database_url, "DJANGO_SECRET_KEY": "bench-only-secret"}
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], cwd=root, env=env, check=True)
    script = (
        "import json\n"
        "from django.contrib.auth.models import User\n"
        "from rest_framework.authtoken.models import Token\n"
        f"users = [User.objects.create_user(f'bench{{i}}') for i in range({users})]\n"
        "print(json.dumps([Token.objects.create(user=u).key for u in users]))\n"
    )
    out = subprocess.run(
        [*manage, "shell", "-c", script], cwd=root, env=env, check=True, capture_output=True
    )
    return json.loads(out.stdout.decode().strip().splitlines()[-1])


def suggestions(database_url: str, *, after: int = 0) -> list[dict[str, Any]]:
    """The stored suggestions with an id above `after`: id, status, text, error."""
    env = {**os.environ, "DATABASE_URL": database_url, "DJANGO_SECRET_KEY": "bench-only-secret"}
    script = (
        "import json\n"
        "from ai_assist.models import Suggestion\n"
        f"rows = Suggestion.objects.filter(pk__gt={after}).order_by('pk')\n"
        "print(json.dumps(list(rows.values('id', 'status', 'text', 'error', 'request'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    return json.loads(out.stdout.decode().strip().splitlines()[-1])


def sqlite_url(name: str) -> str:
    """A fresh SQLite database file under var/bench/."""
    VAR.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        (VAR / f"{name}.sqlite3{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{VAR / f'{name}.sqlite3'}"


def postgres_fresh(server_url: str, name: str) -> str:
    """Create database `name` anew on the PostgreSQL server of `server_url`; return its URL."""
    import psycopg
    from psycopg import sql

    base, _, _ = server_url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return f"{base}/{name}"


@contextlib.contextmanager
def profiling(pid: int, output: str | None) -> Iterator[None]:
    """Sample the process tree with py-spy (when `output` is given) for the block."""
    if not output:
        yield
        return
    spy = subprocess.Popen(
        ["py-spy", "record", "--pid", str(pid), "--subprocesses", "--format", "raw",
         "--rate", "200", "--gil", "--output", output],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(0.5)  # py-spy attaches
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=30)
