"""Watcher over many projects: one `python -m bot watch` for 20 projects × 500 connections
against 20 single-project watcher processes (their summed CPU and RSS) as the baseline.

Each project is its own FakeDli (own project id and AK/SK, 20 ms added per request) in this
process; the watcher runs as the timed child of bench.watcher, configured by a dliconn.toml.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any, Final

from bench.common import (
    FAILING_RATIO,
    LATENCY,
    REDIS_URL,
    REPO_ROOT,
    Row,
    app_env,
    at_most,
    exactly,
    percentile,
    scratch_redis_prefix,
)
from bench.watcher import FLIPPED_QUEUE, WatcherProcess, _cpu_seconds, _peak_rss_kib, _watcher
from bot.local.demo import synthetic_connections
from bot.local.fake_dli import FakeDli, Fault
from bot.local.fake_slack import FakeSlackApi, SlackCall

PROJECTS: Final = 20
PER_PROJECT: Final = 500
INTERVAL: Final = 2.0
STEADY_CYCLES: Final = 4  # intervals measured
FLIPS: Final = 6
TAG_CHANNEL: Final = "CBENCHTAGS"  # watch_tags team=bench, over every project
TAGGED_EVERY: Final = 50  # every 50th healthy connection carries team=bench
POST_TIMEOUT: Final = 60.0
_SEED: Final = 20240302


def _project_id(index: int) -> str:
    return f"{index:02x}" * 16


def _channel(index: int) -> str:
    return f"CBENCHP{index:02d}"


def _connections(project: int) -> list[dict[str, Any]]:
    """The synthetic data with ids unique across projects, some healthy ones tagged."""
    connections = synthetic_connections(PER_PROJECT, FAILING_RATIO)
    for n, connection in enumerate(connections):
        connection["id"] = str(uuid.UUID(int=(project + 1) << 64 | n, version=4))
        connection["name"] = f"p{project:02d}-{connection['name']}"
        healthy = all(q["status"] == "ACTIVE" for q in connection["available_queue_info"])
        if healthy and n % TAGGED_EVERY == 1:
            connection["tags"] = [{"key": "team", "value": "bench"}]
    return connections


def _config(fakes: Sequence[FakeDli], directory: Path) -> Path:
    lines = []
    for i, fake in enumerate(fakes):
        lines += [
            f"[projects.p{i:02d}]",
            f'region = "{"cn-north-4" if i % 2 == 0 else "ap-southeast-3"}"',
            f'project_id = "{_project_id(i)}"',
            f'endpoint = "{fake.url}"',
            f'ak = "AK{i:02d}BENCH"',
            f'sk = "sk-{i:02d}-bench-not-secret"',
            "",
            f"[channels.{_channel(i)}]",
            f'projects = ["p{i:02d}"]',
            "watch_all = true",
            "",
        ]
    lines += [f"[channels.{TAG_CHANNEL}]", 'watch_tags = { team = "bench" }', ""]
    path = directory / "dliconn.toml"
    path.touch(mode=0o600)  # literal secrets: the file must not be readable by others
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@asynccontextmanager
async def _fakes() -> AsyncIterator[tuple[list[FakeDli], list[list[dict[str, Any]]]]]:
    data = [_connections(i) for i in range(PROJECTS)]
    async with AsyncExitStack() as stack:
        fakes = []
        for i, connections in enumerate(data):
            fake = FakeDli(
                connections,
                project_id=_project_id(i),
                credentials={f"AK{i:02d}BENCH": f"sk-{i:02d}-bench-not-secret"},
            )
            await stack.enter_async_context(fake)
            fake.inject(Fault.latency(LATENCY))
            fakes.append(fake)
        yield fakes, data


def _list_requests(fakes: Sequence[FakeDli]) -> int:
    return sum(1 for f in fakes for r in f.requests if r.path.endswith("enhanced-connections"))


def _failing(data: Sequence[Sequence[Mapping[str, Any]]]) -> int:
    return sum(
        any(q["status"] == "FAILED" for q in c["available_queue_info"]) for p in data for c in p
    )


def _env(slack: FakeSlackApi, prefix: str, **extra: str) -> dict[str, str]:
    env = app_env(
        secret=secrets.token_hex(16),
        slack_url=slack.url,
        dli_url="http://127.0.0.1:9",  # overridden per project
        redis_prefix=prefix,
        cache_ttl=0.0,
    )
    for name in ("HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK", "DLI_PROJECT_ID", "DLI_ENDPOINT"):
        env.pop(name)
    return {**env, "DLICONN_WATCH_INTERVAL": f"{INTERVAL:g}", **extra}


async def _flips(
    slack: FakeSlackApi, fakes: Sequence[FakeDli], data: Sequence[Sequence[Mapping[str, Any]]]
) -> list[float]:
    rng = random.Random(_SEED)
    latencies = []
    for flip in range(FLIPS):
        project = flip * (PROJECTS // FLIPS)
        connection = next(
            c
            for c in data[project][10:]
            if all(q["status"] == "ACTIVE" for q in c["available_queue_info"])
        )
        name, channel = connection["name"], _channel(project)
        await asyncio.sleep(rng.uniform(0, INTERVAL))
        flipped = time.monotonic()
        fakes[project].set_queue(connection["id"], FLIPPED_QUEUE, "FAILED", "bench: flipped")

        def is_alert(call: SlackCall, channel: str = channel, name: str = name) -> bool:
            return call.channel == channel and name in str(call.body.get("text", ""))

        (alert,) = await slack.wait_for("chat.postMessage", 1, POST_TIMEOUT, is_alert)
        latencies.append(alert.time - flipped)
    return latencies


async def _ours(
    fakes: Sequence[FakeDli], data: Sequence[Sequence[Mapping[str, Any]]], directory: Path
) -> dict[str, Any]:
    failing = _failing(data)
    async with FakeSlackApi() as slack, scratch_redis_prefix() as prefix:
        env = _env(slack, prefix, DLICONN_CONFIG=str(_config(fakes, directory)))
        async with _watcher(env) as watcher:
            await slack.wait_for("chat.postMessage", failing, POST_TIMEOUT)
            steady = await _steady(watcher, fakes)
            flips = await _flips(slack, fakes, data)
            peak = _peak_rss_kib(watcher.process.pid) / 1024
    return {**steady, "flips": flips, "peak_mb": peak, "failing": failing}


async def _steady(watcher: WatcherProcess, fakes: Sequence[FakeDli]) -> dict[str, float]:
    # Cycles of all projects interleave: measured over whole intervals of the process.
    watcher.skip_reported()
    await watcher.cycles(PROJECTS)
    for fake in fakes:
        fake.clear_requests()
    cpu_before = _cpu_seconds(watcher.process.pid)
    cycles = await watcher.cycles(PROJECTS * STEADY_CYCLES)
    cpu_after = _cpu_seconds(watcher.process.pid)
    busy = [c for c in cycles if c.jobs or c.committed]
    if busy:
        raise RuntimeError(f"{len(busy)} steady cycles committed something: {busy[0]}")
    return {
        "requests": _list_requests(fakes) / STEADY_CYCLES,
        "process_cpu": (cpu_after - cpu_before) / STEADY_CYCLES,
    }


async def _baseline(
    fakes: Sequence[FakeDli], data: Sequence[Sequence[Mapping[str, Any]]]
) -> dict[str, float]:
    """20 `python -m bot watch` processes, one project each (watch_all its channel)."""
    failing = _failing(data)
    async with FakeSlackApi() as slack, scratch_redis_prefix() as prefix:
        processes = []
        try:
            for i, fake in enumerate(fakes):
                env = _env(
                    slack,
                    prefix,
                    HUAWEICLOUD_SDK_AK=f"AK{i:02d}BENCH",
                    HUAWEICLOUD_SDK_SK=f"sk-{i:02d}-bench-not-secret",
                    DLI_PROJECT_ID=_project_id(i),
                    DLI_ENDPOINT=fake.url,
                    DLICONN_WATCH_ALL_CHANNELS=_channel(i),
                )
                processes.append(
                    await asyncio.create_subprocess_exec(
                        sys.executable,
                        "-m",
                        "bot",
                        "watch",
                        env=env,
                        cwd=REPO_ROOT,
                        stdout=asyncio.subprocess.DEVNULL,
                        stderr=asyncio.subprocess.DEVNULL,
                    )
                )
            await slack.wait_for("chat.postMessage", failing, POST_TIMEOUT * 2)
            before = sum(_cpu_seconds(p.pid) for p in processes)
            await asyncio.sleep(INTERVAL * STEADY_CYCLES)
            after = sum(_cpu_seconds(p.pid) for p in processes)
            rss = sum(_peak_rss_kib(p.pid) for p in processes) / 1024
        finally:
            for process in processes:
                if process.returncode is None:
                    process.terminate()
            for process in processes:
                await process.wait()
    return {"process_cpu": (after - before) / STEADY_CYCLES, "rss_mb": rss}


async def run() -> list[Row]:
    """`python -m bot watch` over 20 projects × 500 connections vs 20 single-project watchers."""
    with tempfile.TemporaryDirectory() as directory:
        async with _fakes() as (fakes, data):
            ours = await _ours(fakes, data, Path(directory))
            base = await _baseline(fakes, data)
    tag_sets = PROJECTS  # one tag route (team=bench) seen by every project
    setup = (
        f"ours: one `python -m bot watch` (DLICONN_WATCH_INTERVAL={INTERVAL:g}) reading a "
        f"dliconn.toml of {PROJECTS} projects × {PER_PROJECT} connections ({ours['failing']} "
        f"failing in all), each its own FakeDli with its own AK/SK ({LATENCY * 1000:g} ms per "
        f"request), a watch_all channel per project and one watch_tags channel over all; "
        f"baseline: {PROJECTS} single-project `python -m bot watch` processes, summed. "
        f"Real Redis at {REDIS_URL}"
    )
    return [
        Row(
            "DLI requests per interval",
            ours["requests"],
            PROJECTS,
            "requests",
            exactly(PROJECTS + tag_sets, "requests"),
            note=setup + f"; {PROJECTS} lists plus {tag_sets} tag lists",
        ),
        Row(
            "steady cycle CPU (all projects, one interval)",
            ours["process_cpu"],
            base["process_cpu"],
            "s",
            at_most(1, "s"),
            note=(
                "the watcher process's CPU (/proc/<pid>/stat) per interval over "
                f"{STEADY_CYCLES} steady intervals: all {PROJECTS} cycles, lease renewals, the "
                "replica heartbeat and idle senders together (the projects' cycles overlap, so "
                "per-cycle process CPU cannot be summed); baseline: the 20 processes' summed CPU"
            ),
        ),
        Row("watcher peak RSS", ours["peak_mb"], base["rss_mb"], "MB", at_most(150, "MB")),
        Row(
            "flip → Slack post p50",
            percentile(ours["flips"], 50),
            INTERVAL,
            "s",
            at_most(INTERVAL + 1, "s"),
        ),
        Row(
            "flip → Slack post max",
            max(ours["flips"]),
            INTERVAL,
            "s",
            at_most(INTERVAL + 1, "s"),
        ),
    ]
