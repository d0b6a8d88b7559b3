"""The watcher's durable state and outbox (Redis or memory), committed atomically together.

Exactly-once design:

* A cycle loads the last seen state with its version, computes transitions, and commits the new
  state, the incidents and the outbox jobs in ONE MULTI/EXEC that WATCHes the version and the
  lease. When another replica committed meanwhile, or the lease changed hands, EXEC fails and
  nothing is written: the next cycle recomputes from the winner's state. So a transition is
  either fully recorded with its jobs or not at all, whatever moment a watcher is killed.
* Job ids derive from the state (event ids), and the sender claims a job (SET NX PX) before
  sending it. After Slack accepts a post, the posted ts is recorded and the job deleted in one
  MULTI/EXEC.
* What remains can post a job twice, because Slack offers no idempotency key for
  chat.postMessage: a watcher killed after Slack accepted a post but before that record (a few
  milliseconds), or Redis unreachable for longer than the sender retries the record (about
  3 s), leaves the job in the outbox, and it is posted again once its claim expires. So does a
  post whose answer was lost (a timeout or dropped connection after Slack accepted it), which
  the sender retries like any transport error.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import redis.asyncio as aioredis
from pydantic import ValidationError
from redis.exceptions import WatchError
from redis.typing import EncodableT, FieldT

from bot.store import redis_backed
from bot.watch.epoch import Epoch
from bot.watch.history import (
    HISTORY_TTL,
    HistoryEntry,
    HistoryPage,
    HistoryRecord,
    Tallied,
    Tally,
    read_record,
    stored_fields,
    window_totals,
)
from bot.watch.jobs import Job
from bot.watch.lease import Lease, MemoryLease, RedisLease
from bot.watch.transitions import ConnState, Incident, Meta

log = logging.getLogger(__name__)

STATE_KEYS: Final = "watch:v1:"
#: How long incidents, their alert ts and acknowledgements are kept after their last change.
RECORD_TTL: Final = 30 * 86400.0
#: The most history entries the memory store keeps per connection (one process, no Redis).
MEMORY_HISTORY_MAX: Final = 10_000
_STREAM_ID = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")


@dataclass(frozen=True)
class Snapshot:
    states: dict[str, ConnState]
    meta: Meta
    version: int
    epoch: Epoch | None = None  # None: no state was ever recorded, or the store lost it


@dataclass(frozen=True)
class Commit:
    """Everything one cycle writes, applied all or nothing on top of `base_version`."""

    base_version: int
    meta: Meta
    states: dict[str, ConnState] = field(default_factory=dict)  # new or changed
    removed: frozenset[str] = frozenset()
    incidents: dict[str, Incident] = field(default_factory=dict)
    jobs: Sequence[Job] = ()
    epoch: Epoch | None = None  # a new epoch to record with this state (after a reset)
    history: Sequence[Tallied] = ()  # appended to each connection's history log


@dataclass(frozen=True)
class Mute:
    until: float  # epoch seconds
    user: str


class WatchStore(Protocol):
    def lease(self, ttl: float) -> Lease: ...

    async def load(self) -> Snapshot: ...

    async def epoch(self) -> Epoch | None:
        """The epoch of the stored state (see bot.watch.epoch); None: none recorded."""
        ...

    async def begin_epoch(self, epoch: Epoch) -> Epoch:
        """Record `epoch` unless one is recorded already; the one recorded now."""
        ...

    async def commit(self, commit: Commit, *, lease_token: str | None) -> bool:
        """Apply `commit` if nothing else committed since its base and the lease is still
        `lease_token`'s (None: no lease check); False when it was not applied."""
        ...

    async def enqueue(self, jobs: Sequence[Job]) -> None: ...

    async def pending(self, limit: int = 500) -> list[Job]:
        """Outbox jobs, oldest first."""
        ...

    async def claim(self, job_id: str, token: str, ttl: float) -> bool: ...

    async def finish(self, job: Job, *, posted_ts: str | None = None) -> None:
        """Remove a handled job; for an alert, record where it was posted in the same step."""
        ...

    async def retry_later(self, job: Job) -> None:
        """Store the job's new attempts/not_before and let it be claimed again."""
        ...

    async def drop_channel(self, channel: str) -> int: ...

    async def incident(self, incident_id: str) -> Incident | None: ...

    async def alert_ts(self, incident_id: str, channel: str) -> str | None: ...

    async def mute(self, connection_id: str, channel: str, until: float, user: str) -> None: ...

    async def unmute(self, connection_id: str, channel: str) -> None: ...

    async def mutes(self, now: float) -> dict[tuple[str, str], Mute]:
        """Unexpired mutes by (connection id, channel)."""
        ...

    async def acknowledge(self, connection_id: str, channel: str, user: str) -> list[str]:
        """Record `user` on the open alerts of the connection in the channel and queue their
        update; returns the incident ids acknowledged (none: nothing open there)."""
        ...

    async def acknowledged_by(self, incident_id: str, channel: str) -> str | None: ...

    async def history(
        self, connection_id: str, *, since: float, before: str | None = None, limit: int = 20
    ) -> HistoryPage:
        """Up to `limit` of the connection's history entries from `since` (epoch seconds) on,
        newest first, older than the entry `before` (a record id; None: from the newest), with
        the totals of the whole window and the connection's last seen state."""
        ...

    async def aclose(self) -> None: ...


def _ack_jobs(incident_ids: Sequence[str], channel: str, nonce: str) -> list[Job]:
    # Unique ids: an acknowledgement arriving while an earlier update is being sent must still
    # produce an update of its own (edits are idempotent, so a second one is harmless).
    return [
        Job(id=f"ack:{nonce}:{i}:{channel}", channel=channel, kind="refresh", incident_id=i)
        for i in incident_ids
    ]


class MemoryWatchStore:
    """One process, no REDIS_URL: the same semantics in dicts (no awaits inside a commit)."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._states: dict[str, ConnState] = {}
        self._meta = Meta()
        self._version = 0
        self._leases: dict[str, tuple[str, float]] = {}
        self._jobs: dict[str, Job] = {}
        self._claims: dict[str, tuple[str, float]] = {}
        self._incidents: dict[str, Incident] = {}
        self._alerts: dict[tuple[str, str], str] = {}
        self._acks: dict[tuple[str, str], str] = {}
        self._mutes: dict[tuple[str, str], Mute] = {}
        self._nonce = 0
        self._epoch: Epoch | None = None
        self._history: defaultdict[str, list[HistoryRecord]] = defaultdict(list)

    def lease(self, ttl: float) -> MemoryLease:
        return MemoryLease(self._leases, "lease", ttl, clock=self._clock)

    async def load(self) -> Snapshot:
        return Snapshot(dict(self._states), self._meta, self._version, self._epoch)

    async def epoch(self) -> Epoch | None:
        return self._epoch

    async def begin_epoch(self, epoch: Epoch) -> Epoch:
        if self._epoch is None:
            self._epoch = epoch
        return self._epoch

    async def commit(self, commit: Commit, *, lease_token: str | None) -> bool:
        if commit.base_version != self._version:
            return False
        if lease_token is not None and self._lease_holder() != lease_token:
            return False
        self._version += 1
        self._states.update(commit.states)
        for connection_id in commit.removed:
            self._states.pop(connection_id, None)
        self._meta = commit.meta
        if commit.epoch is not None:
            self._epoch = commit.epoch
        self._incidents.update(commit.incidents)
        self._add(commit.jobs)
        for entry, tally in commit.history:
            self._append(entry, tally)
        return True

    def _append(self, entry: HistoryEntry, tally: Tally) -> None:
        """Onto the connection's log, with an id that grows (ms-seq, as a Redis stream's), and
        only the last 30 days and MEMORY_HISTORY_MAX entries kept."""
        kept = self._history[entry.connection_id]
        ms, seq = round(entry.at * 1000), 0
        if kept:
            last_ms, last_seq = _id_parts(kept[-1].id)
            if ms <= last_ms:
                ms, seq = last_ms, last_seq + 1
        kept.append(HistoryRecord(f"{ms}-{seq}", entry, tally))
        horizon = entry.at - HISTORY_TTL
        drop = 0
        while drop < len(kept) and (
            len(kept) - drop > MEMORY_HISTORY_MAX or kept[drop].entry.at < horizon
        ):
            drop += 1
        if drop:
            del kept[:drop]

    async def history(
        self, connection_id: str, *, since: float, before: str | None = None, limit: int = 20
    ) -> HistoryPage:
        start = (round(since * 1000), 0)
        window = [r for r in self._history.get(connection_id, ()) if _id_parts(r.id) >= start]
        end = _cursor(before)
        older = [r for r in reversed(window) if end is None or _id_parts(r.id) < end]
        return HistoryPage(
            older[:limit],
            len(older) > limit,
            window_totals(window[-1] if window else None, window[0] if window else None),
            self._states.get(connection_id),
            self._version > 0,
            since,
        )

    def _lease_holder(self) -> str | None:
        entry = self._leases.get("lease")
        return entry[0] if entry and entry[1] > self._clock() else None

    def _add(self, jobs: Sequence[Job]) -> None:
        for job in jobs:
            self._jobs.setdefault(job.id, job)

    async def enqueue(self, jobs: Sequence[Job]) -> None:
        self._add(jobs)

    async def pending(self, limit: int = 500) -> list[Job]:
        return list(self._jobs.values())[:limit]

    async def claim(self, job_id: str, token: str, ttl: float) -> bool:
        held = self._claims.get(job_id)
        if held is not None and held[1] > self._clock():
            return False
        self._claims[job_id] = (token, self._clock() + ttl)
        return True

    async def finish(self, job: Job, *, posted_ts: str | None = None) -> None:
        if posted_ts is not None and job.kind == "alert":
            self._alerts[(job.incident_id, job.channel)] = posted_ts
        self._jobs.pop(job.id, None)
        self._claims.pop(job.id, None)

    async def retry_later(self, job: Job) -> None:
        if job.id in self._jobs:
            self._jobs[job.id] = job
        self._claims.pop(job.id, None)

    async def drop_channel(self, channel: str) -> int:
        doomed = [i for i, job in self._jobs.items() if job.channel == channel]
        for job_id in doomed:
            del self._jobs[job_id]
        return len(doomed)

    async def incident(self, incident_id: str) -> Incident | None:
        return self._incidents.get(incident_id)

    async def alert_ts(self, incident_id: str, channel: str) -> str | None:
        return self._alerts.get((incident_id, channel))

    async def mute(self, connection_id: str, channel: str, until: float, user: str) -> None:
        self._mutes[(connection_id, channel)] = Mute(until, user)

    async def unmute(self, connection_id: str, channel: str) -> None:
        self._mutes.pop((connection_id, channel), None)

    async def mutes(self, now: float) -> dict[tuple[str, str], Mute]:
        return {key: mute for key, mute in self._mutes.items() if mute.until > now}

    async def acknowledge(self, connection_id: str, channel: str, user: str) -> list[str]:
        state = self._states.get(connection_id)
        open_ids = list(state.incidents) if state else []
        acked = [i for i in open_ids if (i, channel) in self._alerts]
        for incident_id in acked:
            self._acks[(incident_id, channel)] = user
        self._nonce += 1
        self._add(_ack_jobs(acked, channel, str(self._nonce)))
        return acked

    async def acknowledged_by(self, incident_id: str, channel: str) -> str | None:
        return self._acks.get((incident_id, channel))

    async def aclose(self) -> None:
        return None


@dataclass(frozen=True)
class _Held:
    """The snapshot a store last loaded or committed, and the version and stamp it had."""

    snapshot: Snapshot
    stamp: str | None


@redis_backed
class RedisWatchStore:
    """Keys under `<prefix>watch:v1:<project>:` — state (hash id -> ConnState), meta, version,
    stamp (who committed that version), epoch, lease, jobs (hash id -> Job), outbox (zset id by
    sequence), seq, claim:<job>, incident:<id>, alerts:<incident> (hash channel -> ts),
    acks:<incident>, mutes, hist:<connection> (a stream: its history, bot.watch.history).

    The snapshot last loaded or committed is kept: `load` reads it again only when the version
    and stamp in Redis are no longer the ones it had (another replica committed, or Redis lost
    writes and someone committed the same version number again). The stamp names this store and
    the version, so no other writer can leave an equal one. `bulk` (default: `client`) reads
    the whole state: its replies are large, so it may need a longer timeout.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        project_id: str,
        *,
        prefix: str = "dliconn:",
        record_ttl: float = RECORD_TTL,
        bulk: aioredis.Redis | None = None,
    ) -> None:
        self._redis = client
        self._bulk = bulk or client
        self._base = f"{prefix}{STATE_KEYS}{project_id}:"
        self._record_ttl_ms = round(record_ttl * 1000)
        self._writer = uuid.uuid4().hex
        self._held: _Held | None = None

    def _key(self, name: str) -> str:
        return self._base + name

    def lease(self, ttl: float) -> RedisLease:
        return RedisLease(self._redis, self._key("lease"), ttl)

    async def load(self) -> Snapshot:
        held = self._held
        if held is not None:
            version, stamp, epoch = await self._redis.mget(
                self._key("version"), self._key("stamp"), self._key("epoch")
            )
            if int(version or 0) == held.snapshot.version and _maybe_text(stamp) == held.stamp:
                return _copy(held.snapshot, _epoch(epoch))
        async with self._bulk.pipeline(transaction=True) as pipe:
            pipe.hgetall(self._key("state"))
            pipe.get(self._key("meta"))
            pipe.get(self._key("version"))
            pipe.get(self._key("stamp"))
            pipe.get(self._key("epoch"))
            raw_states, raw_meta, raw_version, stamp, epoch = await pipe.execute()
        states = {_text(k): ConnState.model_validate_json(v) for k, v in raw_states.items()}
        meta = Meta.model_validate_json(raw_meta) if raw_meta else Meta()
        snapshot = Snapshot(states, meta, int(raw_version or 0))
        self._held = _Held(snapshot, _maybe_text(stamp))
        return _copy(snapshot, _epoch(epoch))

    async def epoch(self) -> Epoch | None:
        return _epoch(await self._redis.get(self._key("epoch")))

    async def begin_epoch(self, epoch: Epoch) -> Epoch:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._key("epoch"), epoch.model_dump_json(), nx=True)
            pipe.get(self._key("epoch"))
            _, recorded = await pipe.execute()
        return _epoch(recorded) or epoch

    async def commit(self, commit: Commit, *, lease_token: str | None) -> bool:
        first = await self._sequence(len(commit.jobs))
        version_key, lease_key = self._key("version"), self._key("lease")
        async with self._redis.pipeline(transaction=True) as pipe:
            await pipe.watch(version_key, lease_key, self._key("epoch"))
            version, base_stamp = await pipe.mget(version_key, self._key("stamp"))
            if int(version or 0) != commit.base_version:
                return False
            if lease_token is not None and _text(await pipe.get(lease_key) or b"") != lease_token:
                return False
            pipe.multi()  # type: ignore[no-untyped-call]
            pipe.incr(version_key)
            stamp = f"{self._writer}:{commit.base_version + 1}"
            pipe.set(self._key("stamp"), stamp)
            if commit.states:
                mapping: dict[FieldT, EncodableT] = {
                    i: s.model_dump_json() for i, s in commit.states.items()
                }
                pipe.hset(self._key("state"), mapping=mapping)
            if commit.removed:
                pipe.hdel(self._key("state"), *commit.removed)
            pipe.set(self._key("meta"), commit.meta.model_dump_json())
            if commit.epoch is not None:
                pipe.set(self._key("epoch"), commit.epoch.model_dump_json())
            for incident in commit.incidents.values():
                pipe.set(
                    self._key(f"incident:{incident.id}"),
                    incident.model_dump_json(),
                    px=self._record_ttl_ms,
                )
            self._queue_jobs(pipe, commit.jobs, first)
            self._append_history(pipe, commit.history)
            try:
                await pipe.execute()
            except WatchError:
                return False
        self._hold_committed(commit, _maybe_text(base_stamp), stamp)
        return True

    def _history_key(self, connection_id: str) -> str:
        return self._key(f"hist:{connection_id}")

    def _append_history(self, pipe: Any, history: Sequence[Tallied]) -> None:
        """XADDs (Redis's own time as the id) trimmed to 30 days, and each log expiring 30
        days after its last entry, so a connection gone quiet leaves nothing behind."""
        if not history:
            return
        oldest = f"{round((time.time() - HISTORY_TTL) * 1000)}-0"
        keys: dict[str, None] = {}
        for entry, tally in history:
            key = self._history_key(entry.connection_id)
            fields: dict[FieldT, EncodableT] = dict(stored_fields(entry, tally).items())
            pipe.xadd(key, fields, minid=oldest, approximate=True)
            keys[key] = None
        ttl_ms = round(HISTORY_TTL * 1000)
        for key in keys:
            pipe.pexpire(key, ttl_ms)

    async def history(
        self, connection_id: str, *, since: float, before: str | None = None, limit: int = 20
    ) -> HistoryPage:
        key = self._history_key(connection_id)
        start = f"{max(0, round(since * 1000))}-0"
        end = _cursor(before)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.xrevrange(key, "+", start, count=1)
            pipe.xrange(key, start, "+", count=1)
            pipe.xrevrange(key, f"({end[0]}-{end[1]}" if end else "+", start, count=limit + 1)
            pipe.hget(self._key("state"), connection_id)
            pipe.exists(self._key("version"))
            newest, oldest, page, raw_state, recorded = await pipe.execute()
        records = [r for row in page if (r := _record(connection_id, row)) is not None]
        return HistoryPage(
            records[:limit],
            len(records) > limit,
            window_totals(
                _record(connection_id, newest[0]) if newest else None,
                _record(connection_id, oldest[0]) if oldest else None,
            ),
            ConnState.model_validate_json(raw_state) if raw_state else None,
            bool(recorded),
            since,
        )

    def _hold_committed(self, commit: Commit, base_stamp: str | None, stamp: str) -> None:
        """What Redis holds now is the commit on top of its base: kept if the base was held."""
        held = self._held
        if held is None or (held.snapshot.version, held.stamp) != (commit.base_version, base_stamp):
            self._held = None  # Redis's base was not the held one: read it all next time
            return
        states = {**held.snapshot.states, **commit.states}
        for connection_id in commit.removed:
            states.pop(connection_id, None)
        snapshot = Snapshot(states, commit.meta, commit.base_version + 1)
        self._held = _Held(snapshot, stamp)

    async def _sequence(self, count: int) -> int:
        """First of `count` fresh outbox positions (gaps from failed commits are harmless)."""
        if count == 0:
            return 0
        last = int(await self._redis.incrby(self._key("seq"), count))
        return last - count + 1

    def _queue_jobs(self, pipe: Any, jobs: Sequence[Job], first: int) -> None:
        if not jobs:
            return
        mapping: dict[FieldT, EncodableT] = {job.id: job.model_dump_json() for job in jobs}
        pipe.hset(self._key("jobs"), mapping=mapping)
        pipe.zadd(self._key("outbox"), {job.id: first + n for n, job in enumerate(jobs)}, nx=True)

    async def enqueue(self, jobs: Sequence[Job]) -> None:
        first = await self._sequence(len(jobs))
        async with self._redis.pipeline(transaction=True) as pipe:
            self._queue_jobs(pipe, jobs, first)
            await pipe.execute()

    async def pending(self, limit: int = 500) -> list[Job]:
        ids = [_text(i) for i in await self._redis.zrange(self._key("outbox"), 0, limit - 1)]
        if not ids:
            return []
        raw = await self._redis.hmget(self._key("jobs"), ids)
        jobs: list[Job] = []
        orphans: list[str] = []
        unreadable: list[str] = []
        for job_id, record in zip(ids, raw, strict=True):
            if record is None:
                orphans.append(job_id)
            elif (job := _parse_job(job_id, record)) is None:
                unreadable.append(job_id)
            else:
                jobs.append(job)
        if orphans or unreadable:
            async with self._redis.pipeline(transaction=True) as pipe:
                if orphans:
                    pipe.zrem(self._key("outbox"), *orphans)
                for job_id in unreadable:
                    self._forget(pipe, job_id)
                await pipe.execute()
        return jobs

    async def claim(self, job_id: str, token: str, ttl: float) -> bool:
        ttl_ms = max(1, round(ttl * 1000))
        return bool(await self._redis.set(self._key(f"claim:{job_id}"), token, nx=True, px=ttl_ms))

    async def finish(self, job: Job, *, posted_ts: str | None = None) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            if posted_ts is not None and job.kind == "alert":
                alerts = self._key(f"alerts:{job.incident_id}")
                pipe.hset(alerts, job.channel, posted_ts)
                pipe.pexpire(alerts, self._record_ttl_ms)
            self._forget(pipe, job.id)
            await pipe.execute()

    def _forget(self, pipe: Any, job_id: str) -> None:
        pipe.hdel(self._key("jobs"), job_id)
        pipe.zrem(self._key("outbox"), job_id)
        pipe.delete(self._key(f"claim:{job_id}"))

    async def retry_later(self, job: Job) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._key("jobs"), job.id, job.model_dump_json())
            pipe.delete(self._key(f"claim:{job.id}"))
            await pipe.execute()

    async def drop_channel(self, channel: str) -> int:
        doomed = [job.id for job in await self.pending(limit=10_000) if job.channel == channel]
        if doomed:
            async with self._redis.pipeline(transaction=True) as pipe:
                for job_id in doomed:
                    self._forget(pipe, job_id)
                await pipe.execute()
        return len(doomed)

    async def incident(self, incident_id: str) -> Incident | None:
        raw = await self._redis.get(self._key(f"incident:{incident_id}"))
        return Incident.model_validate_json(raw) if raw else None

    async def alert_ts(self, incident_id: str, channel: str) -> str | None:
        raw = await self._redis.hget(self._key(f"alerts:{incident_id}"), channel)
        return _text(raw) if raw is not None else None

    async def mute(self, connection_id: str, channel: str, until: float, user: str) -> None:
        value = json.dumps({"until": until, "user": user})
        await self._redis.hset(self._key("mutes"), f"{connection_id}|{channel}", value)

    async def unmute(self, connection_id: str, channel: str) -> None:
        await self._redis.hdel(self._key("mutes"), f"{connection_id}|{channel}")

    async def mutes(self, now: float) -> dict[tuple[str, str], Mute]:
        found: dict[tuple[str, str], Mute] = {}
        expired: list[str] = []
        for raw_key, raw in (await self._redis.hgetall(self._key("mutes"))).items():
            key, record = _text(raw_key), json.loads(raw)
            if record["until"] <= now:
                expired.append(key)
                continue
            connection_id, _, channel = key.rpartition("|")
            found[(connection_id, channel)] = Mute(float(record["until"]), str(record["user"]))
        if expired:
            await self._redis.hdel(self._key("mutes"), *expired)
        return found

    async def acknowledge(self, connection_id: str, channel: str, user: str) -> list[str]:
        raw = await self._redis.hget(self._key("state"), connection_id)
        open_ids = list(ConnState.model_validate_json(raw).incidents) if raw else []
        acked = [i for i in open_ids if await self.alert_ts(i, channel) is not None]
        if not acked:
            return []
        async with self._redis.pipeline(transaction=True) as pipe:
            for incident_id in acked:
                acks = self._key(f"acks:{incident_id}")
                pipe.hset(acks, channel, user)
                pipe.pexpire(acks, self._record_ttl_ms)
            await pipe.execute()
        nonce = str(await self._redis.incr(self._key("ack-seq")))
        await self.enqueue(_ack_jobs(acked, channel, nonce))
        return acked

    async def acknowledged_by(self, incident_id: str, channel: str) -> str | None:
        raw = await self._redis.hget(self._key(f"acks:{incident_id}"), channel)
        return _text(raw) if raw is not None else None

    async def aclose(self) -> None:
        return None  # the client belongs to whoever built it


def _record(connection_id: str, row: tuple[bytes, Mapping[bytes, bytes]]) -> HistoryRecord | None:
    record_id, fields = row
    return read_record(
        connection_id, _text(record_id), {_text(k): _text(v) for k, v in fields.items()}
    )


def _id_parts(record_id: str) -> tuple[int, int]:
    ms, _, seq = record_id.partition("-")
    return int(ms), int(seq)


def _cursor(before: str | None) -> tuple[int, int] | None:
    """A paging cursor (it arrives in a button's value): a record id, or None when it is not
    one, so a tampered value reads from the newest rather than failing."""
    if before is None or not _STREAM_ID.fullmatch(before):
        return None
    return _id_parts(before)


def _parse_job(job_id: str, record: bytes | str) -> Job | None:
    """The stored job, or None when it no longer reads as one (then it is to be forgotten:
    read again, it would fail again and hold up its channel on every drain)."""
    try:
        return Job.model_validate_json(record)
    except ValidationError as exc:
        log.error("dropping outbox job %s: it no longer reads as a job (%s)", job_id, exc)
        return None


def _copy(snapshot: Snapshot, epoch: Epoch | None) -> Snapshot:
    # Callers may change the dict they get; the held one must stay as Redis has it.
    return Snapshot(dict(snapshot.states), snapshot.meta, snapshot.version, epoch)


def _epoch(raw: object) -> Epoch | None:
    """The recorded epoch; an unreadable record counts as none (a new one replaces it)."""
    if raw is None:
        return None
    try:
        return Epoch.model_validate_json(_text(raw))
    except ValidationError:
        log.error("the watcher's epoch record no longer reads as one: %r", raw)
        return None


def _maybe_text(value: object) -> str | None:
    return None if value is None else _text(value)


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, str):
        return value
    raise TypeError(f"unexpected Redis value type {type(value).__name__}")
