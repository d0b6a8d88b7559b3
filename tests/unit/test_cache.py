"""ConnectionLookup on a MemoryStore: freshness, sharing, stale fallback, negative cache."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.errors import (
    AuthFailed,
    BadResponse,
    DliError,
    Forbidden,
    NotFound,
    Throttled,
    Unavailable,
)
from bot.lookup.cache import ConnectionLookup, Lookup
from bot.metrics import Metrics
from bot.store import MemoryStore
from tests.fakes.cache import FakeClock, FakeFetcher, FlakyStore, make_connection

CID = "5c3a1e2f-8b7d-4c1e-9f00-0123456789ab"
OTHER = "0d9e8f7a-6b5c-4d3e-8f21-fedcba987654"
TTL, HORIZON, NEGATIVE_TTL = 30.0, 3600.0, 10.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fetcher() -> FakeFetcher:
    return FakeFetcher(make_connection(CID))


@pytest.fixture
def store(clock: FakeClock) -> MemoryStore:
    return MemoryStore(clock=clock.monotonic)


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def cache(
    fetcher: FakeFetcher, store: MemoryStore, clock: FakeClock, metrics: Metrics
) -> ConnectionLookup:
    return ConnectionLookup(
        fetcher,
        store,
        ttl=TTL,
        stale_horizon=HORIZON,
        negative_ttl=NEGATIVE_TTL,
        clock=clock.now,
        metrics=metrics,
    )


def counted(metrics: Metrics, source: str) -> float:
    value = metrics.registry.get_sample_value("dliconn_lookups_total", {"source": source})
    return value or 0.0


async def test_miss_is_fetched_live_and_then_served_from_cache(
    cache: ConnectionLookup, fetcher: FakeFetcher, clock: FakeClock, metrics: Metrics
) -> None:
    first = await cache.lookup(CID)
    assert first == Lookup(fetcher.connections[CID], "live", clock.now(), "req-1")

    fetched_at = clock.now()
    clock.advance(TTL - 1)
    second = await cache.lookup(CID)

    assert second == Lookup(fetcher.connections[CID], "cache", fetched_at, "req-1")
    assert second.age(clock.now()) == timedelta(seconds=TTL - 1)
    assert fetcher.calls == [CID]
    assert (counted(metrics, "live"), counted(metrics, "cache")) == (1, 1)


async def test_copy_is_fetched_again_once_ttl_has_passed(
    cache: ConnectionLookup, fetcher: FakeFetcher, clock: FakeClock
) -> None:
    await cache.lookup(CID)
    clock.advance(TTL)

    again = await cache.lookup(CID)

    assert (again.source, again.fetched_at, again.request_id) == ("live", clock.now(), "req-2")
    assert fetcher.calls == [CID, CID]


async def test_ids_are_normalised_for_the_key_and_the_fetch(
    cache: ConnectionLookup, fetcher: FakeFetcher
) -> None:
    first = await cache.lookup(f"  {CID.upper()}\n")
    second = await cache.lookup(CID)

    assert (first.source, second.source) == ("live", "cache")
    assert fetcher.calls == [CID]


async def test_empty_id_is_not_found_without_asking_dli(
    cache: ConnectionLookup, fetcher: FakeFetcher
) -> None:
    with pytest.raises(NotFound):
        await cache.lookup("   ")
    assert fetcher.calls == []


async def test_concurrent_cold_lookups_share_one_fetch(
    cache: ConnectionLookup, fetcher: FakeFetcher
) -> None:
    fetcher.hold()
    lookups = asyncio.gather(*(cache.lookup(CID) for _ in range(100)))
    await fetcher.started.wait()
    fetcher.release()

    results = await lookups

    assert fetcher.calls == [CID]
    assert {(r.source, r.request_id) for r in results} == {("live", "req-1")}


async def test_concurrent_lookups_share_a_failure_and_the_next_lookup_retries(
    cache: ConnectionLookup, fetcher: FakeFetcher
) -> None:
    fetcher.hold()
    fetcher.error = Unavailable("DLI timed out")
    lookups = asyncio.gather(*(cache.lookup(CID) for _ in range(100)), return_exceptions=True)
    await fetcher.started.wait()
    fetcher.release()

    outcomes = await lookups

    assert fetcher.calls == [CID]
    assert all(o is fetcher.error for o in outcomes)

    fetcher.error = None
    assert (await cache.lookup(CID)).source == "live"
    assert fetcher.calls == [CID, CID]


async def test_one_caller_giving_up_does_not_cancel_the_shared_fetch(
    cache: ConnectionLookup, fetcher: FakeFetcher
) -> None:
    fetcher.hold()
    impatient = asyncio.create_task(cache.lookup(CID))
    patient = asyncio.create_task(cache.lookup(CID))
    await fetcher.started.wait()
    impatient.cancel()
    fetcher.release()

    assert (await patient).source == "live"
    assert impatient.cancelled()
    assert fetcher.calls == [CID]


async def test_the_fetch_is_cancelled_once_every_caller_has_given_up(
    cache: ConnectionLookup, fetcher: FakeFetcher
) -> None:
    fetcher.hold()
    callers = [asyncio.create_task(cache.lookup(CID)) for _ in range(2)]
    await fetcher.started.wait()
    for caller in callers:
        caller.cancel()
    await asyncio.gather(*callers, return_exceptions=True)

    # Nobody wants the answer any more: the next lookup starts a new call instead of joining a
    # fetch that would otherwise still be waiting on DLI.
    fetcher.release()
    assert (await cache.lookup(CID)).source == "live"
    assert fetcher.calls == [CID, CID]


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (Unavailable("connect timeout"), "unavailable"),
        (Throttled("slow down", retry_after=2.0), "throttled"),
    ],
)
async def test_retryable_failure_serves_the_last_good_copy_as_stale(
    cache: ConnectionLookup,
    fetcher: FakeFetcher,
    clock: FakeClock,
    metrics: Metrics,
    error: DliError,
    reason: str,
) -> None:
    good = await cache.lookup(CID)
    clock.advance(HORIZON - 1)
    fetcher.error = error

    stale = await cache.lookup(CID)

    assert stale == Lookup(good.connection, "stale", good.fetched_at, "req-1", reason)
    assert stale.age(clock.now()) == timedelta(seconds=HORIZON - 1)
    assert counted(metrics, "stale") == 1


async def test_copy_older_than_the_stale_horizon_is_not_served(
    cache: ConnectionLookup, fetcher: FakeFetcher, clock: FakeClock
) -> None:
    await cache.lookup(CID)
    clock.advance(HORIZON)
    fetcher.error = Unavailable("connect timeout")

    with pytest.raises(Unavailable) as raised:
        await cache.lookup(CID)
    assert raised.value is fetcher.error


@pytest.mark.parametrize(
    "error", [AuthFailed("bad AK/SK"), Forbidden("no permission"), BadResponse("not JSON")]
)
async def test_non_retryable_failures_surface_even_with_a_good_copy(
    cache: ConnectionLookup, fetcher: FakeFetcher, clock: FakeClock, error: DliError
) -> None:
    await cache.lookup(CID)
    clock.advance(TTL)
    fetcher.error = error

    with pytest.raises(type(error)):
        await cache.lookup(CID)


async def test_not_found_is_remembered_for_the_negative_ttl(
    cache: ConnectionLookup, fetcher: FakeFetcher, clock: FakeClock
) -> None:
    with pytest.raises(NotFound) as first:
        await cache.lookup(OTHER)
    clock.advance(NEGATIVE_TTL - 1)
    with pytest.raises(NotFound) as replayed:
        await cache.lookup(OTHER)

    assert fetcher.calls == [OTHER]
    assert str(replayed.value) == str(first.value)
    assert (replayed.value.request_id, replayed.value.code) == ("req-missing-1", "DLI.0023")

    clock.advance(1)
    with pytest.raises(NotFound):
        await cache.lookup(OTHER)
    assert fetcher.calls == [OTHER, OTHER]


async def test_not_found_retires_the_last_good_copy(
    cache: ConnectionLookup, fetcher: FakeFetcher, clock: FakeClock
) -> None:
    await cache.lookup(CID)
    clock.advance(TTL)
    del fetcher.connections[CID]
    with pytest.raises(NotFound):
        await cache.lookup(CID)

    clock.advance(NEGATIVE_TTL)
    fetcher.error = Unavailable("connect timeout")
    with pytest.raises(Unavailable):
        await cache.lookup(CID)


async def test_force_bypasses_a_fresh_copy(
    cache: ConnectionLookup, fetcher: FakeFetcher, clock: FakeClock
) -> None:
    await cache.lookup(CID)
    clock.advance(1)

    forced = await cache.lookup(CID, force=True)

    assert (forced.source, forced.fetched_at, forced.request_id) == ("live", clock.now(), "req-2")
    assert (await cache.lookup(CID)).request_id == "req-2"


async def test_force_bypasses_the_negative_cache_and_clears_it(
    cache: ConnectionLookup, fetcher: FakeFetcher
) -> None:
    with pytest.raises(NotFound):
        await cache.lookup(OTHER)
    fetcher.connections[OTHER] = make_connection(OTHER)

    assert (await cache.lookup(OTHER, force=True)).source == "live"
    assert (await cache.lookup(OTHER)).source == "cache"
    assert fetcher.calls == [OTHER, OTHER]


async def test_forced_lookups_still_share_one_fetch(
    cache: ConnectionLookup, fetcher: FakeFetcher
) -> None:
    await cache.lookup(CID)
    fetcher.hold()
    lookups = asyncio.gather(*(cache.lookup(CID, force=True) for _ in range(20)))
    await fetcher.started.wait()
    fetcher.release()

    results = await lookups

    assert fetcher.calls == [CID, CID]
    assert {r.request_id for r in results} == {"req-2"}


async def test_force_falls_back_to_stale_on_a_retryable_error(
    cache: ConnectionLookup, fetcher: FakeFetcher, clock: FakeClock
) -> None:
    good = await cache.lookup(CID)
    clock.advance(5)
    fetcher.error = Throttled("slow down")

    forced = await cache.lookup(CID, force=True)

    assert (forced.source, forced.fetched_at) == ("stale", good.fetched_at)
    assert forced.stale_reason == "throttled"


async def test_remember_seeds_the_cache(
    cache: ConnectionLookup, fetcher: FakeFetcher, clock: FakeClock
) -> None:
    listed = make_connection(OTHER.upper(), status="FAILED")
    await cache.lookup(CID)

    await cache.remember(listed, request_id="req-list")
    found = await cache.lookup(OTHER)

    assert found == Lookup(listed, "cache", clock.now(), "req-list")
    assert fetcher.calls == [CID]


async def test_unreadable_entry_is_a_miss(
    cache: ConnectionLookup, fetcher: FakeFetcher, store: MemoryStore
) -> None:
    await store.set(cache.cache_key(CID), b'{"connection": {"name": "no id"}}')

    assert (await cache.lookup(CID)).source == "live"
    assert (await cache.lookup(CID)).source == "cache"


async def test_failing_store_is_never_visible_to_the_caller(
    fetcher: FakeFetcher, clock: FakeClock
) -> None:
    broken = FlakyStore(MemoryStore(clock=clock.monotonic))
    broken.down = True
    cache = ConnectionLookup(
        fetcher, broken, ttl=TTL, stale_horizon=HORIZON, negative_ttl=NEGATIVE_TTL
    )

    results = [await cache.lookup(CID) for _ in range(3)]
    with pytest.raises(NotFound):
        await cache.lookup(OTHER)

    assert [r.source for r in results] == ["live"] * 3
    assert fetcher.calls == [CID, CID, CID, OTHER]


async def test_zero_ttls_disable_caching_but_not_lookups(
    fetcher: FakeFetcher, store: MemoryStore
) -> None:
    cache = ConnectionLookup(fetcher, store, ttl=0, stale_horizon=0, negative_ttl=0)

    sources = [(await cache.lookup(CID)).source for _ in range(2)]
    for _ in range(2):
        with pytest.raises(NotFound):
            await cache.lookup(OTHER)

    assert sources == ["live", "live"]
    assert fetcher.calls == [CID, CID, OTHER, OTHER]
