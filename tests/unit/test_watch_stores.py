"""Subscriptions, watcher state, outbox and lease: the Redis and memory backends behave alike."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
import redis.asyncio as aioredis

from bot.watch.backend import WatchBackend
from bot.watch.jobs import Job
from bot.watch.lease import LEASE_TTL, MemoryLease, RedisLease, renewal_period, safety_margin
from bot.watch.state import STATE_KEYS, Commit, MemoryWatchStore, RedisWatchStore
from bot.watch.subscriptions import (
    SUBSCRIPTION_KEYS,
    MemorySubscriptionStore,
    RedisSubscriptionStore,
)
from bot.watch.transitions import ConnState, Incident, Meta

PROJECT = "0d3e6c1a5b7f4e2d9c8b0a1f2e3d4c5b"
CID = "4c693ecc-bab8-4113-a838-129cedc9a563"

Make = Callable[..., WatchBackend]


@pytest.fixture(params=["memory", "redis"])
def make(request: pytest.FixtureRequest, redis_client: aioredis.Redis, key_prefix: str) -> Make:
    def build(static: tuple[str, ...] = ()) -> WatchBackend:
        if request.param == "memory":
            return WatchBackend(MemorySubscriptionStore(static_channels=static), MemoryWatchStore())
        return WatchBackend(
            RedisSubscriptionStore(redis_client, prefix=key_prefix, static_channels=static),
            RedisWatchStore(redis_client, PROJECT, prefix=key_prefix),
        )

    return build


async def test_subscriptions_are_idempotent_and_pausable(make: Make) -> None:
    subs = make(static=("CALL",)).subscriptions
    assert await subs.subscribe("C1", CID, "orders", "U1")
    assert not await subs.subscribe("C1", CID, "renamed", "U2")
    [record] = await subs.channel_subscriptions("C1")
    assert (record.connection_name, record.user) == ("orders", "U1")
    await subs.subscribe("C2", CID, "orders", "U1")
    assert await subs.all_watched() == {CID: frozenset({"C1", "C2", "CALL"})}
    assert await subs.watches("C1", CID)
    assert not await subs.watches("CALL", CID)  # static: nothing there for Unwatch to undo
    await subs.pause("C2", "not_in_channel")
    assert await subs.is_paused("C2")
    assert await subs.all_watched() == {CID: frozenset({"C1", "CALL"})}
    await subs.subscribe("C2", CID, "orders", "U1")  # watching again resumes the channel
    assert not await subs.is_paused("C2")
    assert await subs.unsubscribe("C1", CID)
    assert not await subs.unsubscribe("C1", CID)
    await subs.unsubscribe("C2", CID)
    assert await subs.all_watched() == {}
    # A static channel still gets a connection nobody watches explicitly (the runner's rule).
    assert (await subs.all_watched()).get(CID, subs.static_channels) == {"CALL"}
    assert not await subs.watches("C1", CID)


async def test_subscriptions_to_one_connection_list_every_channel_oldest_first(make: Make) -> None:
    subs = make().subscriptions
    assert await subs.subscriptions_to(CID) == []
    await subs.subscribe("C2", CID, "orders", "U2")
    await subs.subscribe("C1", CID, "orders", "U1")
    await subs.subscribe("C1", "another-id", "other", "U1")

    found = await subs.subscriptions_to(CID)

    assert [(s.channel, s.user) for s in found] == [("C2", "U2"), ("C1", "U1")]
    await subs.unsubscribe("C2", CID)
    assert [s.channel for s in await subs.subscriptions_to(CID)] == ["C1"]


def incident(iid: str) -> Incident:
    return Incident(
        id=iid, connection_id=CID, connection_name="o", kind="failed", queues=(), started_at=1.0
    )


async def test_commit_is_all_or_nothing_on_its_base_version(make: Make) -> None:
    state = make().state
    snapshot = await state.load()
    jobs = [Job(id="j1", channel="C1", kind="alert", incident_id="i1")]
    conn = ConnState(name="o", status="ACTIVE", incidents={"i1": incident("i1")})
    commit = Commit(
        snapshot.version, Meta(failures=1), {CID: conn}, incidents={"i1": incident("i1")}, jobs=jobs
    )
    assert await state.commit(commit, lease_token=None)
    # A second writer that computed from the same base loses, and writes nothing.
    assert not await state.commit(
        Commit(snapshot.version, Meta(), jobs=[Job(id="j2", channel="C1", kind="notice")]),
        lease_token=None,
    )
    after = await state.load()
    assert after.version == snapshot.version + 1 and after.meta.failures == 1
    assert after.states[CID] == conn
    assert [j.id for j in await state.pending()] == ["j1"]
    assert await state.incident("i1") == incident("i1")

    assert await state.claim("j1", "me", 5.0)
    assert not await state.claim("j1", "other", 5.0)
    await state.finish(jobs[0], posted_ts="123.456")
    assert await state.pending() == []
    assert await state.alert_ts("i1", "C1") == "123.456"
    assert await state.acknowledge(CID, "C1", "U0ACK") == ["i1"]
    assert await state.acknowledged_by("i1", "C1") == "U0ACK"
    assert [j.kind for j in await state.pending()] == ["refresh"]
    assert await state.acknowledge(CID, "C9", "U0ACK") == []


async def test_commit_requires_the_current_lease_holder(make: Make) -> None:
    state = make().state
    mine, theirs = state.lease(5.0), state.lease(5.0)
    assert await mine.acquire()
    assert not await theirs.acquire()
    base = (await state.load()).version
    assert not await state.commit(Commit(base, Meta()), lease_token=theirs.token)
    assert await state.commit(Commit(base, Meta()), lease_token=mine.token)
    await theirs.release()  # not theirs to release
    assert not await theirs.acquire()
    await mine.release()
    assert await theirs.acquire()


async def test_mutes_expire(make: Make) -> None:
    state = make().state
    await state.mute(CID, "C1", until=100.0, user="U1")
    assert set(await state.mutes(now=50.0)) == {(CID, "C1")}
    assert await state.mutes(now=100.0) == {}
    await state.mute(CID, "C1", until=100.0, user="U1")
    await state.unmute(CID, "C1")
    assert await state.mutes(now=0.0) == {}


async def test_a_dead_holders_lease_expires(redis_client: aioredis.Redis, key_prefix: str) -> None:
    dead = RedisLease(redis_client, f"{key_prefix}lease", ttl=0.1)
    alive = RedisLease(redis_client, f"{key_prefix}lease", ttl=0.1)
    assert await dead.acquire()
    assert not await alive.acquire()
    async with asyncio.timeout(2):
        while not await alive.acquire():  # noqa: ASYNC110 - polling Redis for the expiry
            await asyncio.sleep(0.02)
    assert not await dead.acquire()


async def test_memory_lease_expires_on_its_clock() -> None:
    now = [0.0]
    board: dict[str, tuple[str, float]] = {}
    first = MemoryLease(board, "k", 10.0, clock=lambda: now[0])
    second = MemoryLease(board, "k", 10.0, clock=lambda: now[0])
    assert await first.acquire() and not await second.acquire()
    now[0] = 10.0
    assert await second.acquire() and not await first.acquire()


def test_takeover_takes_at_most_ten_seconds_whatever_the_interval() -> None:
    # Expiry after the last renewal, then at most one standby period until it is taken.
    assert LEASE_TTL + renewal_period(LEASE_TTL) <= 10.0
    assert 2 * renewal_period(LEASE_TTL) <= LEASE_TTL  # renewed at least twice per lifetime
    assert 0 < safety_margin(LEASE_TTL) < LEASE_TTL - renewal_period(LEASE_TTL)


def named(name: str) -> ConnState:
    return ConnState(name=name, status="ACTIVE")


async def test_state_is_read_again_only_after_another_writer_committed(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    mine = RedisWatchStore(redis_client, PROJECT, prefix=key_prefix)
    theirs = RedisWatchStore(redis_client, PROJECT, prefix=key_prefix)
    base = await mine.load()
    assert await mine.commit(Commit(base.version, Meta(), {CID: named("o")}), lease_token=None)
    # Written behind the stores' backs, as no commit writes: the snapshot mine holds since its
    # own commit is served as it is, so the whole state is not read again...
    state_key = f"{key_prefix}{STATE_KEYS}{PROJECT}:state"
    await redis_client.hset(state_key, "stray", named("s").model_dump_json())
    held = await mine.load()
    assert set(held.states) == {CID} and held.version == base.version + 1
    held.states.clear()  # and what a caller does with its copy changes nothing held
    assert set((await mine.load()).states) == {CID}
    # ...until another replica commits: then it is.
    seen = await theirs.load()
    assert set(seen.states) == {CID, "stray"}
    assert await theirs.commit(
        Commit(seen.version, Meta(failures=2), {"c2": named("t")}, removed=frozenset({CID})),
        lease_token=None,
    )
    after = await mine.load()
    assert set(after.states) == {"stray", "c2"} and after.meta.failures == 2
    assert after.version == base.version + 2


async def test_the_same_version_committed_by_another_writer_is_read(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    mine = RedisWatchStore(redis_client, PROJECT, prefix=key_prefix)
    theirs = RedisWatchStore(redis_client, PROJECT, prefix=key_prefix)
    assert await mine.commit(Commit(0, Meta(), {CID: named("mine")}), lease_token=None)
    assert (await mine.load()).version == 1
    # Redis lost that commit (a failover to a replica that had not got it), and another
    # replica committed the same version number on top of what was left.
    await redis_client.delete(
        *(f"{key_prefix}{STATE_KEYS}{PROJECT}:{k}" for k in ("state", "version", "stamp"))
    )
    assert await theirs.commit(Commit(0, Meta(), {CID: named("theirs")}), lease_token=None)
    reloaded = await mine.load()
    assert reloaded.version == 1 and reloaded.states[CID].name == "theirs"


async def test_subscriptions_changed_elsewhere_are_seen_on_the_next_read(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    watcher = RedisSubscriptionStore(redis_client, prefix=key_prefix, static_channels=["CALL"])
    web = RedisSubscriptionStore(redis_client, prefix=key_prefix)
    assert await watcher.all_watched() == {}
    await web.subscribe("C1", CID, "orders", "U1")
    assert await watcher.all_watched() == {CID: {"C1", "CALL"}}
    # Written behind the stores' backs, as no store writes: not read until a change is made...
    await redis_client.sadd(f"{key_prefix}{SUBSCRIPTION_KEYS}conn:{CID}", "CSTRAY")
    assert await watcher.all_watched() == {CID: {"C1", "CALL"}}
    # ...through any instance: subscribing, pausing, resuming, unsubscribing.
    await web.subscribe("C2", CID, "orders", "U1")
    assert await watcher.all_watched() == {CID: {"C1", "C2", "CSTRAY", "CALL"}}
    await web.pause("C1", "not_in_channel")
    assert await watcher.all_watched() == {CID: {"C2", "CSTRAY", "CALL"}}
    await web.subscribe("C1", CID, "orders", "U1")
    assert await watcher.all_watched() == {CID: {"C1", "C2", "CSTRAY", "CALL"}}
    await web.unsubscribe("C2", CID)
    assert await watcher.all_watched() == {CID: {"C1", "CSTRAY", "CALL"}}


async def test_subscriptions_are_read_again_after_redis_lost_writes(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    watcher = RedisSubscriptionStore(redis_client, prefix=key_prefix)
    web = RedisSubscriptionStore(redis_client, prefix=key_prefix)
    await web.subscribe("C1", "conn-1", "one", "U1")
    assert await watcher.all_watched() == {"conn-1": frozenset({"C1"})}

    # Redis restarted without persistence (or failed over to a lagging replica): the write is
    # gone, and the same number of changes is made again, with other subscriptions.
    keys = [k async for k in redis_client.scan_iter(match=f"{key_prefix}*")]
    await redis_client.delete(*keys)
    await web.subscribe("C2", "conn-2", "two", "U1")

    assert await watcher.all_watched() == {"conn-2": frozenset({"C2"})}


async def test_subscriptions_without_a_generation_are_read_every_time(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    # As a writer that does not bump the generation (an older release) leaves them.
    watcher = RedisSubscriptionStore(redis_client, prefix=key_prefix)
    keys = f"{key_prefix}{SUBSCRIPTION_KEYS}"
    await redis_client.sadd(f"{keys}watched", CID)
    await redis_client.sadd(f"{keys}conn:{CID}", "C1")
    assert await watcher.all_watched() == {CID: {"C1"}}
    await redis_client.sadd(f"{keys}conn:{CID}", "C2")
    assert await watcher.all_watched() == {CID: {"C1", "C2"}}


async def test_an_outbox_job_that_no_longer_validates_is_dropped_not_blocking(
    redis_client: aioredis.Redis, key_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = RedisWatchStore(redis_client, PROJECT, prefix=key_prefix)
    keys = f"{key_prefix}{STATE_KEYS}{PROJECT}:"
    # An older or newer release's job, ahead of a good one in the outbox.
    await redis_client.hset(f"{keys}jobs", "stale", '{"id": "stale", "kind": "digest"}')
    await redis_client.zadd(f"{keys}outbox", {"stale": 0})
    good = Job(id="good", channel="C1", kind="notice", text="hi")
    await store.enqueue([good])
    assert await store.pending() == [good]
    assert await redis_client.hexists(f"{keys}jobs", "stale") == 0
    assert await redis_client.zscore(f"{keys}outbox", "stale") is None
    [logged] = [r for r in caplog.records if "stale" in r.getMessage()]
    assert logged.levelname == "ERROR"
    assert await store.pending() == [good]
