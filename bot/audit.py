"""The audit trail of changes guarded verbs make: one entry per change, in Redis (a stream per
channel, kept 90 days) or in memory, and one structured log line each."""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Final, Protocol

import redis.asyncio as aioredis

from bot.config import Verb
from bot.errors import StoreUnavailable
from bot.store import redis_backed

log = logging.getLogger(__name__)

KEEP_SECONDS: Final = 90 * 86400
#: A bound on one channel's trail in memory (Redis trims by age only).
MEMORY_MAX_ENTRIES: Final = 10_000
_KEY: Final = "audit:"


@dataclass(frozen=True)
class AuditEntry:
    """Who did what, where, to which connection of which project, with what result, when."""

    at: float  # Unix seconds
    user: str
    channel: str
    verb: Verb
    action: str  # "watch", "unwatch", "mute 4 h", "ack", "test"
    connection: str  # the id, or the target as typed when it named nothing
    project: str | None
    result: str  # "ok", "unchanged: …", or why it failed ("not_found", "store_unavailable", …)

    @property
    def when(self) -> datetime:
        return datetime.fromtimestamp(self.at, UTC)

    def fields(self) -> dict[str, str]:
        return {k: "" if v is None else str(v) for k, v in asdict(self).items()}

    @classmethod
    def from_fields(cls, raw: dict[str, str]) -> AuditEntry:
        verb = raw.get("verb", "watch")
        return cls(
            at=float(raw.get("at") or 0),
            user=raw.get("user", ""),
            channel=raw.get("channel", ""),
            verb=verb if verb in _VERBS else "watch",  # type: ignore[arg-type]
            action=raw.get("action", ""),
            connection=raw.get("connection", ""),
            project=raw.get("project") or None,
            result=raw.get("result", ""),
        )


_VERBS: Final = frozenset({"watch", "mute", "ack", "test"})


class AuditStore(Protocol):
    async def add(self, entry: AuditEntry) -> None: ...

    async def recent(self, channel: str, count: int) -> list[AuditEntry]:
        """The channel's last `count` entries, newest first."""
        ...

    async def aclose(self) -> None: ...


class MemoryAuditStore:
    """One process's trail (no REDIS_URL): each channel's entries, aged out after 90 days."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._by_channel: dict[str, deque[AuditEntry]] = {}

    async def add(self, entry: AuditEntry) -> None:
        trail = self._by_channel.setdefault(entry.channel, deque(maxlen=MEMORY_MAX_ENTRIES))
        trail.append(entry)
        oldest = self._clock() - KEEP_SECONDS
        while trail and trail[0].at < oldest:
            trail.popleft()

    async def recent(self, channel: str, count: int) -> list[AuditEntry]:
        oldest = self._clock() - KEEP_SECONDS
        trail = [e for e in self._by_channel.get(channel, ()) if e.at >= oldest]
        return trail[::-1][:count]

    async def aclose(self) -> None:
        self._by_channel.clear()


@redis_backed
class RedisAuditStore:
    """A Redis stream per channel, trimmed (MINID) to 90 days on every write; a channel whose
    trail stops growing expires with its last entry."""

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str = "dliconn:",
        owns_client: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._owns_client = owns_client
        self._clock = clock

    def _key(self, channel: str) -> str:
        return f"{self._prefix}{_KEY}{channel}"

    async def add(self, entry: AuditEntry) -> None:
        key = self._key(entry.channel)
        oldest_ms = int((self._clock() - KEEP_SECONDS) * 1000)
        async with self._client.pipeline(transaction=True) as pipe:
            # Exact trimming: a trail grows by people's clicks, so its cost is nothing, and an
            # approximate trim would keep a small stream's old entries forever.
            pipe.xadd(key, entry.fields(), minid=oldest_ms, approximate=False)  # type: ignore[arg-type]
            pipe.expire(key, KEEP_SECONDS)
            await pipe.execute()

    async def recent(self, channel: str, count: int) -> list[AuditEntry]:
        rows = await self._client.xrevrange(self._key(channel), count=count) or []
        oldest = self._clock() - KEEP_SECONDS
        entries = [AuditEntry.from_fields(_decoded(fields or {})) for _, fields in rows]
        # MINID trimming is approximate: an entry past 90 days may linger; never show it.
        return [e for e in entries if e.at >= oldest]

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()


def _decoded(fields: dict[bytes | str, bytes | str]) -> dict[str, str]:
    def text(value: bytes | str) -> str:
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else value

    return {text(k): text(v) for k, v in fields.items()}


@dataclass(frozen=True)
class AuditLog:
    """Records an entry twice: one structured log line (always), then the store (best effort:
    the change is already made, and the log line still tells it)."""

    store: AuditStore

    async def record(self, entry: AuditEntry) -> None:
        log.info("audit %s", json.dumps(asdict(entry), sort_keys=True, ensure_ascii=False))
        try:
            await self.store.add(entry)
        except StoreUnavailable as exc:
            log.warning("audit entry not stored (storage unavailable): %s", exc)

    async def recent(self, channel: str, count: int) -> list[AuditEntry]:
        return await self.store.recent(channel, count)
