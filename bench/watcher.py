"""Watcher benchmark: DLI calls, CPU, memory and flip-to-alert latency of `python -m bot watch`.

`python -m bench watcher` runs the measurement. `python -m bench.watcher` is the measured child:
the real `python -m bot watch`, with each `Watcher.cycle` timed and reported on stdout.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import IO, Any, Final, TypeVar

import httpx

from bench.common import (
    FAILING_RATIO,
    LATENCY,
    REPO_ROOT,
    FakeDliProcess,
    Row,
    Timer,
    app_env,
    at_most,
    demo_client,
    demo_watch_backend,
    exactly,
    percentile,
    scratch_redis_prefix,
    stop_process,
    tail_of,
)
from bot.local.demo import synthetic_connections
from bot.local.fake_slack import FakeSlackApi, SlackCall
from bot.watch import runner

T = TypeVar("T")

CONNECTIONS: Final = 10_000
# Explicit subscriptions, CONNECTIONS / CHANNELS consecutive connections per channel: the 1%
# failing ones fall one per channel, so the first-sight alerts are not queued behind the
# notifier's one-message-per-second-per-channel pacing (one channel would take 100 s).
CHANNELS: Final = 100
INTERVAL: Final = 2.0  # DLICONN_WATCH_INTERVAL of the measured watcher
STEADY_CYCLES: Final = 5
FLIPS: Final = 8
NAIVE_SAMPLE: Final = 1_000  # ids the naive poller fetches; its figures are scaled to all
NAIVE_CONCURRENCY: Final = 50
SUBSCRIBE_CONCURRENCY: Final = 32  # below the Redis pool's 64 connections
FLIPPED_QUEUE: Final = "sql_default"  # ACTIVE on every synthetic connection

FIRST_CYCLE_TIMEOUT: Final = 60.0  # startup plus the first cycle
CYCLE_TIMEOUT: Final = 30.0 + INTERVAL
POST_TIMEOUT: Final = 60.0

_CYCLE_MARK: Final = "bench-cycle "  # prefixes the child's report lines on stdout
_LIST_SUFFIX: Final = "/datasource/enhanced-connections"
_SEED: Final = 20240301  # flip timing: random phases against the poll, the same every run


@dataclass(frozen=True)
class CycleReport:
    """One `Watcher.cycle` in the child: seconds of wall and process CPU, what it did."""

    wall: float
    cpu: float
    jobs: int
    committed: bool
    ended: float  # time.monotonic(), one clock for every process on the machine


# -- the child: `python -m bot watch`, its cycles timed -------------------------------------


class _TimedWatcher(runner.Watcher):
    async def cycle(self, lease_token: str | None) -> runner.CycleOutcome:
        with Timer() as timer:
            outcome = await super().cycle(lease_token)
        report = CycleReport(
            timer.wall, timer.cpu, outcome.jobs, outcome.committed, time.monotonic()
        )
        print(_CYCLE_MARK + json.dumps(report.__dict__), flush=True)
        return outcome


def _child(argv: Sequence[str]) -> int:
    if list(argv) == ["--imports-only"]:
        # The memory baseline: what `python -m bot watch` loads, and no data.
        importlib.import_module("bot.runtime")
        print(_peak_rss_kib(os.getpid()), flush=True)
        return 0
    from bot.__main__ import main

    runner.Watcher = _TimedWatcher  # type: ignore[misc]  # run_watch_projects builds the watcher
    return main(["watch"])


# -- reading a process from outside -----------------------------------------------------------


def _peak_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmHWM for process {pid}")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (its own threads, not its children)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class WatcherProcess:
    """The child watcher, and the cycle reports it prints."""

    def __init__(self, process: asyncio.subprocess.Process, stderr: IO[bytes]) -> None:
        self.process = process
        self._stderr = stderr
        self._reports: asyncio.Queue[CycleReport] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            line = raw.decode(errors="replace")
            if line.startswith(_CYCLE_MARK):
                self._reports.put_nowait(CycleReport(**json.loads(line[len(_CYCLE_MARK) :])))

    async def next_cycle(self, timeout: float = CYCLE_TIMEOUT) -> CycleReport:  # noqa: ASYNC109
        try:
            return await asyncio.wait_for(self._reports.get(), timeout)
        except TimeoutError:
            raise RuntimeError(
                f"the watcher reported no cycle within {timeout:g} s (exit code "
                f"{self.process.returncode}): {tail_of(self._stderr)}"
            ) from None

    async def cycles(self, count: int) -> list[CycleReport]:
        return [await self.next_cycle() for _ in range(count)]

    def skip_reported(self) -> None:
        while not self._reports.empty():
            self._reports.get_nowait()

    async def aclose(self) -> None:
        await stop_process(self.process)
        await self._reader


@asynccontextmanager
async def _watcher(env: Mapping[str, str]) -> AsyncIterator[WatcherProcess]:
    # A file, not a pipe: a chatty child must never block on a pipe nobody drains.
    with tempfile.TemporaryFile() as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.watcher",
            cwd=REPO_ROOT,
            env=dict(env),
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
        watcher = WatcherProcess(process, stderr)
        try:
            yield watcher
        finally:
            await watcher.aclose()


async def _baseline_rss_kib(env: Mapping[str, str]) -> int:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.watcher",
        "--imports-only",
        cwd=REPO_ROOT,
        env=dict(env),
        stdout=subprocess.PIPE,
    )
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"the import-only child failed with exit code {process.returncode}")
    return int(out)


# -- set-up -----------------------------------------------------------------------------------


def _channel(index: int) -> str:
    return f"CBENCH{index * CHANNELS // CONNECTIONS:04d}"


async def _each(
    concurrency: int, items: Sequence[T], call: Callable[[T], Awaitable[object]]
) -> None:
    """`call` on every item, at most `concurrency` at a time."""
    gate = asyncio.Semaphore(concurrency)

    async def one(item: T) -> None:
        async with gate:
            await call(item)

    await asyncio.gather(*(one(item) for item in items))


async def _subscribe(prefix: str, connections: Sequence[Mapping[str, Any]]) -> None:
    """Every connection subscribed in its channel, through the store `/dliconn watch` uses."""
    backend = demo_watch_backend(prefix)
    try:
        await _each(
            SUBSCRIBE_CONCURRENCY,
            list(enumerate(connections)),
            lambda item: backend.subscriptions.subscribe(
                _channel(item[0]), item[1]["id"], item[1]["name"], "UBENCH"
            ),
        )
    finally:
        await backend.aclose()


def _watcher_env(slack: FakeSlackApi, dli: FakeDliProcess, prefix: str) -> dict[str, str]:
    env = app_env(
        secret=secrets.token_hex(16),
        slack_url=slack.url,
        dli_url=dli.url,
        redis_prefix=prefix,
        cache_ttl=0.0,
    )
    return {**env, "DLICONN_WATCH_INTERVAL": f"{INTERVAL:g}"}


# -- the naive poller -------------------------------------------------------------------------


@dataclass(frozen=True)
class NaiveCycle:
    """One naive cycle over every connection, scaled up from NAIVE_SAMPLE ids."""

    requests: float
    wall: float
    cpu: float


async def _naive_cycle(dli: FakeDliProcess, ids: Sequence[str]) -> NaiveCycle:
    """DliClient.get_connection for every id, NAIVE_CONCURRENCY at a time, on a warm pool."""
    sample = ids[:NAIVE_SAMPLE]
    async with demo_client(dli.url) as client:
        await _each(NAIVE_CONCURRENCY, sample[:NAIVE_CONCURRENCY], client.get_connection)
        dli.clear_requests()
        with Timer() as timer:
            await _each(NAIVE_CONCURRENCY, sample, client.get_connection)
        requests = len(dli.requests())
    scale = len(ids) / len(sample)
    return NaiveCycle(requests * scale, timer.wall * scale, timer.cpu * scale)


# -- the measurements -------------------------------------------------------------------------


@dataclass(frozen=True)
class Steady:
    cycles: list[CycleReport]
    requests_per_cycle: float
    process_cpu_per_cycle: float  # the whole watcher process: cycles, sender, lease


async def _steady(watcher: WatcherProcess, dli: FakeDliProcess) -> Steady:
    # Right after a cycle ended the next is an interval away: a clean moment to reset counters.
    watcher.skip_reported()
    await watcher.next_cycle()
    dli.clear_requests()
    cpu_before = _cpu_seconds(watcher.process.pid)
    cycles = await watcher.cycles(STEADY_CYCLES)
    cpu_after = _cpu_seconds(watcher.process.pid)
    requests = len(dli.requests())
    busy = [c for c in cycles if c.jobs or c.committed]
    if busy:
        raise RuntimeError(f"{len(busy)} steady-state cycles committed something: {busy[0]}")
    return Steady(cycles, requests / STEADY_CYCLES, (cpu_after - cpu_before) / STEADY_CYCLES)


async def _initial_alerts(slack: FakeSlackApi, failing: int) -> float:
    posts = await slack.wait_for("chat.postMessage", failing, POST_TIMEOUT)
    if len(posts) != failing or len({p.channel for p in posts}) != failing:
        raise RuntimeError(f"expected {failing} first-sight alerts, one per channel: {len(posts)}")
    return max(p.time for p in posts)


async def _flip_latencies(
    slack: FakeSlackApi, dli: FakeDliProcess, connections: Sequence[Mapping[str, Any]]
) -> list[float]:
    """Seconds from a queue turning FAILED on the fake to its alert reaching Slack."""
    rng = random.Random(_SEED)
    per_channel = CONNECTIONS // CHANNELS
    latencies = []
    async with httpx.AsyncClient(base_url=dli.url, timeout=10.0) as control:
        for flip in range(FLIPS):
            # The first connection of each of the first channels: healthy, and its channel
            # posted its first-sight alert long ago, so pacing cannot delay this one.
            index = flip * per_channel
            connection, channel = connections[index], _channel(index)
            name = connection["name"]
            await asyncio.sleep(rng.uniform(0, INTERVAL))  # a random phase against the poll
            flipped = time.monotonic()
            response = await control.patch(
                "/_fake/queue",
                json={
                    "connection_id": connection["id"],
                    "queue_name": FLIPPED_QUEUE,
                    "status": "FAILED",
                    "err_msg": "bench: flipped",
                },
            )
            response.raise_for_status()

            def is_alert(call: SlackCall, channel: str = channel, name: str = name) -> bool:
                return call.channel == channel and name in json.dumps(call.body)

            (alert,) = await slack.wait_for("chat.postMessage", 1, POST_TIMEOUT, is_alert)
            latencies.append(alert.time - flipped)
    return latencies


# -- the figures ------------------------------------------------------------------------------


async def run() -> list[Row]:
    """`python -m bot watch` over 10,000 connections vs a per-connection poller (20 ms RTT)."""
    connections = synthetic_connections(CONNECTIONS, FAILING_RATIO)
    ids = [c["id"] for c in connections]
    failing = sum(
        any(q["status"] == "FAILED" for q in c["available_queue_info"]) for c in connections
    )
    with FakeDliProcess(
        connections=CONNECTIONS, failing_ratio=FAILING_RATIO, latency=LATENCY
    ) as dli:
        naive = await _naive_cycle(dli, ids)
        async with FakeSlackApi() as slack, scratch_redis_prefix() as prefix:
            with Timer() as subscribing:
                await _subscribe(prefix, connections)
            env = _watcher_env(slack, dli, prefix)
            dli.clear_requests()
            async with _watcher(env) as watcher:
                first = await watcher.next_cycle(FIRST_CYCLE_TIMEOUT)
                first_requests = len(dli.requests())
                if first.jobs != failing:
                    raise RuntimeError(f"the first cycle planned {first.jobs} jobs, not {failing}")
                alerts_done = await _initial_alerts(slack, failing)
                steady = await _steady(watcher, dli)
                flips = await _flip_latencies(slack, dli, connections)
                peak_kib = _peak_rss_kib(watcher.process.pid)
            baseline_kib = await _baseline_rss_kib(env)
    return _rows(
        naive=naive,
        first=first,
        first_requests=first_requests,
        alerts_after=alerts_done - first.ended,
        failing=failing,
        steady=steady,
        flips=flips,
        peak_mb=peak_kib / 1024,
        baseline_mb=baseline_kib / 1024,
        subscribe_seconds=subscribing.wall,
    )


def _rows(
    *,
    naive: NaiveCycle,
    first: CycleReport,
    first_requests: int,
    alerts_after: float,
    failing: int,
    steady: Steady,
    flips: Sequence[float],
    peak_mb: float,
    baseline_mb: float,
    subscribe_seconds: float,
) -> list[Row]:
    walls = [c.wall for c in steady.cycles]
    cpus = [c.cpu for c in steady.cycles]
    naive_note = (
        f"baseline: a naive poller, DliClient.get_connection for each watched id, "
        f"{NAIVE_CONCURRENCY} at a time, measured on {NAIVE_SAMPLE:,} ids (pool warmed) and "
        f"scaled ×{CONNECTIONS // NAIVE_SAMPLE} to {CONNECTIONS:,}; it only fetches (no compare, "
        "no Redis), so its CPU is a lower bound"
    )
    setup_note = (
        f"ours: `python -m bot watch` in its own process (DLICONN_WATCH_INTERVAL={INTERVAL:g}, "
        f"default WatchOptions: page_size=0, per_channel_gap=1 s) on real Redis, against the fake "
        f"DLI in another process ({CONNECTIONS:,} connections, {failing} failing, "
        f"{LATENCY * 1000:g} ms added per request); {CONNECTIONS:,} explicit subscriptions "
        f"(made in {subscribe_seconds:.1f} s), {CONNECTIONS // CHANNELS} per channel in "
        f"{CHANNELS} channels, so the first-sight alerts fall one per channel; requests counted "
        f"in the fake's log over {STEADY_CYCLES} steady cycles. {naive_note}"
    )
    cycle_note = (
        f"one Watcher.cycle (load subscriptions and state from Redis, list DLI, detect, commit), "
        f"timed inside the child; CPU is the child's process CPU over the cycle; "
        f"{STEADY_CYCLES} cycles after the first-sight one, with nothing to commit"
    )
    first_note = (
        f"the first cycle saw every connection for the first time: {first_requests} DLI "
        f"request(s), {first.jobs} alert jobs committed; the sender posted the {failing} alerts "
        f"within {alerts_after:.2f} s after the cycle ended"
    )
    rss_note = (
        "VmHWM of the watcher process at the end of the run; baseline: the same interpreter "
        "importing what `python -m bot watch` imports (bot.runtime), and nothing else"
    )
    flip_note = (
        f"{len(flips)} flips (PATCH /_fake/queue to FAILED, at random phases of the poll) until "
        f"the alert reached FakeSlackApi in the benchmark process; baseline: the poll interval. "
        f"Polls start an interval apart (a fixed rate), so a flip just after a list call is "
        f"seen by the next one an interval later and posted once that cycle ends: about "
        f"interval + 1 cycle at worst"
    )
    proc_note = (
        "the watcher process's CPU (/proc/<pid>/stat) over the steady cycles, divided by their "
        f"number: cycles, lease renewals and the idle sender together ({INTERVAL:g} s interval)"
    )
    return [
        Row(
            "DLI requests per cycle",
            steady.requests_per_cycle,
            naive.requests,
            "requests",
            exactly(1, "request"),
            note=setup_note,
        ),
        Row("cycle wall time p50, steady", percentile(walls, 50), naive.wall, "s", note=cycle_note),
        Row("cycle CPU time p50, steady", percentile(cpus, 50), naive.cpu, "s"),
        Row("cycle CPU time max, steady", max(cpus), naive.cpu, "s", at_most(1, "s")),
        Row(
            "watcher process CPU per cycle",
            steady.process_cpu_per_cycle,
            naive.cpu,
            "s",
            note=proc_note,
        ),
        Row("first-sight cycle wall time", first.wall, naive.wall, "s", note=first_note),
        Row("first-sight cycle CPU time", first.cpu, naive.cpu, "s"),
        Row("watcher peak RSS", peak_mb, baseline_mb, "MB", at_most(150, "MB"), note=rss_note),
        Row(
            "flip → Slack post p50",
            percentile(flips, 50),
            INTERVAL,
            "s",
            at_most(INTERVAL + 1, "s"),
            note=flip_note,
        ),
        Row("flip → Slack post max", max(flips), INTERVAL, "s", at_most(INTERVAL + 1, "s")),
    ]


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
