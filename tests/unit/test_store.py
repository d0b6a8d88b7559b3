"""MemoryStore semantics and SafeStore's outage handling (miss, log once, probe, recover)."""

from __future__ import annotations

import logging

import pytest

from bot.store import MemoryStore, SafeStore, make_safe
from tests.fakes.cache import FakeClock, FlakyStore


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def memory(clock: FakeClock) -> MemoryStore:
    return MemoryStore(clock=clock.monotonic)


async def test_memory_store_keeps_values_until_their_ttl(
    memory: MemoryStore, clock: FakeClock
) -> None:
    await memory.set("a", b"1", ttl=5)
    await memory.set("forever", b"2")
    clock.advance(4.9)
    assert await memory.get("a") == b"1"

    clock.advance(0.1)
    assert await memory.get("a") is None
    assert await memory.get("forever") == b"2"


async def test_memory_store_set_if_absent_claims_once_per_ttl(
    memory: MemoryStore, clock: FakeClock
) -> None:
    assert await memory.set_if_absent("claim", b"me", ttl=10)
    assert not await memory.set_if_absent("claim", b"you", ttl=10)
    assert await memory.get("claim") == b"me"

    clock.advance(10)
    assert await memory.set_if_absent("claim", b"you", ttl=10)
    await memory.delete("claim")
    assert await memory.get("claim") is None


async def test_memory_store_drops_expired_keys_nobody_reads(
    memory: MemoryStore, clock: FakeClock
) -> None:
    for i in range(1000):
        await memory.set(f"old{i}", b"x", ttl=1)
    clock.advance(1)
    for i in range(100):
        await memory.set(f"new{i}", b"y", ttl=1)

    assert len(memory._items) == 100


@pytest.mark.parametrize("ttl", [0, -1.5])
async def test_stores_reject_a_ttl_that_is_not_positive(memory: MemoryStore, ttl: float) -> None:
    with pytest.raises(ValueError, match="ttl must be positive"):
        await memory.set("k", b"v", ttl=ttl)


async def test_safe_store_turns_an_outage_into_misses_logged_once(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    flaky = FlakyStore(MemoryStore(clock=clock.monotonic))
    safe = SafeStore(flaky, retry_after=0, clock=clock.monotonic)
    await safe.set("k", b"v")
    flaky.down = True

    with caplog.at_level(logging.INFO, logger="bot.store"):
        for _ in range(5):
            assert await safe.get("k") is None
            await safe.set("k", b"w")
            await safe.delete("k")
        assert not safe.healthy
        flaky.down = False
        assert await safe.get("k") == b"v"
        assert await safe.get("k") == b"v"

    assert [(r.levelname, r.getMessage().split(":")[0]) for r in caplog.records] == [
        ("WARNING", "Redis unavailable, continuing without it"),
        ("INFO", "Redis is back"),
    ]
    assert safe.healthy


async def test_safe_store_skips_a_down_store_until_the_next_probe(clock: FakeClock) -> None:
    flaky = FlakyStore(MemoryStore(clock=clock.monotonic))
    safe = SafeStore(flaky, retry_after=2, clock=clock.monotonic)
    flaky.down = True

    for _ in range(10):
        assert await safe.get("k") is None
    assert flaky.calls == 1

    flaky.down = False
    clock.advance(1.9)
    assert await safe.get("k") is None
    assert flaky.calls == 1

    clock.advance(0.1)
    await safe.set("k", b"v")
    assert await safe.get("k") == b"v"
    assert flaky.calls == 3


@pytest.mark.parametrize("claim", [True, False])
async def test_safe_store_answers_claims_as_configured_while_down(
    clock: FakeClock, claim: bool
) -> None:
    flaky = FlakyStore(MemoryStore(clock=clock.monotonic))
    flaky.down = True
    safe = SafeStore(flaky, claim_when_down=claim)

    assert await safe.set_if_absent("k", b"v", ttl=1) is claim


def test_make_safe_wraps_once() -> None:
    safe = make_safe(MemoryStore())

    assert isinstance(safe, SafeStore)
    assert make_safe(safe) is safe
