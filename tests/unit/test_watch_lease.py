"""The short lease and its keeper: a holder stops acting before its lease can pass on, a lease
lost by the store is told apart from one that expired, and posts are fenced by it."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis
from slack_sdk.web.async_client import AsyncWebClient

from bot.local.fake_slack import FakeSlackApi
from bot.watch.lease import LeaseKeeper, RedisLease, safety_margin
from bot.watch.notifier import Notifier
from bot.watch.state import MemoryWatchStore
from bot.watch.subscriptions import MemorySubscriptionStore
from tests.fakes.cache import FakeClock
from tests.unit.test_watch_notifier import GOOD, TOKEN, notice


async def test_a_holder_that_cannot_renew_stops_before_redis_lets_the_lease_go(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    ttl, clock = 30.0, FakeClock()
    key = f"{key_prefix}lease"
    keeper = LeaseKeeper(RedisLease(redis_client, key, ttl), ttl, clock=clock.monotonic)
    assert await keeper.renew_once() and keeper.valid()
    # No renewal for almost a lease (Redis unreachable, or the event loop stalled): this holder
    # no longer counts on it, while Redis still holds it for this holder and no other can take it.
    clock.advance(ttl - safety_margin(ttl))
    assert not keeper.valid()
    assert await redis_client.pttl(key) > 0
    assert not await RedisLease(redis_client, key, ttl).acquire()


# The key gone from Redis while the lease still had time: lost by the store (what a restart
# without persistence does to it). Gone when it was due to go anyway: it simply expired.
@pytest.mark.parametrize(
    ("gone_after", "vanished"), [(2.0, True), (30.0, False)], ids=["lost", "expired"]
)
async def test_a_lease_the_store_lost_is_told_apart_from_one_that_expired(
    redis_client: aioredis.Redis, key_prefix: str, gone_after: float, vanished: bool
) -> None:
    clock = FakeClock()
    key = f"{key_prefix}lease"
    lease = RedisLease(redis_client, key, 30.0, clock=clock.monotonic)
    assert await lease.acquire() and not lease.vanished
    await redis_client.delete(key)
    clock.advance(gone_after)
    assert await lease.acquire() and lease.vanished is vanished
    assert await lease.acquire() and not lease.vanished


async def test_a_sender_whose_lease_is_not_surely_held_posts_nothing_and_leaves_the_job() -> None:
    store = MemoryWatchStore()
    await store.enqueue([notice("n1", GOOD)])
    checks = iter([True, False])  # valid when the drain starts, no longer by the Slack call
    async with FakeSlackApi() as fake:
        slack = AsyncWebClient(token=TOKEN, base_url=fake.url)
        subs = MemorySubscriptionStore()
        fenced = Notifier(slack, store, subs, may_post=lambda: next(checks, False))
        await fenced.drain()
        assert fake.calls_to("chat.postMessage") == []
        assert [j.id for j in await store.pending()] == ["n1"]
        # Unclaimed: the next holder posts it at once, not after a claim expires.
        await Notifier(slack, store, subs, may_post=lambda: True).drain()
        assert len(fake.calls_to("chat.postMessage")) == 1
    assert await store.pending() == []
