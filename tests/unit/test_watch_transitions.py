"""Transition detection: examples of every event kind, and properties over random histories."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Final

from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.dli.models import Connection, salvage
from bot.watch.transitions import (
    GONE,
    ConnectionEvent,
    ConnState,
    Detection,
    DliReachable,
    DliUnreachable,
    Failed,
    Flapping,
    Flipped,
    Gone,
    Incident,
    Meta,
    Policy,
    Recovered,
    Resolved,
    Stabilised,
    Stuck,
    _connection,
    detect,
    track_outage,
)

CID = "4c693ecc-bab8-4113-a838-129cedc9a563"
QUIET = Policy(flap_threshold=1000)


def conn(
    queues: Mapping[str, str],
    pools: Mapping[str, str] | None = None,
    *,
    status: str = "ACTIVE",
    cid: str = CID,
    update_ms: int | None = None,
    name: str = "orders",
    err: str = "broke",
) -> Connection:
    def entries(items: Mapping[str, str]) -> list[dict[str, Any]]:
        return [
            {
                "name": n,
                "status": s,
                "err_msg": f"{n} {err}" if s == "FAILED" else "",
                "update_time": update_ms,
            }
            for n, s in items.items()
        ]

    return Connection.model_validate(
        {
            "id": cid,
            "name": name,
            "status": status,
            "available_queue_info": entries(queues),
            "elastic_resource_pools": entries(pools or {}),
        }
    )


class History:
    """Feeds successive lists to `detect`, keeping the state, as the watcher does."""

    def __init__(self, policy: Policy = QUIET, watched: frozenset[str] | None = None) -> None:
        self.states: dict[str, ConnState] = {}
        self.policy = policy
        self.watched = watched
        self.events: list[ConnectionEvent] = []

    def step(self, now: float, *connections: Connection) -> list[ConnectionEvent]:
        found: Detection = detect(self.states, connections, self.watched, now, self.policy)
        self.states = found.states
        self.events += found.events
        return list(found.events)


def kinds(events: Sequence[object]) -> list[str]:
    return [type(e).__name__ for e in events]


def test_first_sight_of_a_failed_queue_alerts_once_and_never_again() -> None:
    history = History()
    [event] = history.step(100.0, conn({"q1": "FAILED", "q2": "ACTIVE"}))
    assert isinstance(event, Failed) and event.first_sight
    assert [q.name for q in event.incident.queues] == ["q1"]
    assert event.incident.queues[0].err_msg == "q1 broke"
    assert history.step(160.0, conn({"q1": "FAILED", "q2": "ACTIVE"})) == []


def test_queues_failing_in_one_cycle_make_one_incident_and_recover_in_its_thread() -> None:
    history = History()
    history.step(0.0, conn({"q1": "ACTIVE", "q2": "ACTIVE"}, {"pool": "ACTIVE"}))
    [failed] = history.step(60.0, conn({"q1": "FAILED", "q2": "ACTIVE"}, {"pool": "FAILED"}))
    assert isinstance(failed, Failed) and not failed.first_sight
    assert {(q.kind, q.name) for q in failed.incident.queues} == {("queue", "q1"), ("pool", "pool")}

    [recovered] = history.step(120.0, conn({"q1": "ACTIVE", "q2": "ACTIVE"}, {"pool": "FAILED"}))
    assert isinstance(recovered, Recovered)
    assert (recovered.binding, recovered.incident_id, recovered.status) == (
        "q1",
        failed.incident.id,
        "ACTIVE",
    )
    last = history.step(180.0, conn({"q1": "ACTIVE", "q2": "ACTIVE"}, {"pool": "ACTIVE"}))
    assert kinds(last) == ["Recovered", "Resolved"]
    resolved = last[1]
    assert isinstance(resolved, Resolved) and resolved.incident.id == failed.incident.id
    assert resolved.incident.resolution == "recovered"
    assert resolved.incident.down_for == 120.0


def test_a_status_that_cannot_be_read_changes_nothing() -> None:
    history = History()
    history.step(0.0, conn({"q1": "FAILED", "q2": "ACTIVE"}))
    unreadable = salvage(
        Connection,
        {
            "id": CID,
            "name": "orders",
            "status": "ACTIVE",
            "available_queue_info": [
                {"name": "q1", "status": {"not": "a string"}, "err_msg": ""},
                {"name": "q2", "status": ["neither"], "err_msg": ""},
            ],
        },
    )
    assert unreadable is not None

    # Neither "q1 recovered" nor "q2 failed": an unreadable status is not a transition.
    assert history.step(60.0, unreadable.value) == []
    assert [q.status for q in history.states[CID].bindings.values()] == ["FAILED", "ACTIVE"]
    [recovered, _resolved] = history.step(120.0, conn({"q1": "ACTIVE", "q2": "ACTIVE"}))
    assert isinstance(recovered, Recovered) and recovered.binding == "q1"


def test_a_later_failure_of_another_queue_is_a_new_incident() -> None:
    history = History()
    history.step(0.0, conn({"q1": "ACTIVE", "q2": "ACTIVE"}))
    [first] = history.step(1.0, conn({"q1": "FAILED", "q2": "ACTIVE"}))
    [second] = history.step(2.0, conn({"q1": "FAILED", "q2": "FAILED"}))
    assert isinstance(first, Failed) and isinstance(second, Failed)
    assert first.incident.id != second.incident.id
    assert [q.name for q in second.incident.queues] == ["q2"]


def test_unbinding_a_failed_queue_recovers_it() -> None:
    history = History()
    history.step(0.0, conn({"q1": "FAILED", "q2": "ACTIVE"}))
    events = history.step(1.0, conn({"q2": "ACTIVE"}))
    assert kinds(events) == ["Recovered", "Resolved"]
    assert isinstance(events[0], Recovered) and events[0].status == "UNBOUND"


def test_deleted_is_reported_once_and_closes_open_incidents() -> None:
    history = History()
    history.step(0.0, conn({"q1": "FAILED"}))
    events = history.step(1.0, conn({"q1": "FAILED"}, status="DELETED"))
    assert kinds(events) == ["Resolved", "Gone"]
    assert isinstance(events[0], Resolved) and events[0].incident.resolution == "deleted"
    assert isinstance(events[1], Gone) and events[1].deleted
    assert history.step(2.0, conn({}, status="DELETED")) == []


def test_disappearing_is_reported_once_and_coming_back_is_a_first_sight() -> None:
    history = History(watched=frozenset({CID}))
    history.step(0.0, conn({"q1": "ACTIVE"}))
    [gone] = history.step(1.0)
    assert isinstance(gone, Gone) and not gone.deleted
    assert history.states[CID].status == GONE
    assert history.step(2.0) == []
    [back] = history.step(3.0, conn({"q1": "FAILED"}))
    assert isinstance(back, Failed) and back.first_sight


def test_first_sight_of_a_deleted_connection_reports_nothing() -> None:
    assert History().step(0.0, conn({}, status="DELETED")) == []


def test_unwatched_connections_are_ignored_and_forgotten() -> None:
    history = History(watched=frozenset({CID}))
    history.step(0.0, conn({"q1": "ACTIVE"}), conn({"q": "FAILED"}, cid="other"))
    assert set(history.states) == {CID}
    history.watched = frozenset()
    assert history.step(1.0, conn({"q1": "FAILED"})) == []
    assert history.states == {}


def test_stuck_creating_is_reported_once_per_creating_spell() -> None:
    history = History(Policy(stuck_after=100.0, flap_threshold=1000))
    history.step(0.0, conn({"q1": "CREATING"}))
    assert history.step(99.0, conn({"q1": "CREATING"})) == []
    [stuck] = history.step(100.0, conn({"q1": "CREATING"}))
    assert isinstance(stuck, Stuck) and (stuck.binding, stuck.since) == ("q1", 0.0)
    assert history.step(500.0, conn({"q1": "CREATING"})) == []
    history.step(501.0, conn({"q1": "ACTIVE"}))
    history.step(502.0, conn({"q1": "CREATING"}))
    assert kinds(history.step(602.0, conn({"q1": "CREATING"}))) == ["Stuck"]


def test_stuck_uses_dlis_update_time_when_given() -> None:
    history = History(Policy(stuck_after=100.0))
    [stuck] = history.step(1000.0, conn({"q1": "CREATING"}, update_ms=500_000))
    assert isinstance(stuck, Stuck) and stuck.since == 500.0


def test_flapping_alerts_once_then_replies_then_settles() -> None:
    history = History(Policy(flap_threshold=2, flap_window=100.0, flap_quiet=50.0))
    history.step(0.0, conn({"q1": "ACTIVE"}))
    assert kinds(history.step(1.0, conn({"q1": "FAILED"}))) == ["Failed"]
    assert kinds(history.step(2.0, conn({"q1": "ACTIVE"}))) == ["Recovered", "Resolved"]
    [flapping] = history.step(3.0, conn({"q1": "FAILED"}))
    assert isinstance(flapping, Flapping) and flapping.incident.flips == 3
    flips = history.step(4.0, conn({"q1": "ACTIVE"})) + history.step(5.0, conn({"q1": "FAILED"}))
    assert kinds(flips) == ["Flipped", "Flipped"]
    assert all(isinstance(f, Flipped) and f.incident_id == flapping.incident.id for f in flips)
    history.step(6.0, conn({"q1": "ACTIVE"}))
    assert history.step(55.0, conn({"q1": "ACTIVE"})) == []
    settled = history.step(56.0, conn({"q1": "ACTIVE"}))
    assert kinds(settled) == ["Stabilised", "Resolved"]
    assert isinstance(settled[1], Resolved) and settled[1].incident.resolution == "stable"
    assert history.step(57.0, conn({"q1": "ACTIVE"})) == []


def test_flapping_that_settles_failed_stays_open_until_recovery() -> None:
    history = History(Policy(flap_threshold=1, flap_window=100.0, flap_quiet=10.0))
    history.step(0.0, conn({"q1": "ACTIVE"}))
    history.step(1.0, conn({"q1": "FAILED"}))
    events = history.step(2.0, conn({"q1": "ACTIVE"}))
    # The earlier failure is closed normally; the flapping alert is a new incident.
    assert kinds(events) == ["Recovered", "Flapping", "Resolved"]
    flapping = events[1]
    assert isinstance(flapping, Flapping)
    history.step(3.0, conn({"q1": "FAILED"}))
    [stable] = history.step(20.0, conn({"q1": "FAILED"}))
    assert isinstance(stable, Stabilised) and stable.status == "FAILED"
    events = history.step(30.0, conn({"q1": "ACTIVE"}))
    assert kinds(events) == ["Recovered", "Resolved"]
    assert isinstance(events[1], Resolved) and events[1].incident.id == flapping.incident.id
    assert isinstance(events[0], Recovered) and events[0].incident_id == flapping.incident.id


def test_an_unchanged_connection_keeps_its_state_object() -> None:
    history = History()
    history.step(0.0, conn({"q1": "FAILED", "q2": "ACTIVE"}, {"pool": "ACTIVE"}))
    before = history.states[CID]
    assert history.step(60.0, conn({"q1": "FAILED", "q2": "ACTIVE"}, {"pool": "ACTIVE"})) == []
    assert history.states[CID] is before
    history.step(120.0, conn({"q1": "FAILED", "q2": "ACTIVE"}, {"pool": "CREATING"}))
    assert history.states[CID] is not before


def test_an_open_incident_no_binding_refers_to_is_resolved_on_the_next_sight() -> None:
    history = History()
    history.step(0.0, conn({"q1": "ACTIVE"}))
    orphan = Incident(
        id="orphan", connection_id=CID, connection_name="orders", kind="failed", queues=(),
        started_at=0.0,
    )  # fmt: skip
    history.states[CID] = history.states[CID].model_copy(update={"incidents": {"orphan": orphan}})
    [resolved] = history.step(60.0, conn({"q1": "ACTIVE"}))
    assert isinstance(resolved, Resolved) and resolved.incident.id == "orphan"


def test_outage_is_announced_once_after_the_threshold_and_its_end_once() -> None:
    policy = Policy(outage_after=3)
    meta = Meta()
    announced: list[object] = []
    for now in (10.0, 20.0, 30.0, 40.0, 50.0):
        meta, events = track_outage(meta, ok=False, now=now, reason="boom", policy=policy)
        announced += events
    [down] = announced
    assert isinstance(down, DliUnreachable) and down.since == 10.0 and down.reason == "boom"
    meta, events = track_outage(meta, ok=True, now=70.0, reason="", policy=policy)
    [up] = events
    assert isinstance(up, DliReachable) and up.down_for == 60.0
    assert track_outage(meta, ok=True, now=80.0, reason="", policy=policy)[1] == []
    _, short = track_outage(Meta(), ok=False, now=1.0, reason="x", policy=policy)
    assert short == []
    # A short outage (below the threshold) ends silently, and a new one gets a new id.
    meta, _ = track_outage(meta, ok=False, now=90.0, reason="x", policy=Policy(outage_after=1))
    assert meta.outage_seq == 2


# --------------------------------------------------------------------------- properties

STATUSES = st.sampled_from(["ACTIVE", "FAILED", "CREATING"])
ROUND = st.dictionaries(st.sampled_from(["a", "b", "c"]), STATUSES, max_size=3)


@settings(max_examples=150, deadline=None)
@given(rounds=st.lists(ROUND, min_size=1, max_size=12))
def test_every_entry_into_failed_is_alerted_exactly_once(rounds: list[dict[str, str]]) -> None:
    history = History()
    previous: dict[str, str] = {}
    expected = Counter[str]()
    for step, statuses in enumerate(rounds):
        for name, status in statuses.items():
            if status == "FAILED" and previous.get(name) != "FAILED":
                expected[name] += 1
        history.step(float(step * 60), conn(statuses))
        # Seeing the same list again changes nothing: no event is ever doubled.
        assert history.step(float(step * 60 + 1), conn(statuses)) == []
        previous = statuses
    alerted = Counter(
        q.name for e in history.events if isinstance(e, Failed) for q in e.incident.queues
    )
    assert alerted == expected


@settings(max_examples=150, deadline=None)
@given(
    rounds=st.lists(ROUND, min_size=1, max_size=15),
    threshold=st.integers(1, 4),
    present=st.lists(st.booleans(), min_size=15, max_size=15),
)
def test_incidents_open_once_resolve_once_and_ids_are_unique(
    rounds: list[dict[str, str]], threshold: int, present: list[bool]
) -> None:
    history = History(
        Policy(flap_threshold=threshold, flap_window=300.0, flap_quiet=120.0, stuck_after=90.0),
        watched=frozenset({CID}),
    )
    for step, statuses in enumerate(rounds):
        history.step(float(step * 60), *([conn(statuses)] if present[step] else []))
    ids = [e.event_id for e in history.events]
    assert len(ids) == len(set(ids))
    opened = [e.incident.id for e in history.events if isinstance(e, Failed | Flapping)]
    resolved = [e.incident.id for e in history.events if isinstance(e, Resolved)]
    assert len(opened) == len(set(opened))
    assert Counter(resolved) <= Counter(opened)
    still_open = set(history.states[CID].incidents) if CID in history.states else set()
    assert set(opened) - set(resolved) == still_open
    replies = [e for e in history.events if isinstance(e, Recovered | Flipped | Stabilised)]
    assert all(r.incident_id in opened for r in replies)


LISTING = st.fixed_dictionaries(
    {
        "queues": ROUND,
        "pools": ROUND,
        "status": st.sampled_from(["ACTIVE", "ACTIVE", "ACTIVE", "DELETED"]),
        "name": st.sampled_from(["orders", "orders", "", "renamed"]),
        "err": st.sampled_from(["broke", "broke", "broke again"]),
    }
)


_FAILING: Final = {"queues": {"a": "FAILED"}, "pools": {}, "status": "ACTIVE", "name": "orders"}


@settings(max_examples=200, deadline=None)
@example(  # a new error message on a queue that stays FAILED, then a rename
    rounds=[{**_FAILING, "err": "broke"}, {**_FAILING, "err": "broke again"},
            {**_FAILING, "err": "broke again", "name": "renamed"}],
    threshold=4, repeats=[1] * 12,
)  # fmt: skip
@given(
    rounds=st.lists(LISTING, min_size=1, max_size=12),
    threshold=st.integers(1, 4),
    repeats=st.lists(st.integers(1, 3), min_size=12, max_size=12),
)
def test_reusing_unchanged_states_never_changes_what_detection_finds(
    rounds: list[dict[str, Any]], threshold: int, repeats: list[int]
) -> None:
    # Against the full comparison of every connection, through stuck, flapping (and its quiet
    # spell), deletion, renames, new error messages, and the same list seen again and again.
    policy = Policy(flap_threshold=threshold, flap_window=300.0, flap_quiet=100.0, stuck_after=90.0)
    states: dict[str, ConnState] = {}
    now = 0.0
    for listing, times in zip(rounds, repeats, strict=False):
        for _ in range(times):
            now += 40.0
            listed = conn(listing["queues"], listing["pools"], status=listing["status"],
                          name=listing["name"], err=listing["err"])  # fmt: skip
            expected_state, expected_events = _connection(states.get(CID), listed, now, policy)
            found = detect(states, [listed], None, now, policy)
            assert found.states == {CID: expected_state}
            assert found.events == expected_events
            states = found.states


def test_a_connection_gone_from_the_list_is_forgotten_once_its_history_would_be() -> None:
    policy = Policy(flap_threshold=1000, forget_gone_after=100.0)
    history = History(policy)
    history.step(0.0, conn({"q1": "FAILED"}))
    assert kinds(history.step(10.0)) == ["Resolved", "Gone"]
    assert history.states[CID].gone and history.states[CID].gone_since == 10.0

    assert history.step(109.0) == [] and CID in history.states
    assert history.step(111.0) == [] and CID not in history.states
    # Listed again later: a connection seen for the first time, its FAILED queue alerted.
    [event] = history.step(200.0, conn({"q1": "FAILED"}))
    assert isinstance(event, Failed) and event.first_sight


def test_a_gone_connection_from_before_the_clock_was_kept_gets_one() -> None:
    policy = Policy(flap_threshold=1000, forget_gone_after=100.0)
    history = History(policy)
    history.states = {CID: ConnState(name="orders", status=GONE)}
    assert history.step(5.0) == []
    assert history.states[CID].gone_since == 5.0
    history.step(106.0)
    assert CID not in history.states
