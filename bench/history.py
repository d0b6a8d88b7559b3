"""History benchmark: the `history` reply over 10,000 transitions, their Redis memory, and the
watcher's cycle CPU with history on next to history off in the same run."""

from __future__ import annotations

import asyncio
import gc
import secrets
import time
from collections.abc import Sequence
from typing import Any, Final

import httpx
import redis.asyncio as aioredis

from bench.common import (
    APP_ENV_PREFIXES,
    FAILING_RATIO,
    LATENCY,
    REDIS_URL,
    FakeDliProcess,
    Row,
    Timer,
    app_env,
    at_most,
    demo_client,
    demo_watch_backend,
    percentile,
    ratio_at_most,
    scratch_redis_prefix,
    timed_each,
)
from bot.config import Settings
from bot.local.demo import DEMO_PROJECT_ID, synthetic_connections
from bot.services import build_services
from bot.slack.app import build_chat
from bot.watch.history import HistoryEntry, Tally, stored_fields, tallied
from bot.watch.runner import Watcher
from bot.watch.state import STATE_KEYS, Commit
from bot.watch.transitions import ConnState, Meta

TRANSITIONS: Final = 10_000
BATCH: Final = 500  # transitions per commit while filling
REPLIES: Final = 300
WATCHED: Final = 10_000  # connections the watcher cycles over
FLIPS_PER_CYCLE: Final = 100  # connections turned FAILED (and the last ones back) per cycle
BUSY_ROUNDS: Final = 12
IDLE_ROUNDS: Final = 13
FLIPPED_QUEUE: Final = "sql_default"  # ACTIVE on every synthetic connection


def _transitions(connection_id: str, now: float) -> list[HistoryEntry]:
    """10,000 transitions over 30 days: a queue failing and recovering, an error each time."""
    step = 30 * 86400 / TRANSITIONS
    entries = []
    for n in range(TRANSITIONS):
        at = now - 30 * 86400 + n * step
        if n % 2 == 0:
            err = f"Failed to connect to 10.0.{n % 256}.7:3306"
            entries.append(
                HistoryEntry(
                    connection_id, "status", at, "queue:etl_queue", "ACTIVE", "FAILED", at, err
                )
            )
        else:
            entries.append(
                HistoryEntry(
                    connection_id, "status", at, "queue:etl_queue", "FAILED", "ACTIVE", at, "", step
                )
            )
    return entries


def _value_bytes(entries: Sequence[HistoryEntry]) -> int:
    """The bytes of the entries' stored values alone (no names, ids or structure)."""
    tally = Tally()
    total = 0
    for entry in entries:
        tally = tally + Tally.of(entry)
        total += sum(len(str(v).encode()) for v in stored_fields(entry, tally).values())
    return total


async def _reply_figures() -> tuple[list[float], list[float], list[float], int, int]:
    """(history reply ms, card reply ms, history read ms, stream bytes, value bytes)."""
    connections = synthetic_connections(100, FAILING_RATIO)
    cid = connections[0]["id"]
    with FakeDliProcess(connections=100, failing_ratio=FAILING_RATIO, latency=LATENCY) as dli:
        async with scratch_redis_prefix() as prefix:
            env = app_env(
                secret=secrets.token_hex(16),
                slack_url="http://127.0.0.1:9/",
                dli_url=dli.url,
                redis_prefix=prefix,
                cache_ttl=3600,
            )
            ours: dict[str, Any] = {k: v for k, v in env.items() if k.startswith(APP_ENV_PREFIXES)}
            settings = Settings(_env_file=None, **ours)
            services = await build_services(settings)
            try:
                state = services.projects[0].watch.state
                entries = _transitions(cid, time.time())
                for start in range(0, TRANSITIONS, BATCH):
                    snapshot = await state.load()
                    name = connections[0]["name"]
                    known = snapshot.states.get(cid) or ConnState(name=name, status="ACTIVE")
                    states = {cid: known}
                    batch = tallied(states, entries[start : start + BATCH])
                    commit = Commit(snapshot.version, Meta(), states, history=batch)
                    if not await state.commit(commit, lease_token=None):
                        raise RuntimeError("filling the history: a commit was refused")
                chat = build_chat(services)
                await chat.history.history(cid, "30d", channel="CBENCH")  # warm the lookup
                history, replies = await timed_each(
                    chat.history.history(cid, "30d", channel="CBENCH") for _ in range(REPLIES)
                )
                if not all(r.shareable for r in replies):
                    raise RuntimeError("a history reply was an error")
                cards, _ = await timed_each(
                    chat.lookups.card(cid, ephemeral=True, channel="CBENCH") for _ in range(REPLIES)
                )
                reads, _ = await timed_each(
                    state.history(cid, since=time.time() - 30 * 86400) for _ in range(REPLIES)
                )
                client = aioredis.Redis.from_url(REDIS_URL)
                key = f"{prefix}{STATE_KEYS}{DEMO_PROJECT_ID}:hist:{cid}"
                size = int(await client.memory_usage(key, samples=0) or 0)
                length = int(await client.xlen(key))
                await client.aclose()
                if length != TRANSITIONS:
                    raise RuntimeError(f"the stream holds {length} entries, not {TRANSITIONS}")
            finally:
                await services.aclose()
    return history, cards, reads, size, _value_bytes(entries)


async def _flip(control: httpx.AsyncClient, ids: Sequence[str], status: str) -> None:
    async def one(connection_id: str) -> None:
        response = await control.patch(
            "/_fake/queue",
            json={
                "connection_id": connection_id,
                "queue_name": FLIPPED_QUEUE,
                "status": status,
                "err_msg": "bench: flipped" if status == "FAILED" else "",
            },
        )
        response.raise_for_status()

    await asyncio.gather(*(one(i) for i in ids))


async def _cycle_figures() -> tuple[dict[bool, list[float]], dict[bool, list[float]], int]:
    """Cycle CPU seconds by history on/off: busy cycles, idle cycles; transitions per busy one."""
    ids = [c["id"] for c in synthetic_connections(WATCHED, FAILING_RATIO)]
    busy: dict[bool, list[float]] = {True: [], False: []}
    idle: dict[bool, list[float]] = {True: [], False: []}
    with FakeDliProcess(connections=WATCHED, failing_ratio=FAILING_RATIO, latency=LATENCY) as dli:
        async with (
            scratch_redis_prefix() as on_prefix,
            scratch_redis_prefix() as off_prefix,
            demo_client(dli.url) as client,
            httpx.AsyncClient(base_url=dli.url, timeout=10.0) as control,
        ):
            backends = {
                True: demo_watch_backend(on_prefix),
                False: demo_watch_backend(off_prefix),
            }
            watchers = {on: Watcher(client, b, history=on) for on, b in backends.items()}
            try:
                for on in (True, False):
                    await watchers[on].cycle(None)  # first sight: not measured
                healthy = [i for i in ids if i not in ids[:: int(1 / FAILING_RATIO)]]
                previous: Sequence[str] = ()
                for round_ in range(BUSY_ROUNDS + IDLE_ROUNDS):
                    if round_ < BUSY_ROUNDS:
                        flipped = healthy[round_ * FLIPS_PER_CYCLE : (round_ + 1) * FLIPS_PER_CYCLE]
                        await _flip(control, previous, "ACTIVE")
                        await _flip(control, flipped, "FAILED")
                        previous = flipped
                    elif round_ == BUSY_ROUNDS:
                        await _flip(control, previous, "ACTIVE")
                    # Alternate which goes first: neither always meets a warmer cache.
                    order = (True, False) if round_ % 2 == 0 else (False, True)
                    for on in order:
                        gc.collect()  # neither pays for the other's garbage
                        with Timer() as timer:
                            outcome = await watchers[on].cycle(None)
                        if not outcome.dli_ok:
                            raise RuntimeError("a measured cycle could not list DLI")
                        if round_ < BUSY_ROUNDS:
                            busy[on].append(timer.cpu)
                        elif round_ > BUSY_ROUNDS:  # the round that recovers the last is busy
                            idle[on].append(timer.cpu)
            finally:
                for backend in backends.values():
                    await backend.aclose()
    return busy, idle, 2 * FLIPS_PER_CYCLE


async def run() -> list[Row]:
    """History: the reply over 10,000 transitions; watcher cycle CPU with history on vs off."""
    history, cards, reads, size, raw_bytes = await _reply_figures()
    busy, idle, transitions = await _cycle_figures()
    reply_note = (
        f"one connection with {TRANSITIONS:,} transitions over 30 days in real Redis (written "
        f"through RedisWatchStore.commit, {BATCH} per commit); {REPLIES} `history <id> 30d` "
        "replies one after another through the chat feature (scoped lookup, warm cache, the "
        "history read, the Block Kit page); baseline: the card for the same id, same cache"
    )
    memory_note = (
        f"MEMORY USAGE (SAMPLES 0) of the connection's stream holding {TRANSITIONS:,} "
        f"entries, each with a ~30-character err_msg on its failures; baseline: the same "
        f"entries as the bytes of their values alone"
    )
    cycle_note = (
        f"Watcher.cycle in this process over {WATCHED:,} connections listed from the fake DLI "
        f"(another process, {LATENCY * 1000:g} ms per request), two watchers on their own Redis "
        f"prefixes, alternating, the same listing each round; busy: {transitions} transitions "
        f"per cycle ({FLIPS_PER_CYCLE} queues FAILED, the last {FLIPS_PER_CYCLE} back), "
        f"{BUSY_ROUNDS} cycles each; idle: nothing changed, {IDLE_ROUNDS - 1} cycles each; "
        "baseline: history off (WatchOptions.history=False, DLICONN_WATCH_HISTORY=false)"
    )
    return [
        Row(
            "history reply p50",
            percentile(history, 50),
            percentile(cards, 50),
            "ms",
            note=reply_note,
        ),
        Row(
            "history reply p99",
            percentile(history, 99),
            percentile(cards, 99),
            "ms",
            at_most(50, "ms"),
        ),
        Row("history read p99 (store only)", percentile(reads, 99), percentile(cards, 99), "ms"),
        Row(
            f"Redis memory per {TRANSITIONS:,} transitions",
            size / 1024,
            raw_bytes / 1024,
            "KiB",
            note=memory_note,
        ),
        *(
            Row(
                f"cycle CPU p50, {kind}",
                percentile(cpu[True], 50),
                percentile(cpu[False], 50),
                "s",
                ratio_at_most(1.10),
                note=cycle_note if kind == "busy" else "",
            )
            for kind, cpu in (("busy", busy), ("idle", idle))
        ),
    ]
