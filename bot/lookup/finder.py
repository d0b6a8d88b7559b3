"""Turns what a person typed (a connection id or a name) into a connection, or a shortlist."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.dli.client import DliClient
from bot.dli.ids import is_id, normalise_id
from bot.dli.models import Connection
from bot.errors import DliError, NotFound
from bot.lookup.cache import ConnectionLookup, Lookup, ProjectRef
from bot.store import KeyValueStore, make_safe

log = logging.getLogger(__name__)

# Keyed by project too: deployments for different projects may share a Redis and a prefix.
_NAME_KEY = "name:v1:{project}:"
_SNAPSHOT_KEY = "snapshot:v1:{project}"


@dataclass(frozen=True)
class Ambiguous:
    """A name that matched several connections (or only partially): the person has to choose."""

    query: str
    matches: Sequence[Connection]
    #: Which project each match belongs to, by lower-case id (empty with a single project).
    project_of: Mapping[str, ProjectRef] = field(default_factory=dict)


@dataclass(frozen=True)
class Snapshot:
    """Every connection of the project as one list call returned it."""

    connections: Sequence[Connection]
    fetched_at: datetime
    request_id: str | None
    project: ProjectRef | None = None


@dataclass(frozen=True)
class NameMatches:
    """What the list API's name filter returned for a name, split by how well it matched."""

    exact: Sequence[Connection]
    partial: Sequence[Connection]
    request_id: str | None


class ConnectionFinder:
    """Ids go through the cached lookup; names are resolved with the list API's name filter.

    A resolved name is remembered (name -> id), so that while DLI is down a name still reaches
    the stale copy of its connection instead of failing outright.
    """

    def __init__(
        self,
        client: DliClient,
        lookup: ConnectionLookup,
        store: KeyValueStore,
        *,
        project_id: str,
        name_ttl: float,
        snapshot_ttl: float,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._client = client
        self._lookup = lookup
        self.project = lookup.project
        self._store = make_safe(store)
        self._name_key = _NAME_KEY.format(project=project_id)
        self._snapshot_key = _SNAPSHOT_KEY.format(project=project_id)
        self._name_ttl = max(name_ttl, 1.0)
        self._snapshot_ttl = snapshot_ttl
        self._clock = clock or (lambda: datetime.now(UTC))

    async def find(self, target: str, *, force: bool = False) -> Lookup | Ambiguous:
        target = target.strip()
        if is_id(target):
            return await self._lookup.lookup(target, force=force)
        return await self._find_by_name(target, force=force)

    async def _find_by_name(self, name: str, *, force: bool) -> Lookup | Ambiguous:
        found = await self.by_name(name, force=force)
        if isinstance(found, Lookup):
            return found
        if found.exact or found.partial:
            return Ambiguous(name, found.exact or found.partial)
        raise NotFound(f"no connection is named {name!r}", request_id=found.request_id)

    async def by_name(self, name: str, *, force: bool = False) -> Lookup | NameMatches:
        """The one connection of that exact name, else every candidate the name filter found.

        While DLI is unreachable, a name resolved before still leads to its cached copy.
        """
        key = self._name_key + name.lower()
        try:
            fetched = await self._client.list_connections(name=name, limit=0)
        except NotFound:
            raise
        except DliError:
            known = await self._store.get(key)
            if known is None:
                raise
            return await self._lookup.lookup(known.decode(), force=force)
        matches = fetched.value.connections
        exact = [c for c in matches if c.name.lower() == name.lower()]
        if len(exact) == 1:
            connection = exact[0]
            await self._store.set(key, normalise_id(connection.id).encode(), ttl=self._name_ttl)
            await self._lookup.remember(connection, fetched.request_id)
            return Lookup(
                connection, "live", self._clock(), fetched.request_id, project=self.project
            )
        partial = [] if exact else list(matches)
        return NameMatches(exact, partial, fetched.request_id)

    async def snapshot(self, *, force: bool = False) -> Snapshot:
        """All connections of the project, from one `limit=0` list call, briefly cached."""
        if not force:
            cached = await self._store.get(self._snapshot_key)
            if cached is not None:
                return _decode_snapshot(cached, self.project)
        fetched = await self._client.list_connections(limit=0)
        snap = Snapshot(fetched.value.connections, self._clock(), fetched.request_id, self.project)
        if self._snapshot_ttl > 0:
            await self._store.set(
                self._snapshot_key, _encode_snapshot(snap), ttl=self._snapshot_ttl
            )
        return snap


def _encode_snapshot(snap: Snapshot) -> bytes:
    return json.dumps(
        {
            "connections": [c.to_api() for c in snap.connections],
            "fetched_at": snap.fetched_at.isoformat(),
            "request_id": snap.request_id,
        }
    ).encode()


def _decode_snapshot(raw: bytes, project: ProjectRef | None) -> Snapshot:
    data = json.loads(raw)
    return Snapshot(
        [Connection.model_validate(c) for c in data["connections"]],
        datetime.fromisoformat(data["fetched_at"]),
        data.get("request_id"),
        project,
    )
