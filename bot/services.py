"""Builds the bot's parts from Settings (real or embedded defaults) and closes them on shutdown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from bot.config import Settings
from bot.dli.auth import AkSkAuth, IamTokenAuth
from bot.dli.client import DliClient
from bot.local.demo import DEMO_ACCESS_KEY, DEMO_PROJECT_ID, DEMO_SECRET_KEY, demo_connections
from bot.local.fake_dli import FakeDli
from bot.lookup.cache import ConnectionLookup
from bot.lookup.finder import ConnectionFinder
from bot.metrics import Metrics
from bot.retry import RetryPolicy
from bot.slack.inflight import InFlight
from bot.store import KeyValueStore, MemoryStore, RedisStore, SafeStore
from bot.watch.backend import WatchBackend, build_watch_backend

log = logging.getLogger(__name__)


@dataclass
class Services:
    """Everything a surface (Slack, console, CLI, watcher) needs, built once per process."""

    settings: Settings
    metrics: Metrics
    store: SafeStore
    dli: DliClient
    lookup: ConnectionLookup
    finder: ConnectionFinder
    watch: WatchBackend
    demo: bool
    # Replies still being composed after an ack: shutdown waits for them.
    inflight: InFlight = field(default_factory=InFlight)
    _closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list, repr=False)

    def on_close(self, close: Callable[[], Awaitable[None]]) -> None:
        """Close something built on top of these services (a Slack session) with them."""
        self._closers.append(close)

    async def aclose(self) -> None:
        await _close_all(self._closers)


async def _close_all(closers: list[Callable[[], Awaitable[None]]]) -> None:
    # Last built, first closed: the client before the demo server it talks to.
    for close in reversed(closers):
        try:
            await close()
        except Exception:  # shutting down: report, keep closing the rest
            log.exception("error while closing %r", close)
    closers.clear()


async def build_services(
    settings: Settings,
    *,
    metrics: Metrics | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    retry: RetryPolicy | None = None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> Services:
    """The one composition root below the Slack app; tests pass their own settings."""
    closers: list[Callable[[], Awaitable[None]]] = []
    try:
        return await _assemble(
            settings, closers, metrics or Metrics(), transport=transport, retry=retry, sleep=sleep
        )
    except BaseException:  # broad, and re-raised: on any failure, cancellation too, close up
        # Half-built: release what did start (the demo server, Redis connections).
        await _close_all(closers)
        raise


async def _assemble(
    settings: Settings,
    closers: list[Callable[[], Awaitable[None]]],
    metrics: Metrics,
    *,
    transport: httpx.AsyncBaseTransport | None,
    retry: RetryPolicy | None,
    sleep: Callable[[float], Awaitable[None]] | None,
) -> Services:
    raw_store: KeyValueStore = (
        RedisStore.from_url(settings.redis_dsn, prefix=settings.dliconn_redis_prefix)
        if settings.redis_dsn
        else MemoryStore()
    )
    store = SafeStore(raw_store)
    closers.append(store.aclose)

    demo = settings.dli_mode == "demo"
    auth: httpx.Auth
    if demo:
        # No credentials: the real client talks to the built-in demo data over real HTTP, so
        # trying the bot exercises the same code paths as production.
        # Without the unsigned test controls: nobody can inject faults into the demo.
        fake = FakeDli(demo_connections(), control_routes=False)
        base_url = await fake.start()
        closers.append(fake.stop)
        auth = AkSkAuth(DEMO_ACCESS_KEY, DEMO_SECRET_KEY, project_id=DEMO_PROJECT_ID)
        log.info("no DLI credentials configured: serving the built-in demo data")
    else:
        base_url = settings.dli_base_url
        auth = _real_auth(settings, store)
        if isinstance(auth, IamTokenAuth):
            closers.append(auth.aclose)

    client = DliClient(
        base_url,
        settings.project_id,
        auth=auth,
        timeout=settings.dliconn_dli_timeout,
        metrics=metrics,
        transport=transport,
        retry=retry or RetryPolicy(),
        sleep=sleep or asyncio.sleep,
    )
    closers.append(client.aclose)
    lookup = ConnectionLookup(
        client,
        store,
        ttl=settings.dliconn_cache_ttl,
        stale_horizon=settings.dliconn_stale_horizon,
        negative_ttl=settings.dliconn_negative_ttl,
        metrics=metrics,
    )
    finder = ConnectionFinder(
        client,
        lookup,
        store,
        project_id=settings.project_id,
        name_ttl=settings.dliconn_stale_horizon,
        snapshot_ttl=settings.dliconn_cache_ttl,
    )
    # Subscriptions and watcher state: in Redis they are shared with the worker process; in
    # memory only a watcher running in this same process sees them.
    watch = build_watch_backend(
        settings.redis_dsn,
        settings.project_id,
        prefix=settings.dliconn_redis_prefix,
        static_channels=settings.watch_all_channels,
        metrics=metrics,
    )
    closers.append(watch.aclose)
    return Services(settings, metrics, store, client, lookup, finder, watch, demo, _closers=closers)


def _real_auth(settings: Settings, store: KeyValueStore) -> httpx.Auth:
    if settings.dli_mode == "aksk":
        assert settings.huaweicloud_sdk_ak and settings.huaweicloud_sdk_sk
        return AkSkAuth(
            settings.huaweicloud_sdk_ak.get_secret_value(),
            settings.huaweicloud_sdk_sk,
            project_id=settings.dli_project_id,
            security_token=settings.huaweicloud_sdk_security_token,
        )
    assert settings.dli_iam_user and settings.dli_iam_password and settings.dli_iam_domain
    return IamTokenAuth(
        settings.iam_base_url,
        user=settings.dli_iam_user,
        password=settings.dli_iam_password,
        domain=settings.dli_iam_domain,
        project_id=settings.dli_project_id or "",
        # Shared through Redis when configured, so replicas do not each log in to IAM.
        store=store,
        timeout=settings.dliconn_dli_timeout,
    )
