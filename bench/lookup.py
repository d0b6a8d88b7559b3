"""Lookup benchmark: warm-cache latency of ConnectionLookup and its sharing of concurrent calls."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Final

from bench.common import (
    LATENCY,
    REDIS_URL,
    FakeDliProcess,
    Row,
    at_most,
    demo_client,
    exactly,
    percentile,
    ratio_at_most,
    scratch_redis_prefix,
    standard_fake,
    standard_ids,
    timed_each,
)
from bot.config import Settings
from bot.dli.client import DliClient
from bot.lookup.cache import ConnectionLookup, Lookup, ProjectRef, Source
from bot.lookup.finder import ConnectionFinder
from bot.lookup.projects import Directory, ProjectLookups
from bot.store import KeyValueStore, MemoryStore, RedisStore

COLD_LOOKUPS: Final = 100  # distinct ids, each looked up once against an empty cache
PROJECTS: Final = 10  # the cross-project lookup: one has the ids, one answers in 2 s
SLOW_PROJECT: Final = 2.0
PROJECT_LOOKUPS: Final = 60
WARM_LOOKUPS: Final = 3000  # cycling over the ids the cold pass cached
CONCURRENT_LOOKUPS: Final = 100


def _default(name: str) -> float:
    """The deployed default of a Settings field, so the benchmark runs the shipped cache policy."""
    value = Settings.model_fields[name].default
    assert isinstance(value, float)
    return value


def _connection_lookup(
    client: DliClient, store: KeyValueStore, project: ProjectRef | None = None
) -> ConnectionLookup:
    return ConnectionLookup(
        client,
        store,
        ttl=_default("dliconn_cache_ttl"),
        stale_horizon=_default("dliconn_stale_horizon"),
        negative_ttl=_default("dliconn_negative_ttl"),
        project=project,
    )


def _expect(results: Sequence[Lookup], source: Source) -> None:
    # Figures for answers that came from the wrong place would measure the wrong thing.
    wrong = {result.source for result in results} - {source}
    if wrong:
        raise RuntimeError(f"expected every lookup to be {source!r}, some were {sorted(wrong)}")


async def _warm(lookup: ConnectionLookup, ids: Sequence[str]) -> list[float]:
    latencies, results = await timed_each(
        lookup.lookup(ids[n % len(ids)]) for n in range(WARM_LOOKUPS)
    )
    _expect(results, "cache")
    return latencies


@asynccontextmanager
async def _scratch_redis() -> AsyncIterator[RedisStore]:
    """A RedisStore under a prefix of its own, whose keys are deleted afterwards."""
    async with scratch_redis_prefix() as prefix:
        store = RedisStore.from_url(REDIS_URL, prefix=prefix)
        try:
            yield store
        finally:
            await store.aclose()


async def _cold_then_warm(
    lookup: ConnectionLookup, ids: Sequence[str]
) -> tuple[list[float], list[float], list[Lookup]]:
    """Latencies of first (live) lookups, then of cached ones; and the live answers."""
    cold, found = await timed_each(lookup.lookup(i) for i in ids)
    _expect(found, "live")
    return cold, await _warm(lookup, ids), found


async def _memory_warm(client: DliClient, found: Sequence[Lookup]) -> list[float]:
    lookup = _connection_lookup(client, MemoryStore())
    # Seeded with the copies the Redis pass fetched: no second round of DLI calls.
    for result in found:
        await lookup.remember(result.connection, result.request_id)
    return await _warm(lookup, [result.connection.id for result in found])


async def _upstream_calls(
    lookup: ConnectionLookup, client: DliClient, fake: FakeDliProcess, ids: Sequence[str]
) -> Row:
    shared_id, naive_id = ids
    fake.clear_requests()
    await asyncio.gather(*(lookup.lookup(shared_id) for _ in range(CONCURRENT_LOOKUPS)))
    shared = fake.show_requests(shared_id)
    fake.clear_requests()
    await asyncio.gather(*(client.get_connection(naive_id) for _ in range(CONCURRENT_LOOKUPS)))
    naive = fake.show_requests(naive_id)
    return Row(
        f"{CONCURRENT_LOOKUPS} concurrent cold lookups of one id: show calls",
        shared,
        naive,
        "calls",
        exactly(1, "call"),
        note=f"ours: through ConnectionLookup on Redis; baseline: {CONCURRENT_LOOKUPS} concurrent "
        "DliClient.get_connection calls, no cache; calls counted in the fake's request log",
    )


def _project(alias: str, client: DliClient) -> ProjectLookups:
    lookup = _connection_lookup(client, MemoryStore(), ProjectRef(alias))
    finder = ConnectionFinder(
        client, lookup, MemoryStore(), project_id=alias, name_ttl=60.0, snapshot_ttl=30.0
    )
    return ProjectLookups(ProjectRef(alias), lookup, finder)


async def _across_projects(ids: Sequence[str]) -> list[Row]:
    """Cold lookups of distinct ids in a deployment of PROJECTS projects, next to the same
    lookups in a single-project deployment. Only project 0 has the ids (20 ms away); one other
    project takes SLOW_PROJECT seconds to answer, the rest say "not found" after 20 ms."""
    fakes = [standard_fake()] + [
        FakeDliProcess(connections=0, latency=SLOW_PROJECT if n == 1 else LATENCY)
        for n in range(1, PROJECTS)
    ]
    with contextlib.ExitStack() as running:
        urls = [running.enter_context(fake).url for fake in fakes]
        async with contextlib.AsyncExitStack() as clients:
            made = [await clients.enter_async_context(demo_client(url)) for url in urls]
            many = Directory([_project(f"p{n}", c) for n, c in enumerate(made)], MemoryStore())
            single = Directory([_project("only", made[0])], MemoryStore())
            split = PROJECT_LOOKUPS // 2
            across, found = await timed_each(many.lookup(i) for i in ids[:split])
            alone, _ = await timed_each(single.lookup(i) for i in ids[split : 2 * split])
    if {f.project.alias for f in found if f.project} != {"p0"}:
        raise RuntimeError("every id should have been answered by project p0")
    note = (
        f"ours: {split} cold lookups of distinct ids across {PROJECTS} projects (the one with the "
        f"ids 20 ms away, one {SLOW_PROJECT:g} s, the rest not found in 20 ms); baseline: {split} "
        "cold lookups of other ids in a single-project deployment on the same fake"
    )
    return [
        Row(
            f"id lookup across {PROJECTS} projects, p50",
            percentile(across, 50),
            percentile(alone, 50),
            "ms",
            ratio_at_most(1.1),
            note=note,
        ),
        Row(
            f"id lookup across {PROJECTS} projects, p99",
            percentile(across, 99),
            percentile(alone, 99),
            "ms",
            None,
        ),
    ]


async def run() -> list[Row]:
    """ConnectionLookup warm cache (Redis, memory) vs live DLI (20 ms RTT), call sharing."""
    ids = standard_ids()
    cold_ids, spare_ids = ids[:COLD_LOOKUPS], ids[COLD_LOOKUPS:]
    with standard_fake() as fake:
        async with demo_client(fake.url) as client, _scratch_redis() as redis:
            lookup = _connection_lookup(client, redis)
            cold, warm_redis, found = await _cold_then_warm(lookup, cold_ids)
            warm_memory = await _memory_warm(client, found)
            sharing = await _upstream_calls(lookup, client, fake, spare_ids[:2])
    projects = await _across_projects(spare_ids[2 : 2 + PROJECT_LOOKUPS])

    cold_note = (
        f"baseline: {COLD_LOOKUPS} lookups of distinct ids with an empty cache (live DLI show "
        f"+ {LATENCY * 1000:g} ms latency, Redis miss and write); ours: {WARM_LOOKUPS} "
        "lookups of those ids, served from the cache"
    )
    rows = []
    for store, warm in (("Redis", warm_redis), ("memory", warm_memory)):
        for q in (50, 99):
            rows.append(
                Row(
                    f"warm lookup p{q}, {store} store",
                    percentile(warm, q),
                    percentile(cold, q),
                    "ms",
                    at_most(1, "ms") if (store, q) == ("Redis", 50) else None,
                    note=cold_note if (store, q) == ("Redis", 50) else "",
                )
            )
    return [*rows, sharing, *projects]
