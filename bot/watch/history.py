"""Connection history: what the watcher records of each transition, and the window totals.

Pure, like bot.watch.transitions: `record` turns one cycle's previous and changed states (and its
stuck / gone events) into entries, which the state store appends in the same transaction that
commits the state (bot.watch.state), so a transition is recorded exactly when it is committed.

Each stored entry carries the connection's running tallies (failures, recoveries, downtime,
entries) up to and including itself. The totals of any window are then the newest entry's
tallies minus those before the window's oldest entry: two entries read, however many the
window holds (`window_totals`).

Downtime belongs to a failure's end: a binding leaving FAILED (recovered, or unbound) records
how long it was FAILED, measured as the alerts measure it (from DLI's time of the change to
FAILED until the watcher saw it leave). A failure ended by its connection's deletion is no
recovery and adds no downtime; one still going on is counted by the reader from the state.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Literal

from bot.dli.models import ACTIVE, CREATING, FAILED
from bot.watch.transitions import UNBOUND, ConnectionEvent, ConnState, Gone, Stuck, binding_key

#: How long history is kept (Redis trims each stream to it; an idle stream expires after it).
HISTORY_DAYS: Final = 30
HISTORY_TTL: Final = HISTORY_DAYS * 86400.0

EntryKind = Literal["status", "stuck", "deleted", "gone"]


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One transition of one connection, as the watcher saw it at `at` (epoch seconds)."""

    connection_id: str
    kind: EntryKind
    at: float
    binding: str = ""  # "queue:<name>" / "pool:<name>" (bot.watch.transitions.binding_key)
    old: str = ""  # the status before ("" : first seen)
    status: str = ""  # the status now (UNBOUND: no longer bound)
    since: float | None = None  # DLI's time of the change, when it said
    err_msg: str = ""  # of a FAILED binding
    down: float | None = None  # leaving FAILED: seconds it was FAILED

    @property
    def binding_kind(self) -> str:
        return self.binding.partition(":")[0]

    @property
    def binding_name(self) -> str:
        return self.binding.partition(":")[2]

    @property
    def failed(self) -> bool:
        return self.kind == "status" and self.status == FAILED


@dataclass(frozen=True, slots=True)
class Tally:
    """Counts of one connection's history: running (on an entry) or of a window."""

    failures: int = 0
    recoveries: int = 0
    downtime: float = 0.0  # seconds, of the recoveries
    entries: int = 0

    @staticmethod
    def of(entry: HistoryEntry) -> Tally:
        """What one entry adds."""
        recovered = entry.down is not None
        return Tally(int(entry.failed), int(recovered), entry.down or 0.0, 1)

    def __add__(self, other: Tally) -> Tally:
        return Tally(
            self.failures + other.failures,
            self.recoveries + other.recoveries,
            self.downtime + other.downtime,
            self.entries + other.entries,
        )

    def __sub__(self, other: Tally) -> Tally:
        # Never below zero, even for tallies that restarted (state lost, log kept).
        return Tally(
            max(0, self.failures - other.failures),
            max(0, self.recoveries - other.recoveries),
            max(0.0, self.downtime - other.downtime),
            max(0, self.entries - other.entries),
        )

    @property
    def mean_time_to_recover(self) -> float | None:
        return self.downtime / self.recoveries if self.recoveries else None

    @staticmethod
    def of_state(state: ConnState) -> Tally:
        failures, recoveries, downtime_ms, entries = state.tally
        return Tally(failures, recoveries, downtime_ms / 1000, entries)

    def as_state(self) -> tuple[int, int, int, int]:
        return (self.failures, self.recoveries, round(self.downtime * 1000), self.entries)


#: An entry and its connection's running tally with it counted: what a commit appends.
Tallied = tuple["HistoryEntry", Tally]


@dataclass(frozen=True, slots=True)
class HistoryRecord:
    """A stored entry: its position in the connection's log (for paging) and running tally."""

    id: str
    entry: HistoryEntry
    tally: Tally


@dataclass(frozen=True)
class HistoryPage:
    """One page of a connection's window, newest first, with what the reader needs around it."""

    records: list[HistoryRecord]
    more: bool  # older entries of the window follow this page
    totals: Tally  # of the whole window, not just this page
    state: ConnState | None  # the connection's last seen state; None: never seen
    recorded: bool  # the watcher has recorded state for the project at all
    since: float = 0.0  # where the window starts (a Unix time): downtime before it is not its


def window_totals(newest: HistoryRecord | None, oldest: HistoryRecord | None) -> Tally:
    """The window's totals from its newest and oldest records (running tallies)."""
    if newest is None or oldest is None:
        return Tally()
    return newest.tally - (oldest.tally - Tally.of(oldest.entry))


def record(
    previous: Mapping[str, ConnState],
    changed: dict[str, ConnState],
    events: Iterable[ConnectionEvent],
    now: float,
) -> list[Tallied]:
    """The history of one cycle, each entry with its running tally; the tallies are moved on
    in `changed` (updated in place), so the state committed with the entries carries them.

    Entries: each binding's status change among the `changed` states, a connection deleted
    or gone, a binding reported stuck. A connection seen for the first time records only its
    bindings that are not ACTIVE (a first cycle over a large project must not write an entry
    per healthy queue)."""
    return tallied(
        changed, [*_status_entries(previous, changed, now), *_event_entries(events, now)]
    )


def tallied(changed: dict[str, ConnState], entries: Iterable[HistoryEntry]) -> list[Tallied]:
    """Each entry with its connection's running tally, moved on from the one in `changed`
    (updated in place). An entry whose connection is not in `changed` is left out."""
    found: list[Tallied] = []
    running: dict[str, Tally] = {}
    for entry in entries:
        cid = entry.connection_id
        state = changed.get(cid)
        if state is None:
            continue
        tally = running.get(cid) or Tally.of_state(state)
        running[cid] = tally = tally + Tally.of(entry)
        found.append((entry, tally))
    for cid, tally in running.items():
        changed[cid] = changed[cid].model_copy(update={"tally": tally.as_state()})
    return found


def _status_entries(
    previous: Mapping[str, ConnState], changed: Mapping[str, ConnState], now: float
) -> list[HistoryEntry]:
    entries: list[HistoryEntry] = []
    for connection_id, new in changed.items():
        prev = previous.get(connection_id)
        if new.gone:
            continue  # its Gone event says so, below
        first_sight = prev is None or prev.gone
        before = {} if prev is None or first_sight else prev.bindings
        for key in [*before, *(k for k in new.bindings if k not in before)]:
            old, now_bound = before.get(key), new.bindings.get(key)
            status = now_bound.status if now_bound is not None else UNBOUND
            if old is not None and old.status == status:
                continue
            if old is None and first_sight and status == ACTIVE:
                continue
            was_failed = old is not None and old.status == FAILED
            entries.append(
                HistoryEntry(
                    connection_id,
                    "status",
                    now,
                    key,
                    old.status if old is not None else "",
                    status,
                    now_bound.since if now_bound is not None else None,
                    now_bound.err_msg if now_bound is not None and status == FAILED else "",
                    max(0.0, now - old.since) if old is not None and was_failed else None,
                )
            )
    return entries


def _event_entries(events: Iterable[ConnectionEvent], now: float) -> list[HistoryEntry]:
    entries: list[HistoryEntry] = []
    for event in events:
        if isinstance(event, Stuck):
            key = binding_key(event.kind, event.binding)
            entries.append(HistoryEntry(event.connection_id, "stuck", now, key, CREATING,
                                        CREATING, event.since))  # fmt: skip
        elif isinstance(event, Gone):
            kind: EntryKind = "deleted" if event.deleted else "gone"
            entries.append(HistoryEntry(event.connection_id, kind, now))
    return entries


# --------------------------------------------------------------------------- storage format

#: One field per entry, always the same: a Redis stream stores the field name once per node
#: when every entry repeats it, so an entry costs its value (a JSON array) only.
_FIELD: Final = "v"
_KIND_CODES: Final[dict[EntryKind, str]] = {
    "status": "s",
    "stuck": "x",
    "deleted": "d",
    "gone": "g",
}
_KINDS: Final[dict[str, EntryKind]] = {code: kind for kind, code in _KIND_CODES.items()}


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1000)


def _seconds(ms: int | None) -> float | None:
    return None if ms is None else ms / 1000


def stored_fields(entry: HistoryEntry, tally: Tally) -> dict[str, str]:
    """The stream fields of `entry`, whose running tally (itself included) is `tally`."""
    values = [
        _ms(entry.at),
        _KIND_CODES[entry.kind],
        entry.binding,
        entry.old,
        entry.status,
        _ms(entry.since),
        entry.err_msg,
        _ms(entry.down),
        *tally.as_state(),
    ]
    return {_FIELD: json.dumps(values, ensure_ascii=False, separators=(",", ":"))}


def read_record(
    connection_id: str, record_id: str, fields: Mapping[str, str]
) -> HistoryRecord | None:
    """A stored entry back from its fields (as `stored_fields` wrote them); None when they do
    not read as one (written by something else): it is left out rather than failing a reply."""
    try:
        return _read(connection_id, record_id, fields)
    except (KeyError, ValueError, TypeError):
        return None


def _read(connection_id: str, record_id: str, fields: Mapping[str, str]) -> HistoryRecord:
    at, kind, binding, old, status, since, err, down, failures, recoveries, downtime, count = (
        json.loads(fields[_FIELD])
    )
    entry = HistoryEntry(
        connection_id,
        _KINDS[kind],
        int(at) / 1000,
        str(binding),
        str(old),
        str(status),
        _seconds(since),
        str(err),
        _seconds(down),
    )
    tally = Tally(int(failures), int(recoveries), int(downtime) / 1000, int(count))
    return HistoryRecord(record_id, entry, tally)
