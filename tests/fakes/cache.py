"""Fakes around the cache: a scriptable fetcher, a store that can fail, a manual clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError

from bot.dli.models import Connection, Fetched
from bot.errors import DliError, NotFound, StoreUnavailable
from bot.store import KeyValueStore


def connection_payload(connection_id: str, **overrides: Any) -> dict[str, Any]:
    """A show-connection payload as DLI spells it, with a failed queue and an unknown field."""
    payload: dict[str, Any] = {
        "id": connection_id,
        "name": f"conn-{connection_id[:8]}",
        "status": "ACTIVE",
        "available_queue_info": [
            {
                "peer_id": "peer-1",
                "status": "FAILED",
                "name": "etl_queue",
                "err_msg": "route table quota exceeded",
                "update_time": 1_700_000_000_123,
            },
            {"peer_id": "peer-2", "status": "ACTIVE", "name": "adhoc", "err_msg": ""},
        ],
        "elastic_resource_pools": [{"peer_id": "peer-3", "status": "ACTIVE", "name": "pool"}],
        "dest_vpc_id": "vpc-1",
        "dest_network_id": "subnet-1",
        "create_time": 1_690_000_000_456,
        "hosts": [{"name": "db.internal", "ip": "10.0.0.5"}],
        "routes": [{"name": "r1", "cidr": "10.1.0.0/16", "create_time": 1_690_000_001_000}],
        "isPrivis": True,
        "future_field": {"nested": [1, 2]},
    }
    payload.update(overrides)
    return payload


def make_connection(connection_id: str, **overrides: Any) -> Connection:
    return Connection.model_validate(connection_payload(connection_id, **overrides))


class FakeFetcher:
    """A ConnectionFetcher that counts calls, answers from a dict, and can be held at a gate.

    `hold()` makes every call wait until `release()`, so a test decides exactly when DLI answers
    without sleeping; `started` is set as soon as a call is waiting.
    """

    def __init__(self, *connections: Connection) -> None:
        self.connections = {c.id: c for c in connections}
        self.calls: list[str] = []
        self.error: DliError | None = None
        self.started = asyncio.Event()
        self._gate: asyncio.Event | None = None

    def hold(self) -> None:
        self._gate = asyncio.Event()

    def release(self) -> None:
        if self._gate is not None:
            self._gate.set()

    async def get_connection(self, connection_id: str) -> Fetched[Connection]:
        self.calls.append(connection_id)
        self.started.set()
        if self._gate is not None:
            await self._gate.wait()
        if self.error is not None:
            raise self.error
        connection = self.connections.get(connection_id)
        if connection is None:
            raise NotFound(
                f"connection {connection_id} not found",
                status=404,
                code="DLI.0023",
                request_id=f"req-missing-{len(self.calls)}",
            )
        return Fetched(connection, request_id=f"req-{len(self.calls)}")


class FakeClock:
    """Wall clock (aware UTC) and monotonic clock that move only when a test advances them."""

    def __init__(self, start: datetime | None = None) -> None:
        self.wall = start or datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
        self.mono = 1000.0

    def now(self) -> datetime:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.mono += seconds


class FlakyStore:
    """Another store, until `down` is set: then every call fails the way a lost Redis does."""

    def __init__(self, inner: KeyValueStore) -> None:
        self.inner = inner
        self.down = False
        self.calls = 0

    def _check(self) -> None:
        self.calls += 1
        if self.down:
            # What bot.store's Redis stores raise for a lost Redis.
            cause = RedisConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused.")
            raise StoreUnavailable(str(cause)) from cause

    async def get(self, key: str) -> bytes | None:
        self._check()
        return await self.inner.get(key)

    async def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        self._check()
        await self.inner.set(key, value, ttl=ttl)

    async def set_if_absent(self, key: str, value: bytes, *, ttl: float | None = None) -> bool:
        self._check()
        return await self.inner.set_if_absent(key, value, ttl=ttl)

    async def delete(self, key: str) -> None:
        self._check()
        await self.inner.delete(key)

    async def aclose(self) -> None:
        self._check()
        await self.inner.aclose()
