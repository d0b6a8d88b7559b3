"""Builds the bot's parts from Settings and the deployment (real or embedded defaults) and closes
them on shutdown: one DLI client, cached lookup, finder and watcher state per project."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import httpx

from bot.audit import AuditLog, MemoryAuditStore, RedisAuditStore
from bot.config import Deployment, ProjectConfig, Settings, load_deployment
from bot.dli.auth import AkSkAuth, IamTokenAuth
from bot.dli.client import DliClient
from bot.local.demo import DEMO_ACCESS_KEY, DEMO_PROJECT_ID, DEMO_SECRET_KEY, demo_connections
from bot.local.fake_dli import FakeDli
from bot.lookup.cache import ConnectionLookup, ProjectRef
from bot.lookup.finder import ConnectionFinder
from bot.lookup.projects import Directory, ProjectLookups
from bot.metrics import Metrics
from bot.retry import RetryPolicy
from bot.slack.inflight import InFlight
from bot.store import KeyValueStore, MemoryStore, RedisStore, SafeStore, redis_client
from bot.watch.backend import WatchBackend, build_watch_backends
from bot.watch.routes import ProjectRoutes, ProjectSubscriptions, TagSet, tag_set
from bot.watch.subscriptions import SubscriptionStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class ProjectServices(ProjectLookups):
    """One DLI project's parts: its read side (cached lookup and finder), its client, its
    configuration and its watcher state."""

    config: ProjectConfig
    dli: DliClient
    watch: WatchBackend
    demo: bool


@dataclass(frozen=True)
class _Build:
    """What every part is built from, and where each registers how it is closed."""

    settings: Settings
    metrics: Metrics
    closers: list[Callable[[], Awaitable[None]]]
    transport: httpx.AsyncBaseTransport | None
    retry: RetryPolicy | None
    sleep: Callable[[float], Awaitable[None]] | None


@dataclass
class Services:
    """Everything a surface (Slack, console, CLI, watcher) needs, built once per process."""

    settings: Settings
    deployment: Deployment
    metrics: Metrics
    store: SafeStore
    projects: tuple[ProjectServices, ...]
    directory: Directory
    # Replies still being composed after an ack: shutdown waits for them.
    inflight: InFlight = field(default_factory=InFlight)
    #: The trail of changes guarded verbs made (Redis stream, or memory without Redis).
    audit: AuditLog = field(default_factory=lambda: AuditLog(MemoryAuditStore()))
    #: How this process waits (DLI retries, connectivity-test polls); tests pass one that does not.
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    _closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list, repr=False)

    @property
    def main(self) -> ProjectServices:
        """The first project's parts: the only ones of a single-project deployment."""
        return self.projects[0]

    @property
    def demo(self) -> bool:
        return all(p.demo for p in self.projects)

    @property
    def subscriptions(self) -> SubscriptionStore:
        """The one store of every project's `/dliconn watch` subscriptions."""
        view = self.main.watch.subscriptions
        return view.shared if isinstance(view, ProjectSubscriptions) else view

    def project(self, alias: str) -> ProjectServices | None:
        return next((p for p in self.projects if p.alias == alias), None)

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
        except Exception:  # broad: shutting down, report and keep closing the rest
            log.exception("error while closing %r", close)
    closers.clear()


async def build_services(
    settings: Settings,
    *,
    deployment: Deployment | None = None,
    metrics: Metrics | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    retry: RetryPolicy | None = None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> Services:
    """The one composition root below the Slack app; tests pass their own settings."""
    closers: list[Callable[[], Awaitable[None]]] = []
    build = _Build(settings, metrics or Metrics(), closers, transport, retry, sleep)
    try:
        return await _assemble(build, deployment or load_deployment(settings))
    except BaseException:  # broad, and re-raised: on any failure, cancellation too, close up
        # Half-built: release what did start (the demo server, Redis connections).
        await _close_all(closers)
        raise


async def _assemble(build: _Build, deployment: Deployment) -> Services:
    settings, metrics, closers = build.settings, build.metrics, build.closers
    raw_store: KeyValueStore = (
        RedisStore.from_url(settings.redis_dsn, prefix=settings.dliconn_redis_prefix)
        if settings.redis_dsn
        else MemoryStore()
    )
    store = SafeStore(raw_store)
    closers.append(store.aclose)
    audit_store = (
        RedisAuditStore(
            redis_client(settings.redis_dsn), prefix=settings.dliconn_redis_prefix, owns_client=True
        )
        if settings.redis_dsn
        else MemoryAuditStore()
    )
    closers.append(audit_store.aclose)
    # Subscriptions and watcher state: in Redis they are shared with the worker process; in
    # memory only a watcher running in this same process sees them. Subscriptions are one
    # store for every project (ids are unique); each project has its own watcher state.
    backends = build_watch_backends(
        settings.redis_dsn,
        [(p.project_id, project_routes(deployment, p.alias)) for p in deployment.projects],
        prefix=settings.dliconn_redis_prefix,
        metrics=metrics,
    )
    closers.append(backends[0].aclose)
    projects = []
    for config, watch in zip(deployment.projects, backends, strict=True):
        client = await _client(build, config, store)
        ref = ProjectRef(config.alias, config.region)
        lookup = ConnectionLookup(
            client,
            store,
            ttl=settings.dliconn_cache_ttl,
            stale_horizon=settings.dliconn_stale_horizon,
            negative_ttl=settings.dliconn_negative_ttl,
            metrics=metrics,
            project=ref,
        )
        finder = ConnectionFinder(
            client,
            lookup,
            store,
            project_id=config.project_id,
            name_ttl=settings.dliconn_stale_horizon,
            snapshot_ttl=settings.dliconn_cache_ttl,
        )
        project = ProjectServices(
            ref=ref, lookup=lookup, finder=finder, config=config, dli=client, watch=watch,
            demo=config.mode == "demo",
        )  # fmt: skip
        projects.append(project)
    return assemble(
        settings, deployment, metrics, store, projects, closers=closers,
        audit=AuditLog(audit_store), sleep=build.sleep,
    )  # fmt: skip


def assemble(
    settings: Settings,
    deployment: Deployment,
    metrics: Metrics,
    store: SafeStore,
    projects: Sequence[ProjectServices],
    *,
    closers: list[Callable[[], Awaitable[None]]] | None = None,
    audit: AuditLog | None = None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> Services:
    """Services over parts already built (`build_services`, or a test's own)."""
    directory = Directory(projects, store)
    return Services(
        settings, deployment, metrics, store, tuple(projects), directory,
        audit=audit or AuditLog(MemoryAuditStore()), sleep=sleep or asyncio.sleep,
        _closers=closers or [],
    )  # fmt: skip


async def _client(build: _Build, config: ProjectConfig, store: KeyValueStore) -> DliClient:
    settings, closers = build.settings, build.closers
    auth: httpx.Auth
    if config.mode == "demo":
        # No credentials: the real client talks to the built-in demo data over real HTTP, so
        # trying the bot exercises the same code paths as production.
        # Without the unsigned test controls: nobody can inject faults into the demo.
        fake = FakeDli(demo_connections(), control_routes=False)
        base_url = await fake.start()
        closers.append(fake.stop)
        auth = AkSkAuth(DEMO_ACCESS_KEY, DEMO_SECRET_KEY, project_id=DEMO_PROJECT_ID)
        log.info("project %s has no DLI credentials: serving the built-in demo data", config.alias)
    else:
        base_url = config.base_url
        auth = _real_auth(config, store, timeout=settings.dliconn_dli_timeout)
        if isinstance(auth, IamTokenAuth):
            closers.append(auth.aclose)
    client = DliClient(
        base_url,
        config.project_id,
        auth=auth,
        timeout=settings.dliconn_dli_timeout,
        metrics=build.metrics,
        transport=build.transport,
        retry=build.retry or RetryPolicy(),
        sleep=build.sleep or asyncio.sleep,
    )
    closers.append(client.aclose)
    return client


def _real_auth(config: ProjectConfig, store: KeyValueStore, *, timeout: float) -> httpx.Auth:
    if config.mode == "aksk":
        assert config.ak and config.sk
        return AkSkAuth(
            config.ak,
            config.sk,
            project_id=config.project_id,
            security_token=config.security_token,
        )
    assert config.iam_user and config.iam_password and config.iam_domain
    return IamTokenAuth(
        config.iam_base_url,
        user=config.iam_user,
        password=config.iam_password,
        domain=config.iam_domain,
        project_id=config.project_id,
        # Shared through Redis when configured, so replicas do not each log in to IAM.
        store=store,
        timeout=timeout,
    )


def project_routes(deployment: Deployment, alias: str) -> ProjectRoutes:
    """What the configuration says about alerts for one project's connections."""
    watch_all, hidden = set(), set()
    by_tags: dict[TagSet, set[str]] = {}
    for channel, rules in deployment.channels.items():
        if alias not in deployment.visible_projects(channel):
            hidden.add(channel)
            continue
        if rules.watch_all:
            watch_all.add(channel)
        if rules.watch_tags:
            by_tags.setdefault(tag_set(rules.watch_tags), set()).add(channel)
    return ProjectRoutes(
        alias,
        watch_all=frozenset(watch_all),
        by_tags={tags: frozenset(channels) for tags, channels in by_tags.items()},
        hidden_from=frozenset(hidden),
    )
