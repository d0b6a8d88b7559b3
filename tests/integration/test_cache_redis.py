"""The connection cache on a real Redis: sharing, round trips, outages and recovery."""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from bot.errors import NotFound
from bot.lookup.cache import ConnectionLookup
from bot.store import RedisStore, SafeStore
from tests.fakes.cache import FakeFetcher, FlakyStore, make_connection
from tests.helpers import free_port

CID = "5c3a1e2f-8b7d-4c1e-9f00-0123456789ab"
MISSING = "0d9e8f7a-6b5c-4d3e-8f21-fedcba987654"
TTL, HORIZON, NEGATIVE_TTL = 30.0, 3600.0, 10.0
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
FAST = 0.2  # seconds: a dead Redis must cost milliseconds per call, not redis-py's defaults


def lookup_on(store: RedisStore | SafeStore, fetcher: FakeFetcher) -> ConnectionLookup:
    return ConnectionLookup(
        fetcher, store, ttl=TTL, stale_horizon=HORIZON, negative_ttl=NEGATIVE_TTL
    )


def store_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "bot.store" and r.levelno >= logging.WARNING]


class RedisProcess:
    """A throwaway redis-server on a given port, with no persistence, that a test can kill."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            REDIS_SERVER,
            *("--port", str(self.port), "--bind", "127.0.0.1"),
            *("--save", "", "--appendonly", "no"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        await self._wait_ready()

    async def stop(self) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.kill()
            await self._process.wait()

    async def _wait_ready(self) -> None:
        client = aioredis.Redis(port=self.port, socket_connect_timeout=FAST)
        try:
            async with asyncio.timeout(5.0):
                while True:
                    if await _answers_ping(client):
                        return
                    await asyncio.sleep(0.01)  # a freshly spawned server needs a moment
        finally:
            await client.aclose()


async def _answers_ping(client: aioredis.Redis) -> bool:
    try:
        return bool(await client.ping())
    except RedisError:
        return False


@pytest.fixture
async def own_redis() -> AsyncIterator[RedisProcess]:
    server = RedisProcess(free_port())
    await server.start()
    yield server
    await server.stop()


async def test_redis_store_get_set_ttl_claim_delete(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    store = RedisStore(redis_client, prefix=key_prefix)

    await store.set("k", b"\x00value", ttl=5)
    assert await store.get("k") == b"\x00value"
    assert 4000 < await redis_client.pttl(f"{key_prefix}k") <= 5000
    assert not await store.set_if_absent("k", b"other", ttl=5)
    assert await store.set_if_absent("claim", b"me")
    assert await redis_client.pttl(f"{key_prefix}claim") == -1

    await store.delete("k")
    assert await store.get("k") is None


async def test_two_instances_share_one_cache_and_values_round_trip(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    original = make_connection(CID)
    first_fetcher, second_fetcher = FakeFetcher(original), FakeFetcher(original)
    first = lookup_on(RedisStore(redis_client, prefix=key_prefix), first_fetcher)
    second = lookup_on(RedisStore(redis_client, prefix=key_prefix), second_fetcher)

    live = await first.lookup(CID)
    cached = await second.lookup(CID.upper())

    assert (live.source, cached.source) == ("live", "cache")
    assert cached.connection == original
    assert cached.connection.to_api() == original.to_api()
    assert (cached.fetched_at, cached.request_id) == (live.fetched_at, "req-1")
    assert (first_fetcher.calls, second_fetcher.calls) == ([CID], [])
    kept_ms = await redis_client.pttl(key_prefix + second.cache_key(CID))
    assert (TTL + HORIZON - 5) * 1000 < kept_ms <= (TTL + HORIZON) * 1000


async def test_not_found_is_shared_between_instances(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    first_fetcher, second_fetcher = FakeFetcher(), FakeFetcher()
    first = lookup_on(RedisStore(redis_client, prefix=key_prefix), first_fetcher)
    second = lookup_on(RedisStore(redis_client, prefix=key_prefix), second_fetcher)

    with pytest.raises(NotFound):
        await first.lookup(MISSING)
    with pytest.raises(NotFound) as replayed:
        await second.lookup(MISSING)

    assert replayed.value.request_id == "req-missing-1"
    assert (first_fetcher.calls, second_fetcher.calls) == ([MISSING], [])


async def test_lookups_work_without_redis_and_the_outage_is_logged_once(
    key_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    dead = RedisStore.from_url(
        f"redis://127.0.0.1:{free_port()}/0", prefix=key_prefix, timeout=FAST
    )
    # retry_after=0: every call really tries the dead Redis, so "logged once" is not the probe
    # interval hiding calls.
    fetcher = FakeFetcher(make_connection(CID))
    cache = lookup_on(SafeStore(dead, retry_after=0), fetcher)

    with caplog.at_level(logging.INFO, logger="bot.store"):
        sources = [(await cache.lookup(CID)).source for _ in range(20)]
    await dead.aclose()

    assert sources == ["live"] * 20
    assert len(fetcher.calls) == 20
    assert len(store_warnings(caplog)) == 1
    assert "unavailable" in store_warnings(caplog)[0].getMessage()


@asynccontextmanager
async def fake_redis(*, silent: bool) -> AsyncIterator[tuple[int, list[int]]]:
    """A port where "Redis" accepts each connection and then hangs up at once (a Redis going
    away under the client) or, `silent`, holds it open unanswered until the block ends.

    Yields the port and a one-item list counting the connections made to it.
    """
    connections = [0]
    done = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections[0] += 1
        if silent:
            await done.wait()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], connections
    finally:
        done.set()
        server.close()
        await server.wait_closed()


async def test_a_redis_that_hangs_up_costs_one_attempt_per_command(
    key_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    # retry_after=0: every call really tries the store. A dead Redis must cost one attempt per
    # command, not redis-py's default retry loop with backoff (seconds per lookup).
    async with fake_redis(silent=False) as (port, connections):
        store = RedisStore.from_url(f"redis://127.0.0.1:{port}/0", prefix=key_prefix, timeout=FAST)
        commands = FlakyStore(store)
        cache = lookup_on(SafeStore(commands, retry_after=0), FakeFetcher(make_connection(CID)))
        with caplog.at_level(logging.INFO, logger="bot.store"):
            sources = [(await cache.lookup(CID)).source for _ in range(5)]
        await store.aclose()

    assert sources == ["live"] * 5
    assert commands.calls >= 5  # a read per lookup at least
    assert connections[0] == commands.calls
    assert len(store_warnings(caplog)) == 1


async def test_a_hanging_redis_costs_one_short_timeout_then_is_skipped(
    key_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Accepts connections but never answers a command, until the test ends: a lookup that
    # returns at all was saved by the store's timeout.
    async with fake_redis(silent=True) as (port, connections):
        hanging = RedisStore.from_url(
            f"redis://127.0.0.1:{port}/0", prefix=key_prefix, timeout=FAST
        )
        commands = FlakyStore(hanging)
        cache = lookup_on(SafeStore(commands, retry_after=60), FakeFetcher(make_connection(CID)))
        with caplog.at_level(logging.INFO, logger="bot.store"):
            async with asyncio.timeout(10):  # fails a hang; not a claim about speed
                sources = [(await cache.lookup(CID)).source for _ in range(10)]
        await hanging.aclose()

    assert sources == ["live"] * 10
    # One command waited out the timeout; every later one skipped the store.
    assert (commands.calls, connections[0]) == (1, 1)
    assert len(store_warnings(caplog)) == 1


async def test_cache_recovers_by_itself_when_redis_comes_back(
    own_redis: RedisProcess, key_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = RedisStore.from_url(
        f"redis://127.0.0.1:{own_redis.port}/0", prefix=key_prefix, timeout=FAST
    )
    fetcher = FakeFetcher(make_connection(CID))
    cache = lookup_on(SafeStore(store, retry_after=0), fetcher)
    caplog.set_level(logging.INFO, logger="bot.store")

    assert [(await cache.lookup(CID)).source for _ in range(2)] == ["live", "cache"]

    await own_redis.stop()
    assert [(await cache.lookup(CID)).source for _ in range(3)] == ["live"] * 3
    assert len(store_warnings(caplog)) == 1

    await own_redis.start()
    assert [(await cache.lookup(CID)).source for _ in range(2)] == ["live", "cache"]
    await store.aclose()

    assert len(fetcher.calls) == 5
    assert [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "bot.store"][-1] == (
        "INFO",
        "Redis is back",
    )
