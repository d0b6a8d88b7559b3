"""Connection history: what a cycle records, the running tallies and window totals, and the
Redis and memory stores behaving alike (append with the commit, read newest first, page)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import redis.asyncio as aioredis

from bot.dli.models import ListedConnection, ListedQueue
from bot.watch.history import (
    HISTORY_TTL,
    HistoryEntry,
    HistoryRecord,
    Tally,
    read_record,
    record,
    stored_fields,
    tallied,
    window_totals,
)
from bot.watch.state import Commit, MemoryWatchStore, RedisWatchStore, WatchStore
from bot.watch.transitions import ConnState, Meta, Policy, detect

PROJECT = "0d3e6c1a5b7f4e2d9c8b0a1f2e3d4c5b"
CID = "4c693ecc-bab8-4113-a838-129cedc9a563"
T0 = 1_700_000_000.0


def listed(*queues: tuple[str, str, str], status: str = "ACTIVE") -> ListedConnection:
    return ListedConnection(
        id=CID,
        name="orders",
        status=status,
        available_queue_info=tuple(
            ListedQueue(name, s, err, datetime.fromtimestamp(T0, UTC)) for name, s, err in queues
        ),
    )


class Cycles:
    """detect + record over successive listings, as the runner does."""

    def __init__(self) -> None:
        self.states: dict[str, ConnState] = {}

    def poll(self, now: float, *connections: ListedConnection) -> list[HistoryEntry]:
        detection = detect(self.states, connections, None, now, Policy(stuck_after=600))
        changed = {k: v for k, v in detection.states.items() if self.states.get(k) is not v}
        recorded = record(self.states, changed, detection.events, now)
        self.states = {**detection.states, **changed}
        return [entry for entry, _ in recorded]


def summary(entries: list[HistoryEntry]) -> list[tuple[str, str, str, str]]:
    return [(e.kind, e.binding, e.old, e.status) for e in entries]


def test_first_sight_records_only_what_is_not_active() -> None:
    cycles = Cycles()
    entries = cycles.poll(
        T0 + 10, listed(("q1", "ACTIVE", ""), ("q2", "FAILED", "boom"), ("q3", "CREATING", ""))
    )
    assert summary(entries) == [
        ("status", "queue:q2", "", "FAILED"),
        ("status", "queue:q3", "", "CREATING"),
    ]
    assert entries[0].err_msg == "boom" and entries[0].since == T0


def test_failures_recoveries_creating_unbinding_stuck_and_deletion_are_recorded() -> None:
    cycles = Cycles()
    assert cycles.poll(T0, listed(("q1", "ACTIVE", ""))) == []
    assert cycles.poll(T0 + 5, listed(("q1", "ACTIVE", ""))) == []  # nothing changed
    failed = cycles.poll(T0 + 60, listed(("q1", "FAILED", "peering lost")))
    assert summary(failed) == [("status", "queue:q1", "ACTIVE", "FAILED")]
    assert failed[0].err_msg == "peering lost" and failed[0].down is None
    # DLI's update_time said the failure began at T0: downtime runs from there, as alerts say.
    [recovered] = cycles.poll(T0 + 300, listed(("q1", "ACTIVE", "")))
    assert (recovered.old, recovered.status, recovered.down) == ("FAILED", "ACTIVE", 300.0)
    assert recovered.err_msg == ""
    bound = cycles.poll(T0 + 310, listed(("q1", "ACTIVE", ""), ("q2", "CREATING", "")))
    assert summary(bound) == [("status", "queue:q2", "", "CREATING")]
    [stuck] = cycles.poll(T0 + 700, listed(("q1", "ACTIVE", ""), ("q2", "CREATING", "")))
    assert (stuck.kind, stuck.binding, stuck.since) == ("stuck", "queue:q2", T0)
    cycles.poll(T0 + 710, listed(("q1", "FAILED", "x"), ("q2", "CREATING", "")))
    [unbound] = cycles.poll(T0 + 800, listed(("q2", "CREATING", "")))
    assert (unbound.binding, unbound.old, unbound.status, unbound.down) == (
        "queue:q1",
        "FAILED",
        "UNBOUND",
        800.0,
    )
    [deleted] = cycles.poll(T0 + 900, listed(status="DELETED"))
    assert (deleted.kind, deleted.connection_id) == ("deleted", CID)


def test_a_connection_missing_from_the_list_is_recorded_gone_once() -> None:
    cycles = Cycles()
    cycles.poll(T0, listed(("q1", "FAILED", "x")))
    assert summary(cycles.poll(T0 + 60)) == [("gone", "", "", "")]
    assert cycles.poll(T0 + 120) == []


def test_stored_fields_read_back_exactly() -> None:
    entry = HistoryEntry(CID, "status", T0 + 0.123, "pool:p|1", "ACTIVE", "FAILED", T0,
                         "<!here> \x00 ✓", None)  # fmt: skip
    tally = Tally(3, 2, 61.5, 7)
    fields = {k: str(v) for k, v in stored_fields(entry, tally).items()}
    assert read_record(CID, "1-0", fields) == HistoryRecord("1-0", entry, tally)
    assert read_record(CID, "1-0", {"t": "0"}) is None


def test_window_totals_subtract_what_came_before_the_window() -> None:
    def rec(entry: HistoryEntry, tally: Tally) -> HistoryRecord:
        return HistoryRecord("0-0", entry, tally)

    fail = HistoryEntry(CID, "status", T0, "queue:q", "ACTIVE", "FAILED")
    back = HistoryEntry(CID, "status", T0, "queue:q", "FAILED", "ACTIVE", down=120.0)
    # Before the window: one failure and its 60 s recovery; in it: a failure and a recovery.
    oldest, newest = rec(fail, Tally(2, 1, 60.0, 3)), rec(back, Tally(2, 2, 180.0, 4))
    totals = window_totals(newest, oldest)
    assert totals == Tally(failures=1, recoveries=1, downtime=120.0, entries=2)
    assert totals.mean_time_to_recover == 120.0
    assert window_totals(None, None) == Tally()
    assert Tally().mean_time_to_recover is None


# --------------------------------------------------------------------------- the stores

Make = Callable[[], WatchStore]


@pytest.fixture(params=["memory", "redis"])
def make(request: pytest.FixtureRequest, redis_client: aioredis.Redis, key_prefix: str) -> Make:
    def build() -> WatchStore:
        if request.param == "memory":
            return MemoryWatchStore()
        return RedisWatchStore(redis_client, PROJECT, prefix=key_prefix)

    return build


def flip(at: float, old: str, new: str, down: float | None = None) -> HistoryEntry:
    return HistoryEntry(CID, "status", at, "queue:q1", old, new, at,
                        "boom" if new == "FAILED" else "", down)  # fmt: skip


async def commit(store: WatchStore, *entries: HistoryEntry) -> None:
    """A watcher commit of `entries`, their tallies going on from the stored state's."""
    snapshot = await store.load()
    changed = {CID: snapshot.states.get(CID) or ConnState(name="orders", status="ACTIVE")}
    history = tallied(changed, entries)
    commit = Commit(snapshot.version, Meta(), changed, history=history)
    assert await store.commit(commit, lease_token=None)


async def after_this_millisecond(records: list[HistoryRecord]) -> float:
    """A time later than every record's id: Redis numbers entries by its own clock (ms)."""
    last = max(int(r.id.partition("-")[0]) for r in records)
    while time.time() * 1000 <= last + 1:  # noqa: ASYNC110 - a millisecond, not a deadline
        await asyncio.sleep(0.001)
    return (last + 1) / 1000


async def test_history_reads_newest_first_with_window_totals(make: Make) -> None:
    store = make()
    now = time.time()
    empty = await store.history(CID, since=now - 3600)
    assert (empty.records, empty.more, empty.totals, empty.state, empty.recorded) == (
        [], False, Tally(), None, False
    )  # fmt: skip
    await commit(store, flip(now, "ACTIVE", "FAILED"), flip(now, "FAILED", "ACTIVE", 60.0))
    first = await store.history(CID, since=now - 3600)
    middle = await after_this_millisecond(first.records)
    await commit(store, flip(middle, "ACTIVE", "FAILED"), flip(middle, "FAILED", "ACTIVE", 120.0))

    page = await store.history(CID, since=now - 3600)
    assert [(r.entry.status, r.entry.down) for r in page.records] == [
        ("ACTIVE", 120.0), ("FAILED", None), ("ACTIVE", 60.0), ("FAILED", None)
    ]  # fmt: skip
    assert page.records[1].entry.err_msg == "boom"
    assert page.totals == Tally(failures=2, recoveries=2, downtime=180.0, entries=4)
    assert page.recorded and page.state == ConnState(
        name="orders", status="ACTIVE", tally=(2, 2, 180_000, 4)
    )
    later = await store.history(CID, since=middle)
    assert later.totals == Tally(failures=1, recoveries=1, downtime=120.0, entries=2)
    assert len(later.records) == 2
    assert (await store.history(CID, since=time.time() + 60)).totals == Tally()
    assert (await store.history("another-id", since=now - 3600)).records == []


async def test_history_pages_by_cursor_and_ignores_a_tampered_one(make: Make) -> None:
    store = make()
    now = time.time()
    statuses = ["FAILED", "ACTIVE"] * 6
    await commit(store, *(flip(now, "", s) for s in statuses))
    seen: list[HistoryRecord] = []
    cursor = None
    for _ in range(4):
        page = await store.history(CID, since=now - 60, before=cursor, limit=5)
        seen += page.records
        assert page.totals.entries == 12  # the whole window's, on every page
        if not page.more:
            break
        cursor = page.records[-1].id
    assert [r.tally.entries for r in seen] == list(range(12, 0, -1))
    for tampered in ("nonsense", "1-2-3", "(1-0", ""):
        page = await store.history(CID, since=now - 60, before=tampered, limit=5)
        assert page.records[0].tally.entries == 12


async def test_running_tallies_carry_on_across_commits(make: Make) -> None:
    store = make()
    now = time.time()
    for _ in range(3):
        await commit(store, flip(now, "ACTIVE", "FAILED"), flip(now, "FAILED", "ACTIVE", 10.0))
    page = await store.history(CID, since=now - 60)
    assert page.records[0].tally == Tally(3, 3, 30.0, 6)


async def test_a_commit_that_fails_records_no_history(make: Make) -> None:
    store = make()
    now = time.time()
    stale = Commit(0, Meta(), history=[(flip(now, "ACTIVE", "FAILED"), Tally(1, 0, 0.0, 1))])
    await commit(store, flip(now, "ACTIVE", "FAILED"))
    assert not await store.commit(stale, lease_token=None)
    assert (await store.history(CID, since=now - 60)).totals.entries == 1


async def test_redis_trims_history_to_30_days_and_expires_idle_logs(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    store = RedisWatchStore(redis_client, PROJECT, prefix=key_prefix)
    key = f"{key_prefix}watch:v1:{PROJECT}:hist:{CID}"
    old_ms = round((time.time() - HISTORY_TTL - 86400) * 1000)
    for n in range(150):  # more than a stream node holds: trimming drops whole nodes
        fields = stored_fields(flip(old_ms / 1000, "", "FAILED"), Tally())
        await redis_client.xadd(key, dict(fields.items()), id=f"{old_ms}-{n}")
    now = time.time()
    await commit(store, flip(now, "", "FAILED"))
    left = (await redis_client.xrange(key, "-", f"{old_ms}-999")) or []
    assert 0 < len(left) < 150
    assert 0 < await redis_client.pttl(key) <= HISTORY_TTL * 1000


async def test_the_memory_log_keeps_30_days_and_a_bounded_number() -> None:
    store = MemoryWatchStore()
    now = time.time()
    await commit(store, flip(now - HISTORY_TTL - 10, "", "FAILED"))
    await commit(store, flip(now, "", "ACTIVE"))
    page = await store.history(CID, since=0)
    assert [r.entry.status for r in page.records] == ["ACTIVE"]
