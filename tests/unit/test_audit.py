"""The audit trail's stores, Redis (a real one) and memory: newest first, 90 days kept, Redis
failures as StoreUnavailable, and a store outage never losing the log line."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from bot.audit import (
    KEEP_SECONDS,
    AuditEntry,
    AuditLog,
    AuditStore,
    MemoryAuditStore,
    RedisAuditStore,
)
from bot.config import Verb
from bot.errors import StoreUnavailable

# Redis names stream entries by its own clock, so the stores' clocks start from the real time.
NOW = time.time()


def entry(at: float, action: str = "watch", channel: str = "C1") -> AuditEntry:
    verb: Verb = "mute" if action.startswith("mute") else "watch"
    return AuditEntry(at, "U0ALICE", channel, verb, action, "c0ffee00-0000-4000-8000-000000000001",
                      "prod", "ok")  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "redis"])
async def store_and_clock(
    request: pytest.FixtureRequest, redis_client: aioredis.Redis, key_prefix: str
) -> AsyncIterator[tuple[AuditStore, Clock]]:
    clock = Clock()
    if request.param == "memory":
        yield MemoryAuditStore(clock=clock), clock
    else:
        yield RedisAuditStore(redis_client, prefix=key_prefix, clock=clock), clock


async def test_recent_is_newest_first_per_channel_and_limited(
    store_and_clock: tuple[AuditStore, Clock],
) -> None:
    store, _ = store_and_clock
    for i, action in enumerate(("watch", "mute 4 h", "unwatch")):
        await store.add(entry(NOW - 10 + i, action))
    await store.add(entry(NOW, "watch", channel="C2"))
    assert [e.action for e in await store.recent("C1", 2)] == ["unwatch", "mute 4 h"]
    [only] = await store.recent("C2", 10)
    assert only == entry(NOW, "watch", channel="C2")
    assert await store.recent("C3", 10) == []


async def test_entries_older_than_90_days_are_never_shown(
    store_and_clock: tuple[AuditStore, Clock],
) -> None:
    store, clock = store_and_clock
    await store.add(entry(NOW, "watch"))
    clock.now = NOW + KEEP_SECONDS - 1
    await store.add(entry(clock.now, "unwatch"))
    assert len(await store.recent("C1", 10)) == 2
    clock.now = NOW + KEEP_SECONDS + 1
    assert [e.action for e in await store.recent("C1", 10)] == ["unwatch"]


async def test_redis_trims_the_stream_to_90_days_and_expires_it(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    clock = Clock()
    store = RedisAuditStore(redis_client, prefix=key_prefix, clock=clock)
    key = f"{key_prefix}audit:C1"
    clock.now = time.time()
    # An entry Redis named in 1970: far older than 90 days.
    await redis_client.xadd(key, {"at": "1", "action": "ancient"}, id="1-1")
    for i in range(3):
        await store.add(entry(clock.now, f"mute {i} h"))
    rows: list[tuple[bytes, dict[bytes, bytes]]] = await redis_client.xrange(key)  # type: ignore[assignment]
    assert [fields[b"action"] for _, fields in rows] == [b"mute 0 h", b"mute 1 h", b"mute 2 h"]
    assert 0 < await redis_client.ttl(key) <= KEEP_SECONDS


async def test_a_redis_failure_is_store_unavailable_and_the_log_line_still_written(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = aioredis.Redis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=0.2)
    store = RedisAuditStore(broken, owns_client=True)
    with pytest.raises(StoreUnavailable):
        await store.recent("C1", 5)
    caplog.set_level(logging.INFO, logger="bot.audit")
    await AuditLog(store).record(entry(NOW, "watch"))
    await store.aclose()
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("audit {")]
    assert json.loads(line.removeprefix("audit "))["action"] == "watch"
    assert any("not stored" in r.getMessage() for r in caplog.records)
