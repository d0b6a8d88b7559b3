"""Shared benchmark plumbing: result rows and tables, percentiles, timers, a fake DLI process."""

from __future__ import annotations

import asyncio
import inspect
import math
import os
import platform
import select
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final, Self, TypeVar

import httpx
import redis.asyncio as aioredis

from bot.config import DEFAULT_PROJECT
from bot.dli.auth import AkSkAuth
from bot.dli.client import DliClient
from bot.local.demo import (
    DEMO_ACCESS_KEY,
    DEMO_PROJECT_ID,
    DEMO_SECRET_KEY,
    synthetic_connections,
)
from bot.watch.backend import WatchBackend, build_watch_backends
from bot.watch.routes import ProjectRoutes

T = TypeVar("T")

REPO_ROOT: Final = Path(__file__).resolve().parents[1]
REDIS_URL: Final = os.environ.get("DLICONN_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
_SHOW_PATH: Final = "/datasource/enhanced-connections/"

# The DLI benchmarks' common ground: this many distinct connections behind a 20 ms round trip.
CONNECTIONS: Final = 300
FAILING_RATIO: Final = 0.01
LATENCY: Final = 0.02  # seconds the fake adds to every DLI request


# -- results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """What a row has to reach; `check(ours, baseline)` says whether it did."""

    text: str
    check: Callable[[float, float], bool]


def ratio_at_most(limit: float) -> Target:
    return Target(f"ours/base ≤ {limit:g}", lambda ours, base: ours <= limit * base)


def speedup_at_least(factor: float) -> Target:
    return Target(
        f"ours/base ≤ {1 / factor:g} (≥ {factor:g}× faster)",
        lambda ours, base: ours * factor <= base,
    )


def at_most(limit: float, unit: str) -> Target:
    return Target(f"≤ {limit:g} {unit}", lambda ours, _base: ours <= limit)


def exactly(value: float, unit: str) -> Target:
    return Target(f"= {value:g} {unit}", lambda ours, _base: ours == value)


@dataclass(frozen=True)
class Row:
    """One figure of ours next to the same figure for the baseline, both from this run."""

    name: str
    ours: float
    baseline: float
    unit: str
    target: Target | None = None  # None: shown for context, nothing to meet
    note: str = ""  # printed under the table, e.g. what exactly the baseline was

    @property
    def ratio(self) -> float | None:
        return self.ours / self.baseline if self.baseline else None

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.target.check(self.ours, self.baseline)


#: A benchmark: a sync or async callable returning its rows; its docstring's first line is its
#: title. Register one by adding it to `bench.__main__.BENCHMARKS`.
Benchmark = Callable[[], Sequence[Row] | Awaitable[Sequence[Row]]]


def collect(benchmark: Benchmark) -> Sequence[Row]:
    """Run a benchmark, on a fresh event loop when it is async."""
    result = benchmark()
    if inspect.isawaitable(result):
        return asyncio.run(_awaited(result))
    return result


async def _awaited(awaitable: Awaitable[T]) -> T:
    return await awaitable


def title(benchmark: Benchmark) -> str:
    doc = inspect.getdoc(benchmark) or ""
    return doc.splitlines()[0] if doc else ""


def figure(value: float, unit: str) -> str:
    """A value with about three significant digits and no exponent notation."""
    if value == int(value) and abs(value) >= 1:
        text = f"{value:.0f}"
    else:
        digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2 if abs(value) >= 1 else 3
        text = f"{value:.{digits}f}"
    return f"{text} {unit}".strip()


def format_table(rows: Sequence[Row]) -> str:
    header = ("benchmark", "ours", "baseline", "ours/base", "target", "met?")
    cells = [header] + [
        (
            row.name + (" *" if row.note else ""),
            figure(row.ours, row.unit),
            figure(row.baseline, row.unit),
            "—" if row.ratio is None else f"{row.ratio:.3f}×",
            row.target.text if row.target else "—",
            {True: "yes", False: "NO", None: "—"}[row.met],
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in cells) for i in range(len(header))]
    # Text left, figures right.
    aligned = [str.ljust, str.rjust, str.rjust, str.rjust, str.ljust, str.ljust]
    lines = [
        "  ".join(align(c, w) for align, c, w in zip(aligned, line, widths, strict=True))
        for line in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines += [f"* {row.name}: {row.note}" for row in rows if row.note]
    return "\n".join(line.rstrip() for line in lines)


def machine_description() -> str:
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    return (
        f"{os.cpu_count()} cores ({model}), {platform.python_implementation()} "
        f"{platform.python_version()}, {platform.system()} {platform.release()}"
    )


# -- measuring --------------------------------------------------------------------------------


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linearly interpolated between the closest ranks."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass
class Timer:
    """Wall-clock and process CPU seconds spent in a `with` block (CPU of every thread in it)."""

    wall: float = 0.0
    cpu: float = 0.0
    _wall_start: float = field(default=0.0, repr=False)
    _cpu_start: float = field(default=0.0, repr=False)

    def __enter__(self) -> Self:
        self._wall_start = time.perf_counter()
        self._cpu_start = time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._wall_start
        self.cpu = time.process_time() - self._cpu_start


async def timed_each(calls: Iterable[Awaitable[T]]) -> tuple[list[float], list[T]]:
    """Await the calls one after another: each one's latency in milliseconds, and its result."""
    latencies: list[float] = []
    results: list[T] = []
    for call in calls:
        started = time.perf_counter()
        results.append(await call)
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies, results


# -- the fake DLI in a process of its own, and our client for it -----------------------------


class FakeDliProcess:
    """`python -m bot.local.fake_dli` as a child process, so its CPU never counts as ours.

    Every DLI request it serves is delayed by `latency` seconds (a latency fault injected over
    its control API), like a round trip to a real region.
    """

    def __init__(
        self,
        *,
        connections: int,
        failing_ratio: float = 0.0,
        latency: float = 0.0,
        startup_timeout: float = 20.0,
    ) -> None:
        self._argv = [
            sys.executable,
            "-m",
            "bot.local.fake_dli",
            "--port",
            "0",
            "--generate",
            str(connections),
            "--failing-ratio",
            str(failing_ratio),
        ]
        self._latency = latency
        self._startup_timeout = startup_timeout
        self._process: subprocess.Popen[str] | None = None
        self._stderr: IO[bytes] | None = None
        self._control: httpx.Client | None = None
        self.url = ""

    def __enter__(self) -> Self:
        # A file, not a pipe: a chatty server must never block on a pipe nobody drains.
        self._stderr = tempfile.TemporaryFile()
        self._process = subprocess.Popen(
            self._argv, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=self._stderr, text=True
        )
        try:
            self.url = self._read_url(self._process)
            self._control = httpx.Client(base_url=self.url, timeout=10.0)
            if self._latency:
                self._post_fault({"kind": "latency", "seconds": self._latency})
        except BaseException:  # broad, and re-raised: on any failure, Ctrl-C too, stop the child
            self._stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop()

    def requests(self) -> list[dict[str, Any]]:
        """The request log (DLI and IAM requests, oldest first)."""
        response = self._client().get("/_fake/requests")
        response.raise_for_status()
        recorded: list[dict[str, Any]] = response.json()
        return recorded

    def clear_requests(self) -> None:
        self._client().delete("/_fake/requests").raise_for_status()

    def show_requests(self, connection_id: str) -> int:
        """How many show requests for this connection reached the fake since the last clear."""
        path = f"/v2.0/{DEMO_PROJECT_ID}{_SHOW_PATH}{connection_id}"
        return sum(1 for r in self.requests() if r["method"] == "GET" and r["path"] == path)

    def _post_fault(self, fault: dict[str, Any]) -> None:
        self._client().post("/_fake/faults", json=fault).raise_for_status()

    def _client(self) -> httpx.Client:
        if self._control is None:
            raise RuntimeError("the fake DLI process is not running")
        return self._control

    def _read_url(self, process: subprocess.Popen[str]) -> str:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], self._startup_timeout)
        line = process.stdout.readline().strip() if ready else ""
        if not line.startswith("http"):
            raise RuntimeError(f"the fake DLI server did not start: {self._error_output()}")
        return line

    def _error_output(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace").strip()[-2000:] or "(no output)"

    def _stop(self) -> None:
        if self._control is not None:
            self._control.close()
            self._control = None
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            if self._process.stdout is not None:
                self._process.stdout.close()
            self._process = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None


def demo_client(url: str) -> DliClient:
    """Our DLI client, configured as the bot configures it, with the demo credentials."""
    auth = AkSkAuth(DEMO_ACCESS_KEY, DEMO_SECRET_KEY, project_id=DEMO_PROJECT_ID)
    return DliClient(url, DEMO_PROJECT_ID, auth=auth)


def demo_watch_backend(prefix: str) -> WatchBackend:
    """The demo project's subscriptions and watcher state in Redis, built as the bot builds them."""
    [backend] = build_watch_backends(
        REDIS_URL, [(DEMO_PROJECT_ID, ProjectRoutes(DEFAULT_PROJECT))], prefix=prefix
    )
    return backend


def standard_fake() -> FakeDliProcess:
    """The fake DLI every DLI benchmark uses: CONNECTIONS connections, LATENCY per request."""
    return FakeDliProcess(connections=CONNECTIONS, failing_ratio=FAILING_RATIO, latency=LATENCY)


def standard_ids() -> list[str]:
    """The ids of the standard fake's connections, in its list order."""
    return [c["id"] for c in synthetic_connections(CONNECTIONS, FAILING_RATIO)]


# -- Redis and child processes shared by the process-level benchmarks ------------------------

# Variables the apps read: the parent's own values must not leak into a measured run.
APP_ENV_PREFIXES: Final = ("SLACK_", "HUAWEICLOUD_", "DLI_", "DLICONN_", "REDIS_", "PORT")
STOP_TIMEOUT: Final = 15.0  # longer than the bot's own 10 s drain


@asynccontextmanager
async def scratch_redis_prefix() -> AsyncIterator[str]:
    """A key prefix of this run's own, whose keys are deleted afterwards."""
    prefix = f"dliconn-bench:{uuid.uuid4().hex[:12]}:"
    try:
        yield prefix
    finally:
        client = aioredis.Redis.from_url(REDIS_URL)
        try:
            keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
            if keys:
                await client.delete(*keys)
        finally:
            await client.aclose()


def tail_of(output: IO[bytes]) -> str:
    """The end of a child's captured output, for an error message."""
    output.seek(0)
    return output.read().decode(errors="replace").strip()[-2000:] or "(no output)"


async def stop_process(process: asyncio.subprocess.Process) -> None:
    """SIGTERM (a graceful stop, as a platform sends it), then SIGKILL if it hangs."""
    if process.returncode is not None:
        return
    process.terminate()
    try:
        await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()


def app_env(
    *, secret: str, slack_url: str, dli_url: str, redis_prefix: str, cache_ttl: float
) -> dict[str, str]:
    """The environment of a `python -m bot` child: demo AK/SK against the fake DLI, real Redis."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(APP_ENV_PREFIXES)}
    return {
        **inherited,
        "SLACK_SIGNING_SECRET": secret,
        "SLACK_BOT_TOKEN": "xoxb-bench",
        "SLACK_API_URL": slack_url,
        "HUAWEICLOUD_SDK_AK": DEMO_ACCESS_KEY,
        "HUAWEICLOUD_SDK_SK": DEMO_SECRET_KEY,
        "DLI_PROJECT_ID": DEMO_PROJECT_ID,
        "DLI_ENDPOINT": dli_url,
        "REDIS_URL": REDIS_URL,
        "DLICONN_REDIS_PREFIX": redis_prefix,
        "DLICONN_CACHE_TTL": f"{cache_ttl:g}",
        "DLICONN_LOG_LEVEL": "WARNING",
        "DLICONN_LOG_FORMAT": "text",
    }
