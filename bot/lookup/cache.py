"""Read-through connection cache: TTL, singleflight, stale-if-error, negative cache, Redis-safe."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from pydantic import ValidationError

from bot.dli.ids import normalise_id
from bot.dli.models import Connection, Fetched
from bot.errors import DliError, NotFound
from bot.metrics import Metrics
from bot.store import KeyValueStore, make_safe

log = logging.getLogger(__name__)

Source = Literal["live", "cache", "stale"]

#: Bump when the stored record layout changes, so old replicas' entries are simply never read.
#: The project alias follows: one deployment's projects share a Redis and a prefix.
KEY_NAMESPACE = "conn:v2:"


@dataclass(frozen=True)
class ProjectRef:
    """Which DLI project a connection belongs to, as people see it: its alias and region."""

    alias: str
    region: str | None = None


@dataclass(frozen=True)
class Freshness:
    """Where a copy came from and when: what a card's or a list's context line says of it."""

    source: Source | None
    fetched_at: datetime | None  # when DLI produced this copy (aware, UTC)
    request_id: str | None = None
    #: Set when source == "stale": why DLI could not be asked (a DliError kind).
    stale_reason: str | None = None


@dataclass(frozen=True)
class Lookup:
    """A connection plus where it came from, so every surface can say how fresh it is."""

    connection: Connection
    source: Source
    fetched_at: datetime  # when DLI produced this copy (aware, UTC)
    request_id: str | None = None
    #: Set when source == "stale": why DLI could not be asked (a DliError kind, put in words
    #: in the reader's language where it is shown).
    stale_reason: str | None = None
    project: ProjectRef | None = None

    def age(self, now: datetime) -> timedelta:
        return now - self.fetched_at

    @property
    def freshness(self) -> Freshness:
        return Freshness(self.source, self.fetched_at, self.request_id, self.stale_reason)


class ConnectionFetcher(Protocol):
    """What the cache needs from the DLI client."""

    async def get_connection(self, connection_id: str) -> Fetched[Connection]: ...


@dataclass(frozen=True)
class _Missing:
    """A remembered "no such connection", replayed as the same NotFound until it expires."""

    at: datetime
    message: str
    status: int | None
    code: str | None
    request_id: str | None

    def error(self) -> NotFound:
        return NotFound(
            self.message, status=self.status, code=self.code, request_id=self.request_id
        )


class ConnectionLookup:
    """The one way every surface gets a connection: cached, shared, and resilient to DLI outages.

    - A copy younger than `ttl` is served from the store ("cache"); otherwise DLI is asked ("live").
    - Concurrent lookups of one id in this process share one DLI call, its result or its error.
    - When DLI is unavailable or throttling, the last good copy is served ("stale") if it is
      younger than `stale_horizon`. Auth, permission and bad-response errors always surface:
      a stale card would hide a problem an operator has to fix.
    - NotFound is remembered for `negative_ttl`, so a mistyped id is not a DLI call per retry.
    - `force=True` skips the cached answers (Refresh button) but still shares calls and still
      falls back to a stale copy.
    - A store failure is a miss: `lookup` only ever raises DliError subclasses.

    Positive and negative answers live under one key per id, so a NotFound also retires the last
    good copy (a deleted connection is never served stale).
    """

    def __init__(
        self,
        fetcher: ConnectionFetcher,
        store: KeyValueStore,
        *,
        ttl: float,
        stale_horizon: float,
        negative_ttl: float,
        clock: Callable[[], datetime] | None = None,
        metrics: Metrics | None = None,
        project: ProjectRef | None = None,
    ) -> None:
        self.project = project
        self._namespace = f"{KEY_NAMESPACE}{project.alias if project else '-'}:"
        self._fetcher = fetcher
        self._store = make_safe(store)
        self._ttl = timedelta(seconds=ttl)
        self._stale_horizon = timedelta(seconds=stale_horizon)
        self._negative_ttl = timedelta(seconds=negative_ttl)
        # Kept long enough to be served stale after it stops being fresh.
        self._keep_seconds = ttl + stale_horizon
        self._clock = clock or _utc_now
        self._metrics = metrics
        self._inflight: dict[str, asyncio.Task[Lookup]] = {}
        self._waiters: dict[str, int] = {}

    async def lookup(self, connection_id: str, *, force: bool = False) -> Lookup:
        key = normalise_id(connection_id)
        if not key:
            # An empty id would address DLI's list endpoint, not a connection.
            raise NotFound("a connection id is required")
        if not force:
            entry = await self._read(key)
            now = self._clock()
            if isinstance(entry, _Missing) and now - entry.at < self._negative_ttl:
                raise entry.error()
            if isinstance(entry, Lookup) and entry.age(now) < self._ttl:
                return self._counted(entry)
        return self._counted(await self._shared_refresh(key))

    def cache_key(self, connection_id: str) -> str:
        """The store key of one connection's entry (under the store's own prefix)."""
        return self._namespace + normalise_id(connection_id)

    async def remember(self, connection: Connection, request_id: str | None = None) -> None:
        """Seed the cache with a copy DLI just returned by other means (a list call)."""
        fetched = Lookup(connection, "live", self._clock(), request_id, project=self.project)
        await self._write_found(normalise_id(connection.id), fetched)

    async def _shared_refresh(self, key: str) -> Lookup:
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.create_task(self._refresh(key), name=f"dliconn-lookup-{key}")
            self._inflight[key] = task
            task.add_done_callback(self._forget_flight(key))
        # Shielded: one caller giving up (a Slack handler's timeout, or a lookup across
        # projects that another project already answered) must not cancel the call the other
        # callers are waiting on. When the last one gives up, nobody wants the answer: the DLI
        # call is cancelled too.
        self._waiters[key] = self._waiters.get(key, 0) + 1
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if self._waiters.get(key) == 1 and not task.done():
                task.cancel()
            raise
        finally:
            left = self._waiters.get(key, 1) - 1
            if left:
                self._waiters[key] = left
            else:
                self._waiters.pop(key, None)

    def _forget_flight(self, key: str) -> Callable[[asyncio.Task[Lookup]], None]:
        def forget(task: asyncio.Task[Lookup]) -> None:
            if self._inflight.get(key) is task:
                del self._inflight[key]
            if not task.cancelled():
                # Marks the error as seen even when every waiter was cancelled, so asyncio
                # does not report it as "never retrieved".
                task.exception()

        return forget

    async def _refresh(self, key: str) -> Lookup:
        try:
            fetched = await self._fetcher.get_connection(key)
        except NotFound as exc:
            await self._write_missing(key, exc)
            raise
        except DliError as exc:
            stale = await self._stale_copy(key, exc)
            if stale is None:
                raise
            return stale
        result = Lookup(
            fetched.value, "live", self._clock(), fetched.request_id, project=self.project
        )
        await self._write_found(key, result)
        return result

    async def _stale_copy(self, key: str, exc: DliError) -> Lookup | None:
        # Throttled and Unavailable are exactly the errors that say "ask again later".
        if not exc.retryable:
            return None
        entry = await self._read(key)
        if not isinstance(entry, Lookup) or entry.age(self._clock()) >= self._stale_horizon:
            return None
        log.info("serving stale copy of connection %s: DLI %s (%s)", key, exc.kind, exc)
        return Lookup(
            entry.connection, "stale", entry.fetched_at, entry.request_id, exc.kind, self.project
        )

    def _counted(self, result: Lookup) -> Lookup:
        if self._metrics is not None:
            self._metrics.lookups.labels(result.source).inc()
        return result

    async def _read(self, key: str) -> Lookup | _Missing | None:
        raw = await self._store.get(self._namespace + key)
        if raw is None:
            return None
        try:
            return _decode(raw, self.project)
        except (ValueError, KeyError, TypeError, AttributeError, ValidationError) as exc:
            # Unreadable (another version, corruption): a miss; the next live answer overwrites it.
            log.warning("ignoring unreadable cache entry for %s: %s", key, type(exc).__name__)
            return None

    async def _write_found(self, key: str, found: Lookup) -> None:
        if self._keep_seconds <= 0:
            return
        record = {
            "connection": found.connection.to_api(),
            "fetched_at": found.fetched_at.isoformat(),
            "request_id": found.request_id,
        }
        await self._store.set(self._namespace + key, _encode(record), ttl=self._keep_seconds)

    async def _write_missing(self, key: str, exc: NotFound) -> None:
        seconds = self._negative_ttl.total_seconds()
        if seconds <= 0:
            return
        record = {
            "missing": True,
            "at": self._clock().isoformat(),
            "message": exc.message,
            "status": exc.status,
            "code": exc.code,
            "request_id": exc.request_id,
        }
        await self._store.set(self._namespace + key, _encode(record), ttl=seconds)


def _encode(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":")).encode()


def _decode(raw: bytes, project: ProjectRef | None) -> Lookup | _Missing:
    record = json.loads(raw)
    if record.get("missing"):
        return _Missing(
            at=datetime.fromisoformat(record["at"]),
            message=record["message"],
            status=record["status"],
            code=record["code"],
            request_id=record["request_id"],
        )
    return Lookup(
        connection=Connection.model_validate(record["connection"]),
        source="cache",
        fetched_at=datetime.fromisoformat(record["fetched_at"]),
        request_id=record["request_id"],
        project=project,
    )


def _utc_now() -> datetime:
    return datetime.now(UTC)
