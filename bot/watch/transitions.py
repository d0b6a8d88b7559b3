"""Pure transition detection: last seen state + the current connection list + now -> events.

Nothing here does I/O or reads a clock, so the watcher's whole decision logic is testable (and
property-tested) with plain values. Times are epoch seconds (floats).

Incidents: a queue or pool entering FAILED opens an incident (one per connection per cycle, so
several queues failing together make one alert). A binding refers to its open incident until it
leaves FAILED; an incident no binding refers to any more is resolved. A binding that flips status
more than `Policy.flap_threshold` times within `Policy.flap_window` opens a "flapping" incident
instead; its later flips are reported in that incident's thread until it has been stable for
`Policy.flap_quiet`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict

from bot.dli.models import (
    CREATING,
    DELETED,
    FAILED,
    Connection,
    ListedConnection,
    ListedQueue,
    QueueInfo,
    is_unknown,
)

#: A watched connection that is missing from the project's list.
GONE: Final = "GONE"
#: The status a binding has once it is no longer bound to its connection.
UNBOUND: Final = "UNBOUND"

BindingKind = Literal["queue", "pool"]
IncidentKind = Literal["failed", "flapping"]
Resolution = Literal["", "recovered", "stable", "deleted", "disappeared"]


#: What detection reads of a queue or pool, and of a connection: the full models of a `show`, or
#: the slimmer ones of the watcher's list poll.
ListedBinding: TypeAlias = QueueInfo | ListedQueue
Listed: TypeAlias = Connection | ListedConnection


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


@dataclass(frozen=True)
class Policy:
    """Thresholds of the watcher, in seconds (and a count)."""

    stuck_after: float = 1800.0
    flap_threshold: int = 4  # more flips than this within flap_window make a binding flap
    flap_window: float = 3600.0
    flap_quiet: float = 1800.0
    outage_after: int = 3  # consecutive failed polls before "cannot reach DLI"
    #: How long a connection gone from DLI's list is remembered (its state, for a reappearance
    #: to be told apart): as long as its history is kept. After that it is forgotten, so a
    #: project's churn does not grow the watcher's state for ever.
    forget_gone_after: float = 30 * 86400.0

    def __post_init__(self) -> None:
        if self.flap_threshold < 1 or self.outage_after < 1:
            raise ValueError("flap_threshold and outage_after must be at least 1")
        if min(self.stuck_after, self.flap_window, self.flap_quiet, self.forget_gone_after) < 0:
            raise ValueError("durations must not be negative")


class IncidentQueue(_Frozen):
    name: str
    kind: BindingKind
    err_msg: str = ""
    since: float


class Incident(_Frozen):
    """What an alert message shows; rendered again whenever it is acknowledged or resolved."""

    id: str
    connection_id: str
    connection_name: str
    kind: IncidentKind
    queues: tuple[IncidentQueue, ...]
    started_at: float
    resolved_at: float | None = None
    resolution: Resolution = ""
    flips: int = 0
    #: Channels this incident's alert was planned for (or decided against, when muted). None:
    #: not settled yet (just opened, or recorded before this field existed): the channels
    #: routed at the time are taken as alerted, so an upgrade re-alerts nothing.
    alerted: tuple[str, ...] | None = None

    @property
    def down_for(self) -> float | None:
        if self.resolved_at is None:
            return None
        since = min((q.since for q in self.queues), default=self.started_at)
        return max(0.0, self.resolved_at - since)


class BindingState(_Frozen):
    name: str
    kind: BindingKind
    status: str
    since: float
    err_msg: str = ""
    incident: str | None = None
    flips: tuple[float, ...] = ()
    flapping: bool = False
    stuck_reported: bool = False


class ConnState(_Frozen):
    """The last seen state of one watched connection."""

    name: str
    status: str
    bindings: dict[str, BindingState] = {}
    incidents: dict[str, Incident] = {}  # the open ones
    seq: int = 0  # makes event and incident ids unique and deterministic
    #: Its history's running tally (failures, recoveries, downtime ms, entries; see
    #: bot.watch.history), committed with the entries that moved it.
    tally: tuple[int, int, int, int] = (0, 0, 0, 0)
    #: When it was first seen gone from the list (None: listed, or gone before this was kept).
    gone_since: float | None = None

    @property
    def gone(self) -> bool:
        return self.status.upper() in (GONE, DELETED)


class Meta(_Frozen):
    """Project-wide watcher state: the DLI outage tracker."""

    failures: int = 0
    failing_since: float | None = None
    outage_notified: bool = False
    outage_seq: int = 0


# --------------------------------------------------------------------------- events


@dataclass(frozen=True)
class IncidentEvent:
    """An incident was opened or resolved: its alert is posted or updated."""

    event_id: str
    incident: Incident


@dataclass(frozen=True)
class Failed(IncidentEvent):
    """Queues of a connection entered FAILED (or were FAILED on first sight): one alert."""

    first_sight: bool


@dataclass(frozen=True)
class Flapping(IncidentEvent):
    """A binding changed status more than `Policy.flap_threshold` times within
    `Policy.flap_window`: one "flapping" alert instead of one per flip."""


@dataclass(frozen=True)
class Resolved(IncidentEvent):
    """An incident has no FAILED binding left: its alert is updated to show it."""


@dataclass(frozen=True)
class BindingChange:
    """One binding of an open incident changed: a reply in that incident's thread."""

    event_id: str
    incident_id: str
    connection_id: str
    binding: str
    kind: BindingKind
    status: str


@dataclass(frozen=True)
class Recovered(BindingChange):
    """A binding left FAILED."""

    connection_name: str
    down_for: float


@dataclass(frozen=True)
class Flipped(BindingChange):
    """A flapping binding changed status again (to FAILED: with its err_msg)."""

    err_msg: str = ""


@dataclass(frozen=True)
class Stabilised(BindingChange):
    """A flapping binding has kept one status for `Policy.flap_quiet`."""

    stable_for: float


@dataclass(frozen=True)
class Gone:
    """A connection left DLI's list, or DLI now says it is DELETED: one notice."""

    event_id: str
    connection_id: str
    connection_name: str
    deleted: bool  # True: DLI says DELETED; False: missing from the list


@dataclass(frozen=True)
class Stuck:
    """A binding has been CREATING for longer than `Policy.stuck_after`: one notice."""

    event_id: str
    connection_id: str
    connection_name: str
    binding: str
    kind: BindingKind
    since: float


@dataclass(frozen=True)
class DliUnreachable:
    """`Policy.outage_after` polls in a row failed: one notice to every channel. `kind`: the
    last failure's DliError kind ("timeout": the list took longer than the cycle allows), put
    in words when shown; `reason`: DLI's own detail of it, shown as it came."""

    event_id: str
    since: float
    reason: str
    kind: str = ""


@dataclass(frozen=True)
class DliReachable:
    """DLI answers again after an outage notice: one notice to every channel."""

    event_id: str
    down_for: float


ConnectionEvent = Failed | Flapping | Recovered | Flipped | Stabilised | Resolved | Gone | Stuck
Event = ConnectionEvent | DliUnreachable | DliReachable


@dataclass
class Detection:
    """The result of one comparison: every watched connection's new state, and what happened."""

    states: dict[str, ConnState] = field(default_factory=dict)
    events: list[ConnectionEvent] = field(default_factory=list)

    @property
    def incidents(self) -> dict[str, Incident]:
        """Incidents created or changed by these events (to store for rendering)."""
        found: dict[str, Incident] = {}
        for event in self.events:
            if isinstance(event, IncidentEvent):
                found[event.incident.id] = event.incident
        return found


# --------------------------------------------------------------------------- detection


def binding_key(kind: BindingKind, name: str) -> str:
    return f"{kind}:{name}"


def _pairs(connection: Listed) -> list[tuple[BindingKind, ListedBinding]]:
    return [
        *(("queue", q) for q in connection.available_queue_info),
        *(("pool", q) for q in connection.elastic_resource_pools),
    ]


def _current_bindings(connection: Listed, now: float) -> dict[str, tuple[ListedBinding, float]]:
    found: dict[str, tuple[ListedBinding, float]] = {}
    for kind, info in _pairs(connection):
        # DLI's update_time is when the status last changed; without it, when we first saw it.
        since = info.update_time.timestamp() if info.update_time is not None else now
        found[binding_key(kind, info.name)] = (info, min(since, now))
    return found


def _status(info: ListedBinding) -> str:
    return info.status.strip().upper()


def _settles(b: BindingState, now: float, policy: Policy) -> bool:
    """A flapping binding has been quiet long enough to be called stable."""
    return b.flapping and bool(b.flips) and now - b.flips[-1] >= policy.flap_quiet


def _stuck(b: BindingState, now: float, policy: Policy) -> bool:
    """A binding has been CREATING too long, and that was not reported yet."""
    return b.status == CREATING and not b.stuck_reported and now - b.since >= policy.stuck_after


class _Tracker:
    """Builds one connection's next state and events; ids come from its sequence counter."""

    def __init__(self, connection_id: str, name: str, prev: ConnState | None, now: float) -> None:
        self.connection_id = connection_id
        self.name = name
        self.seq = prev.seq if prev else 0
        self.tally = prev.tally if prev else (0, 0, 0, 0)
        self.now = now
        self.events: list[ConnectionEvent] = []
        self.incidents: dict[str, Incident] = dict(prev.incidents) if prev else {}
        self.newly_failed: list[str] = []

    def next_id(self) -> str:
        self.seq += 1
        return f"{self.connection_id}:{round(self.now * 1000)}:{self.seq}"

    def open_incident(
        self, kind: IncidentKind, queues: Iterable[BindingState], flips: int = 0
    ) -> Incident:
        incident = Incident(
            id=self.next_id(),
            connection_id=self.connection_id,
            connection_name=self.name,
            kind=kind,
            queues=tuple(
                IncidentQueue(name=b.name, kind=b.kind, err_msg=b.err_msg, since=b.since)
                for b in queues
            ),
            started_at=self.now,
            flips=flips,
        )
        self.incidents[incident.id] = incident
        return incident

    def close_all(self, resolution: Resolution) -> None:
        for incident in self.incidents.values():
            closed = incident.model_copy(update={"resolved_at": self.now, "resolution": resolution})
            self.events.append(Resolved(self.next_id(), closed))
        self.incidents.clear()

    def state(self, status: str, bindings: dict[str, BindingState] | None = None) -> ConnState:
        return ConnState(
            name=self.name,
            status=status,
            bindings=bindings or {},
            incidents=self.incidents,
            seq=self.seq,
            tally=self.tally,
        )

    # -- one binding ------------------------------------------------------------------------

    def check_stuck(self, b: BindingState, policy: Policy) -> BindingState:
        if not _stuck(b, self.now, policy):
            return b
        event = Stuck(self.next_id(), self.connection_id, self.name, b.name, b.kind, b.since)
        self.events.append(event)
        return b.model_copy(update={"stuck_reported": True})

    def recover(self, old: BindingState, status: str) -> None:
        if old.incident is None or old.incident not in self.incidents:
            return
        self.events.append(
            Recovered(
                self.next_id(),
                old.incident,
                self.connection_id,
                old.name,
                old.kind,
                status,
                connection_name=self.name,
                down_for=max(0.0, self.now - old.since),
            )
        )

    def flip(
        self, key: str, old: BindingState, status: str, since: float, err_msg: str, policy: Policy
    ) -> BindingState:
        flips = (*(t for t in old.flips if self.now - t <= policy.flap_window), self.now)
        b = old.model_copy(
            update={
                "status": status,
                "since": since,
                "err_msg": err_msg,
                "flips": flips,
                "stuck_reported": False,
            }
        )
        if old.flapping:
            if old.incident:
                self.events.append(
                    Flipped(
                        self.next_id(),
                        old.incident,
                        self.connection_id,
                        b.name,
                        b.kind,
                        status,
                        err_msg,
                    )
                )
            return b
        if old.status == FAILED:
            self.recover(old, status)
            b = b.model_copy(update={"incident": None})
        if len(flips) > policy.flap_threshold:
            incident = self.open_incident("flapping", [b], flips=len(flips))
            self.events.append(Flapping(self.next_id(), incident))
            return b.model_copy(update={"flapping": True, "incident": incident.id})
        if status == FAILED:
            self.newly_failed.append(key)
        return b

    def stabilise(self, b: BindingState) -> BindingState:
        if b.incident:
            self.events.append(
                Stabilised(
                    self.next_id(),
                    b.incident,
                    self.connection_id,
                    b.name,
                    b.kind,
                    b.status,
                    stable_for=self.now - b.flips[-1],
                )
            )
        # Still FAILED: the flapping incident stays open and an ordinary recovery closes it.
        keep = b.incident if b.status == FAILED else None
        return b.model_copy(update={"flapping": False, "flips": (), "incident": keep})

    def alert_new_failures(self, bindings: dict[str, BindingState], first_sight: bool) -> None:
        if not self.newly_failed:
            return
        incident = self.open_incident("failed", [bindings[k] for k in self.newly_failed])
        for key in self.newly_failed:
            bindings[key] = bindings[key].model_copy(update={"incident": incident.id})
        self.events.append(Failed(self.next_id(), incident, first_sight=first_sight))


def detect(
    previous: Mapping[str, ConnState],
    current: Iterable[Listed],
    watched: frozenset[str] | None,
    now: float,
    policy: Policy = Policy(),
) -> Detection:
    """Compare the watched connections of `current` (None: all of them) with `previous`.

    The watcher tracks every connection (None); with a set, connections outside it are
    forgotten (watching them again is a first sight).
    """
    result = Detection()
    seen: set[str] = set()
    for connection in current:
        if watched is not None and connection.id not in watched:
            continue
        seen.add(connection.id)
        prev = previous.get(connection.id)
        if prev is not None and _unchanged(prev, connection, now, policy):
            # Most connections, most cycles: the previous state object itself, so an idle cycle
            # builds nothing and the caller can tell unchanged states apart by identity.
            result.states[connection.id] = prev
            continue
        state, events = _connection(prev, connection, now, policy)
        result.states[connection.id] = state
        result.events.extend(events)
    for connection_id, prev in previous.items():
        if connection_id in seen or (watched is not None and connection_id not in watched):
            continue
        if prev.gone:
            if prev.gone_since is None:
                # Gone before the time was recorded: the clock starts now.
                result.states[connection_id] = prev.model_copy(update={"gone_since": now})
            elif now - prev.gone_since < policy.forget_gone_after:
                result.states[connection_id] = prev
            # Else it is left out: the caller drops it from the stored state.
            continue
        tracker = _Tracker(connection_id, prev.name, prev, now)
        tracker.close_all("disappeared")
        tracker.events.append(Gone(tracker.next_id(), connection_id, prev.name, deleted=False))
        result.states[connection_id] = tracker.state(GONE).model_copy(update={"gone_since": now})
        result.events.extend(tracker.events)
    return result


def _unchanged(prev: ConnState, connection: Listed, now: float, policy: Policy) -> bool:
    """True only when `_connection` would return `prev` as it is and report nothing.

    The same bindings with the same status and error, no flapping binding due to settle, none
    due to be reported stuck, every open incident still referred to: nothing to build. Anything
    else takes the full path.
    """
    if prev.gone or connection.status != prev.status or (connection.name or prev.name) != prev.name:
        return False  # a deleted connection's status differs from a live prev's, so it is here
    bindings = prev.bindings
    keys: set[str] = set()
    for kind, info in _pairs(connection):
        key = binding_key(kind, info.name)
        old = bindings.get(key)
        if old is None or old.status != _status(info) or old.err_msg != info.err_msg:
            return False
        if _settles(old, now, policy) or _stuck(old, now, policy):
            return False
        keys.add(key)
    if len(keys) != len(bindings):
        return False
    return not prev.incidents or set(prev.incidents) <= {b.incident for b in bindings.values()}


def _connection(
    prev: ConnState | None, connection: Listed, now: float, policy: Policy
) -> tuple[ConnState, list[ConnectionEvent]]:
    tracker = _Tracker(connection.id, connection.name or (prev.name if prev else ""), prev, now)
    if connection.is_deleted:
        if prev is not None and not prev.gone:
            tracker.close_all("deleted")
            tracker.events.append(Gone(tracker.next_id(), connection.id, tracker.name, True))
        # Deleted before we ever saw it alive: nothing changed that we could report.
        return tracker.state(DELETED), tracker.events
    current = _current_bindings(connection, now)
    if prev is None or prev.gone:
        tracker.incidents.clear()
        previous: dict[str, BindingState] = {}
        first_sight = True
    else:
        previous = prev.bindings
        first_sight = False
    bindings: dict[str, BindingState] = {}
    for key in [*previous, *(k for k in current if k not in previous)]:
        old = previous.get(key)
        if key not in current:
            if old is not None and old.status == FAILED:
                tracker.recover(old, UNBOUND)
            continue  # unbound: forgotten
        info, since = current[key]
        status = _status(info)
        if old is not None and is_unknown(info, "status"):
            # DLI sent a status that could not be read: nothing is known to have changed, so a
            # FAILED queue does not read as recovered (nor a healthy one as failed).
            bindings[key] = old
            continue
        if old is None:
            b = BindingState(
                name=info.name,
                kind="pool" if key.startswith("pool:") else "queue",
                status=status,
                since=since,
                err_msg=info.err_msg,
            )
            if status == FAILED:
                tracker.newly_failed.append(key)
        elif status != old.status:
            b = tracker.flip(key, old, status, since, info.err_msg, policy)
        else:
            b = old.model_copy(update={"err_msg": info.err_msg})
            if _settles(b, now, policy):
                b = tracker.stabilise(b)
        bindings[key] = tracker.check_stuck(b, policy)
    tracker.alert_new_failures(bindings, first_sight)

    referenced = {b.incident for b in bindings.values() if b.incident}
    for incident_id in [i for i in tracker.incidents if i not in referenced]:
        flapped = any(b.flapping and b.incident == incident_id for b in previous.values())
        closed = tracker.incidents.pop(incident_id).model_copy(
            update={"resolved_at": now, "resolution": "stable" if flapped else "recovered"}
        )
        tracker.events.append(Resolved(tracker.next_id(), closed))
    return tracker.state(connection.status, bindings), tracker.events


def track_outage(
    meta: Meta,
    *,
    ok: bool,
    now: float,
    reason: str,
    kind: str = "",
    policy: Policy = Policy(),
) -> tuple[Meta, list[DliUnreachable | DliReachable]]:
    """Count consecutive failed polls: one notice once an outage matters, one when it ends."""
    if ok:
        if meta.outage_notified and meta.failing_since is not None:
            event = DliReachable(f"outage:{meta.outage_seq}:up", now - meta.failing_since)
            return Meta(outage_seq=meta.outage_seq), [event]
        return Meta(outage_seq=meta.outage_seq), []
    failing_since = meta.failing_since if meta.failing_since is not None else now
    failures = meta.failures + 1
    if failures >= policy.outage_after and not meta.outage_notified:
        seq = meta.outage_seq + 1
        updated = Meta(
            failures=failures, failing_since=failing_since, outage_notified=True, outage_seq=seq
        )
        return updated, [DliUnreachable(f"outage:{seq}:down", failing_since, reason, kind)]
    return meta.model_copy(update={"failures": failures, "failing_since": failing_since}), []
