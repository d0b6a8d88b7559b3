"""A Redis that is down surfaces as StoreUnavailable from every Redis store, and nothing else
does: an OSError from a bug is a bug, not "storage unavailable"."""

from __future__ import annotations

import asyncio
import inspect
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, Final

import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from bot.blocks.message import Message
from bot.chat.replies import guarded
from bot.errors import StoreUnavailable
from bot.store import KeyValueStore, MemoryStore, RedisStore, SafeStore, redis_client
from bot.watch.epoch import new_epoch
from bot.watch.jobs import Job
from bot.watch.lease import Lease, RedisLease
from bot.watch.state import Commit, RedisWatchStore, WatchStore
from bot.watch.subscriptions import RedisSubscriptionStore, SubscriptionStore
from bot.watch.transitions import Meta

PROJECT: Final = "0d3e6c1a5b7f4e2d9c8b0a1f2e3d4c5b"
CID: Final = "4c693ecc-bab8-4113-a838-129cedc9a563"
JOB: Final = Job(id="j1", channel="C1", kind="notice", text="hello")

Call = Callable[[aioredis.Redis], Awaitable[object]]


def _kv(method: Callable[[RedisStore], Awaitable[object]]) -> Call:
    return lambda client: method(RedisStore(client))


def _state(method: Callable[[RedisWatchStore], Awaitable[object]]) -> Call:
    return lambda client: method(RedisWatchStore(client, PROJECT))


def _subs(method: Callable[[RedisSubscriptionStore], Awaitable[object]]) -> Call:
    return lambda client: method(RedisSubscriptionStore(client, static_channels=("CALL",)))


def _lease(method: Callable[[RedisLease], Awaitable[object]]) -> Call:
    return lambda client: method(RedisLease(client, "lease", 30.0))


#: Every storage call of every Redis store, by (protocol, method name). The completeness test
#: below fails when a protocol grows a method this table does not exercise.
CALLS: Final[dict[tuple[type[Any], str], Call]] = {
    (KeyValueStore, "get"): _kv(lambda s: s.get("k")),
    (KeyValueStore, "set"): _kv(lambda s: s.set("k", b"v", ttl=5)),
    (KeyValueStore, "set_if_absent"): _kv(lambda s: s.set_if_absent("k", b"v", ttl=5)),
    (KeyValueStore, "delete"): _kv(lambda s: s.delete("k")),
    (WatchStore, "load"): _state(lambda s: s.load()),
    (WatchStore, "commit"): _state(
        lambda s: s.commit(Commit(0, Meta(), jobs=[JOB]), lease_token=None)
    ),
    (WatchStore, "enqueue"): _state(lambda s: s.enqueue([JOB])),
    (WatchStore, "pending"): _state(lambda s: s.pending()),
    (WatchStore, "claim"): _state(lambda s: s.claim("j1", "me", 5.0)),
    (WatchStore, "finish"): _state(lambda s: s.finish(JOB, posted_ts="1.2")),
    (WatchStore, "retry_later"): _state(lambda s: s.retry_later(JOB)),
    (WatchStore, "drop_channel"): _state(lambda s: s.drop_channel("C1")),
    (WatchStore, "incident"): _state(lambda s: s.incident("i1")),
    (WatchStore, "alert_ts"): _state(lambda s: s.alert_ts("i1", "C1")),
    (WatchStore, "mute"): _state(lambda s: s.mute(CID, "C1", 10.0, "U1")),
    (WatchStore, "unmute"): _state(lambda s: s.unmute(CID, "C1")),
    (WatchStore, "mutes"): _state(lambda s: s.mutes(0.0)),
    (WatchStore, "acknowledge"): _state(lambda s: s.acknowledge(CID, "C1", "U1")),
    (WatchStore, "acknowledged_by"): _state(lambda s: s.acknowledged_by("i1", "C1")),
    (WatchStore, "epoch"): _state(lambda s: s.epoch()),
    (WatchStore, "history"): _state(lambda s: s.history(CID, since=0.0)),
    (WatchStore, "begin_epoch"): _state(lambda s: s.begin_epoch(new_epoch(0.0))),
    (SubscriptionStore, "subscribe"): _subs(lambda s: s.subscribe("C1", CID, "orders", "U1")),
    (SubscriptionStore, "unsubscribe"): _subs(lambda s: s.unsubscribe("C1", CID)),
    (SubscriptionStore, "channel_subscriptions"): _subs(lambda s: s.channel_subscriptions("C1")),
    (SubscriptionStore, "subscriptions_to"): _subs(lambda s: s.subscriptions_to(CID)),
    (SubscriptionStore, "watches"): _subs(lambda s: s.watches("C1", CID)),
    (SubscriptionStore, "all_watched"): _subs(lambda s: s.all_watched()),
    (SubscriptionStore, "pause"): _subs(lambda s: s.pause("C1", "not_in_channel")),
    (SubscriptionStore, "is_paused"): _subs(lambda s: s.is_paused("C1")),
    (SubscriptionStore, "paused"): _subs(lambda s: s.paused()),
    (Lease, "acquire"): _lease(lambda s: s.acquire()),
    (Lease, "release"): _lease(lambda s: s.release()),
}


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A port bound but never listening: every connection to it is refused, and no other
    process can take it while the test runs."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


@pytest.fixture
async def down(refused_port: int) -> AsyncIterator[aioredis.Redis]:
    client = redis_client(f"redis://127.0.0.1:{refused_port}/0")
    yield client
    await client.aclose()


def test_the_contract_table_covers_every_storage_call() -> None:
    for protocol in (KeyValueStore, WatchStore, SubscriptionStore, Lease):
        methods = {n for n, _ in inspect.getmembers(protocol, inspect.iscoroutinefunction)}
        assert methods - {"aclose"} == {n for p, n in CALLS if p is protocol}, protocol


@pytest.mark.parametrize("call", CALLS.values(), ids=[f"{p.__name__}.{n}" for p, n in CALLS])
async def test_a_redis_that_is_down_is_store_unavailable(down: aioredis.Redis, call: Call) -> None:
    with pytest.raises(StoreUnavailable) as raised:
        await call(down)
    assert isinstance(raised.value.__cause__, RedisError | OSError)


async def test_a_redis_that_hangs_is_store_unavailable() -> None:
    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up and closes
        writer.close()

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = redis_client(f"redis://127.0.0.1:{port}/0", timeout=0.05)
    try:
        with pytest.raises(StoreUnavailable, match="Timeout"):
            await RedisStore(client).get("k")
    finally:
        await client.aclose()
        server.close()
        await server.wait_closed()


async def test_a_watch_conflict_is_a_lost_commit_not_an_outage(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    # WatchError is a RedisError, handled inside the store: the translation must not see it.
    first = RedisWatchStore(redis_client, PROJECT, prefix=key_prefix)
    second = RedisWatchStore(redis_client, PROJECT, prefix=key_prefix)
    base = (await first.load()).version
    assert await first.commit(Commit(base, Meta()), lease_token=None)
    assert not await second.commit(Commit(base, Meta()), lease_token=None)


async def test_safe_store_over_a_redis_that_is_down_misses_and_says_so(
    down: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    store = SafeStore(RedisStore(down))
    assert await store.get("k") is None
    assert not store.healthy
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "Redis unavailable" in warning.getMessage()


class BuggyStore(MemoryStore):
    async def get(self, key: str) -> bytes | None:
        raise FileNotFoundError("a bug reading a file, not Redis")


async def test_an_oserror_from_a_bug_is_not_an_outage() -> None:
    store = SafeStore(BuggyStore())
    with pytest.raises(FileNotFoundError):
        await store.get("k")
    assert store.healthy


async def test_an_oserror_from_a_bug_gets_the_unexpected_reply_with_a_reference(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def work() -> Message:
        raise ConnectionResetError("a bug in some socket code")

    reply = await guarded("orders", work)
    assert not reply.shareable
    assert "went wrong on the bot's side" in reply.message.text
    assert "storage" not in reply.message.text.lower()
    [logged] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "unexpected error [ref" in logged.getMessage()
    ref = logged.getMessage().split("[ref ")[1].split("]")[0]
    assert f"(reference {ref})" in reply.message.text


async def test_a_store_outage_gets_the_storage_reply() -> None:
    async def work() -> Message:
        raise StoreUnavailable("ConnectionError: refused")

    reply = await guarded("orders", work)
    assert "storage (Redis) is unreachable" in reply.message.text
    assert "reference" not in reply.message.text
