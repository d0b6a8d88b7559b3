"""The watcher loop: hold the project lease, poll DLI's list once per interval, commit
transitions with their outbox jobs, and drain the outbox into Slack.

Three tasks: the lease keeper renews the short project lease every couple of seconds, whatever
the interval; the poller runs a cycle per interval while the lease is valid; the sender drains
the outbox while it is, checking again right before every post.

Redis outage: a cycle that cannot read or write the watcher state is skipped (nothing is
posted from state that may be stale, and DLI is not polled for nothing). The lease cannot be
renewed either, so the sender stops too; when Redis is back the first cycle compares DLI with
the last committed state, so transitions during the outage are reported late but not lost
(a flip that reverted within the outage is, like one between two polls, not seen).

Redis reset (it came back empty): the first cycle that finds the epoch it knew gone takes
stock instead of alerting: it records what DLI shows now as the state, with a new epoch, and
queues one summary per channel of what is FAILED, in one commit (bot.watch.epoch).

Any other exception in a cycle or a drain (a bug, data that no longer validates) is logged with
its traceback and the loop goes on, backing off while it repeats: only `stop` or a cancellation
ends either loop, so a sender can never die quietly while polling piles up jobs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Protocol, cast

from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.message import Message
from bot.errors import TIMEOUT, DliError, StoreUnavailable, Throttled, dli_detail
from bot.i18n import DEFAULT_LOCALE, Locale, speaking
from bot.lookup.cache import ProjectRef
from bot.metrics import Metrics
from bot.retry import RetryPolicy
from bot.watch import messages
from bot.watch.backend import WatchBackend
from bot.watch.epoch import new_epoch
from bot.watch.history import record
from bot.watch.jobs import Job, late_alerts, plan_jobs
from bot.watch.lease import LEASE_TTL, LeaseKeeper
from bot.watch.notifier import ChannelPacing, Notifier, sleep_until
from bot.watch.replicas import Spread
from bot.watch.routes import ProjectSubscriptions, TagSet, each_tag_set
from bot.watch.state import Commit, Snapshot
from bot.watch.transitions import Event, Incident, Listed, Meta, Policy, detect, track_outage

log = logging.getLogger(__name__)

_MAX_BACKOFF_INTERVALS = 32


class ConnectionSource(Protocol):
    """What the watcher needs from DliClient: the paged list, reduced to what it compares."""

    def iter_listed(self, *, page_size: int = ...) -> AsyncIterator[Listed]: ...


class TaggedSource(Protocol):
    """DliClient's list filtered by tags, for projects with tag routes."""

    def iter_listed(
        self, *, page_size: int = ..., tags: Mapping[str, str] | None = ...
    ) -> AsyncIterator[Listed]: ...


@dataclass(frozen=True)
class WatchedProject:
    """One project for the watcher: where to list it, its stores, and its name for people."""

    dli: ConnectionSource
    backend: WatchBackend
    project: ProjectRef | None = None


@dataclass(frozen=True)
class WatchOptions:
    """Tuning knobs; the defaults suit production (tests shrink the times)."""

    policy: Policy = field(default_factory=Policy)
    page_size: int = 0  # 0: the whole project in one list call
    lease_ttl: float = LEASE_TTL  # takeover after a holder dies: within about 4/3 of it
    cycle_timeout: float | None = None  # None: max(interval, lease ttl / 2)
    per_channel_gap: float = 1.0  # Slack: about one message per second per channel
    # How long a sender that died mid-post blocks its job. It must outlive a post in progress,
    # or another replica posts the job again: make_slack_client allows 10 s x 4 connection
    # attempts plus about 7 s of backoff, and recording the post up to 3 s more.
    claim_ttl: float = 60.0
    send_backoff: RetryPolicy | None = None  # None: 1 s doubling up to 5 min, jittered
    history: bool = True  # record every transition (bot.watch.history)
    # Channels whose alerts carry "Test connectivity" (the ones whose `allow` names `test`).
    can_test: Callable[[str], bool] = field(default=lambda channel: False)
    # The language of each channel's posts (its `locale`, else DLICONN_LOCALE).
    locale_of: Callable[[str], Locale] = field(default=lambda channel: DEFAULT_LOCALE)
    # The guardrails' rule that keeps the bot's posts out of a channel, or None (asked before
    # each post; see bot.slack.facts.Guard.refuses_posts). None here: nothing is asked.
    refuses_posts: Callable[[str], Awaitable[str | None]] | None = None


@dataclass(frozen=True)
class ListFailure:
    """Why a list call failed: a DliError kind (or TIMEOUT), DLI's own words and request id
    for the notice, and our whole English account for the log."""

    kind: str
    detail: str
    logged: str

    def __str__(self) -> str:
        return self.logged


@dataclass(frozen=True)
class CycleOutcome:
    polled: bool
    dli_ok: bool
    committed: bool
    jobs: int
    retry_after: float | None = None


class _Routing:
    """Who gets what about this project's connections in one cycle: explicit watches (already
    seen through the project's routes), `watch_all` channels, and tag routes' channels."""

    def __init__(
        self,
        watched: Mapping[str, frozenset[str]],
        static: frozenset[str],
        tagged: Mapping[str, frozenset[str]],
    ) -> None:
        self._watched = watched
        self._static = static
        self._tagged = tagged

    def channels(self, connection_id: str) -> frozenset[str]:
        found = self._watched.get(connection_id, self._static)
        extra = self._tagged.get(connection_id)
        return found | extra if extra else found

    def every_channel(self, known: Iterable[str]) -> frozenset[str]:
        """Channels that hear about this project at all: those routed one of its `known`
        connections (outage notices and reset summaries go to these)."""
        found = set(self._static)
        for connection_id in known:
            if connection_id in self._watched or connection_id in self._tagged:
                found |= self.channels(connection_id)
        return frozenset(found)


class Watcher:
    """One poll-compare-commit cycle at a time; the loop around it is `run_watch_projects`.

    Every connection of the project is tracked, watched or not, so a channel that starts
    watching one later knows its history; alerts go only to channels routed to it.
    """

    def __init__(
        self,
        dli: ConnectionSource,
        backend: WatchBackend,
        *,
        policy: Policy = Policy(),  # noqa: B008 - frozen
        page_size: int = 0,
        cycle_timeout: float = 30.0,
        clock: Callable[[], float] = time.time,
        project: ProjectRef | None = None,
        history: bool = True,
        locale_of: Callable[[str], Locale] = lambda channel: DEFAULT_LOCALE,
    ) -> None:
        self._dli = dli
        self._history = history
        self._locale_of = locale_of
        self._subscriptions = backend.subscriptions
        self._state = backend.state
        self._resets = backend.resets
        self._policy = policy
        self._page_size = page_size
        self._timeout = cycle_timeout
        self._clock = clock
        self._project = project
        self._name = f"project {project.alias}: " if project is not None else ""
        subscriptions = backend.subscriptions
        routes = subscriptions.routes if isinstance(subscriptions, ProjectSubscriptions) else None
        self._routes = routes
        #: Tag set -> the ids DLI last listed for it (kept while a tag list fails).
        self._members: dict[TagSet, frozenset[str]] = {}

    def _reset_summary(self, channel: str, failing: list[Incident], now: float) -> Message:
        with speaking(self._locale_of(channel)):
            return messages.reset_summary(failing, noticed_at=now, project=self._project)

    async def observe_epoch(self) -> None:
        """A standby's look at the stored epoch, so that it knows a reset when it leads."""
        self._resets.observe(await self._state.epoch())

    async def cycle(self, lease_token: str | None) -> CycleOutcome:
        # Paused channels are left out (even watch_all ones): a paused channel gets nothing, not
        # even "alerted" marks that would cost it a late alert.
        watched = await self._subscriptions.all_watched()
        paused = await self._subscriptions.paused()
        static = frozenset(c for c in self._subscriptions.static_channels if c not in paused)
        snapshot = await self._state.load()
        verdict = self._resets.observe(snapshot.epoch)
        if verdict == "fresh":
            self._resets.began(await self._state.begin_epoch(new_epoch(self._clock())))
        lost = verdict == "lost"

        (connections, error, retry_after), routing = await self._poll(watched, static, paused)
        if lost:
            return await self._take_stock(snapshot, connections, error, retry_after, routing,
                                          lease_token)  # fmt: skip
        now = self._clock()
        meta, events = track_outage(
            snapshot.meta,
            ok=error is None,
            now=now,
            reason=error.detail if error else "",
            kind=error.kind if error else "",
            policy=self._policy,
        )
        all_events: list[Event] = list(events)
        states, removed = {}, frozenset[str]()
        incidents = {}
        late: list[Job] = []
        history = []
        known: Iterable[str] = snapshot.states
        if error is None:
            detection = detect(snapshot.states, connections, None, now, self._policy)
            all_events += detection.events
            # Mutes are read below, only when something is to be posted: a muted channel's
            # late alert is dropped there, after late_alerts has counted it as alerted.
            routed = late_alerts(detection.states, subscribers=routing.channels)
            current = {**detection.states, **routed.states}
            # Unchanged states are the previous objects themselves: `is` spares comparing them.
            states = {
                k: v
                for k, v in current.items()
                if (old := snapshot.states.get(k)) is not v and old != v
            }
            removed = frozenset(snapshot.states) - frozenset(current)
            incidents = {**detection.incidents, **routed.incidents}
            late = routed.jobs
            known = current
            if self._history:
                history = record(snapshot.states, states, detection.events, now)
        else:
            log.warning("%scould not list DLI connections: %s", self._name, error)
        if not all_events and not states and not removed and meta == snapshot.meta:
            return CycleOutcome(True, error is None, False, 0, retry_after)

        mutes = await self._state.mutes(now) if all_events or late else {}

        def muted(connection_id: str, channel: str) -> bool:
            return (connection_id, channel) in mutes

        late = [j for j in late if not muted(incidents[j.incident_id].connection_id, j.channel)]
        jobs = plan_jobs(
            all_events,
            subscribers=routing.channels,
            every_channel=routing.every_channel(known),
            muted=muted,
            project=self._project,
            locale_of=self._locale_of,
        )
        jobs += late
        commit = Commit(snapshot.version, meta, states, removed, incidents, jobs, history=history)
        committed = await self._state.commit(commit, lease_token=lease_token)
        if not committed:
            log.info(
                "%sanother watcher committed first or took the lease; recomputing next time",
                self._name,
            )
        return CycleOutcome(True, error is None, committed, len(jobs) if committed else 0)

    async def _poll(
        self,
        watched: Mapping[str, frozenset[str]],
        static: frozenset[str],
        paused: Mapping[str, str],
    ) -> tuple[tuple[list[Listed], ListFailure | None, float | None], _Routing]:
        """The project's list and, concurrently, one list per tag set its routes name."""
        tag_routes = self._routes.by_tags if self._routes is not None else {}
        listed, tagged = await asyncio.gather(self._list(), each_tag_set(tag_routes, self._list))
        for tags, (found, error, _) in tagged.items():
            if error is None:
                self._members[tags] = frozenset(c.id for c in found)
            else:
                log.warning("%scould not list connections tagged %s: %s", self._name, tags, error)
        by_connection: dict[str, set[str]] = {}
        sees = self._routes.sees if self._routes is not None else (lambda _: True)
        for tags, channels in tag_routes.items():
            routed = {c for c in channels if c not in paused and sees(c)}
            for connection_id in self._members.get(tags, frozenset()) if routed else ():
                by_connection.setdefault(connection_id, set()).update(routed)
        routing = _Routing(watched, static, {k: frozenset(v) for k, v in by_connection.items()})
        return listed, routing

    async def _list(
        self, tags: TagSet | None = None
    ) -> tuple[list[Listed], ListFailure | None, float | None]:
        """The project's connections (those with `tags`), or why not (and DLI's Retry-After
        when throttled)."""
        try:
            async with asyncio.timeout(self._timeout):
                if tags is None:
                    listing = self._dli.iter_listed(page_size=self._page_size)
                else:
                    tagged = cast(TaggedSource, self._dli)
                    listing = tagged.iter_listed(page_size=self._page_size, tags=dict(tags))
                return [c async for c in listing], None, None
        except DliError as exc:
            retry_after = exc.retry_after if isinstance(exc, Throttled) else None
            said = [dli_detail(exc), f"[{exc.code}]" if exc.code else "", exc.request_id or ""]
            detail = " ".join(part for part in said if part)
            return [], ListFailure(exc.kind, detail, str(exc)), retry_after
        except TimeoutError:
            took = f"listing connections took longer than {self._timeout:g}s"
            return [], ListFailure(TIMEOUT, f"{self._timeout:g} s", took), None

    async def _take_stock(
        self,
        snapshot: Snapshot,
        connections: list[Listed],
        error: ListFailure | None,
        retry_after: float | None,
        routing: _Routing,
        lease_token: str | None,
    ) -> CycleOutcome:
        """After a reset: what DLI shows now becomes the state, under a new epoch, and each
        channel gets one summary of what is FAILED instead of an alert per old failure."""
        if error is not None:
            # Without the list there is nothing to take stock of: the next cycle tries again.
            log.warning("%staking stock after a reset needs DLI, which failed: %s",
                        self._name, error)  # fmt: skip
            return CycleOutcome(True, False, False, 0, retry_after)
        now = self._clock()
        detection = detect({}, connections, None, now, self._policy)
        failing = list(detection.incidents.values())
        epoch = new_epoch(now, after_reset=True)
        jobs = [
            Job.carrying(
                f"reset:{epoch.id}:{channel}",
                channel,
                "notice",
                self._reset_summary(
                    channel,
                    [i for i in failing if channel in routing.channels(i.connection_id)],
                    now,
                ),
            )
            for channel in sorted(routing.every_channel(detection.states))
        ]
        removed = frozenset(snapshot.states) - frozenset(detection.states)
        history = record({}, detection.states, detection.events, now) if self._history else []
        commit = Commit(snapshot.version, Meta(), detection.states, removed,
                        detection.incidents, jobs, epoch, history)  # fmt: skip
        if not await self._state.commit(commit, lease_token=lease_token):
            log.info("%sanother watcher took stock first or took the lease", self._name)
            return CycleOutcome(True, True, False, 0)
        self._resets.began(epoch)
        log.warning(
            "%stook stock after the reset: %d connection(s) FAILED now, summarised in %d "
            "channel(s)",
            self._name,
            len(failing),
            len(jobs),
        )
        return CycleOutcome(True, True, True, len(jobs))


async def run_watch_projects(
    projects: Sequence[WatchedProject],
    slack: AsyncWebClient,
    *,
    stop: asyncio.Event,
    interval: float,
    options: WatchOptions = WatchOptions(),
    metrics: Metrics | None = None,
) -> None:
    """Watch every project until `stop` is set, each on its own lease, cycle and backoff (a
    slow or failing project delays no other), sharing the per-channel Slack pacing. With
    several projects, replicas share them (bot.watch.replicas)."""
    if interval <= 0:
        raise ValueError("interval must be positive")
    if not projects:
        raise ValueError("at least one project is needed")
    ttl = options.lease_ttl
    spread = Spread(projects[0].backend.board, len(projects), ttl) if len(projects) > 1 else None
    pacing = ChannelPacing()
    loops = [
        _ProjectLoop(
            p,
            slack,
            interval=interval,
            options=options,
            metrics=metrics,
            pacing=pacing,
            may_take=spread.may_take if spread is not None else None,
        )
        for p in projects
    ]
    tasks = []
    if spread is not None:
        spread.keepers = [loop.keeper for loop in loops]
        await spread.beat()  # counted before any lease is tried
        tasks.append(asyncio.create_task(spread.run(stop)))
    tasks += [asyncio.create_task(loop.run(stop)) for loop in loops]
    try:
        await asyncio.gather(*tasks)
    finally:
        stop.set()  # one project's loop ending (a bug that escaped it) stops the others
        for task in tasks:
            with suppress(asyncio.CancelledError, Exception):
                await task


class _ProjectLoop:
    """One project's lease keeper, poller and sender."""

    def __init__(
        self,
        project: WatchedProject,
        slack: AsyncWebClient,
        *,
        interval: float,
        options: WatchOptions,
        metrics: Metrics | None,
        pacing: ChannelPacing,
        may_take: Callable[[], bool] | None,
    ) -> None:
        backend, ttl = project.backend, options.lease_ttl
        self.interval = interval
        self.wake = asyncio.Event()
        # Taking the lease wakes the sender: the last holder may have left jobs in the outbox.
        self.keeper = LeaseKeeper(
            backend.state.lease(ttl),
            ttl,
            on_change=self.wake.set,
            may_take=may_take,
            name=project.project.alias if project.project is not None else "",
        )
        # The lease is renewed apart from cycles; a cycle still gets at least half a lease.
        timeout = options.cycle_timeout or max(interval, ttl / 2)
        self.watcher = Watcher(
            project.dli,
            backend,
            policy=options.policy,
            page_size=options.page_size,
            cycle_timeout=timeout,
            project=project.project,
            history=options.history,
            locale_of=options.locale_of,
        )
        self.notifier = Notifier(
            slack,
            backend.state,
            backend.subscriptions,
            per_channel_gap=options.per_channel_gap,
            claim_ttl=options.claim_ttl,
            backoff=options.send_backoff,
            metrics=metrics,
            may_post=self.keeper.valid,
            pacing=pacing,
            project=project.project,
            can_test=options.can_test,
            locale_of=options.locale_of,
            refuses=options.refuses_posts,
        )

    async def run(self, stop: asyncio.Event) -> None:
        keeper = self.keeper
        renewing = asyncio.create_task(keeper.run(stop))
        sender = asyncio.create_task(
            _send_loop(self.notifier, stop, keeper, self.wake, self.interval)
        )
        try:
            await _poll_loop(self.watcher, keeper, stop, self.wake, self.interval)
        finally:
            stop.set()
            for task in (sender, renewing):
                with suppress(asyncio.CancelledError):
                    await task
            with suppress(StoreUnavailable):
                await keeper.lease.release()


async def _poll_loop(
    watcher: Watcher,
    keeper: LeaseKeeper,
    stop: asyncio.Event,
    wake: asyncio.Event,
    interval: float,
) -> None:
    next_poll = 0.0
    failures = 0
    store_down = False
    was_held = False
    while not stop.is_set():
        _raise_if_cancelled()
        keeper.changed.clear()
        # Polls start at a fixed rate, not an interval after the last one ended: a change is
        # seen within one interval plus one cycle, however long cycles take.
        started = time.monotonic()
        held = keeper.valid()
        if held and not was_held:
            next_poll = 0.0  # just taken over: what the last holder missed is seen at once
        was_held = held
        try:
            if not held:
                await watcher.observe_epoch()
            elif started >= next_poll:
                outcome = await watcher.cycle(keeper.token)
                failures = 0 if outcome.dli_ok else failures + 1
                next_poll = started + _poll_period(interval, failures, outcome.retry_after)
                if outcome.jobs:
                    wake.set()
            if store_down:
                log.info("watcher state store is back")
                store_down = False
        except StoreUnavailable as exc:
            if not store_down:
                log.warning("watcher state store unavailable, skipping cycles: %s", exc)
                store_down = True
        except Exception:  # broad: a bug in a cycle is logged, the loop goes on (see top)
            failures += 1
            next_poll = started + _poll_period(interval, failures, None)
            log.exception("watch cycle failed; polling again in %.1fs", next_poll - started)
        wake_at = started + interval
        if started < next_poll < wake_at:
            wake_at = next_poll
        # Woken early when the lease is taken or lost.
        await sleep_until(stop, keeper.changed, wake_at - time.monotonic())


def _raise_if_cancelled() -> None:
    """Stop on a cancellation that was requested but swallowed on its way.

    Python 3.11's asyncio.wait_for (redis-py wraps its socket writes in it) returns the result
    instead of raising when the cancellation arrives just as the write completes; the request
    stays recorded on the task, so it is honoured here rather than looping on forever.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _poll_period(interval: float, failures: int, retry_after: float | None) -> float:
    """From one poll's start to the next: an interval, longer while DLI fails or throttles."""
    return max(_backoff(interval, failures), retry_after or 0.0)


def _backoff(interval: float, failures: int) -> float:
    """An interval, doubling with each consecutive failure up to a cap."""
    if failures == 0:
        return interval
    return interval * min(2.0 ** (failures - 1), _MAX_BACKOFF_INTERVALS)


async def _send_loop(
    notifier: Notifier,
    stop: asyncio.Event,
    keeper: LeaseKeeper,
    wake: asyncio.Event,
    interval: float,
) -> None:
    failures = 0
    while not stop.is_set():
        wait = interval
        if keeper.valid():
            try:
                # Jobs also arrive from other processes (acknowledgements): look every interval.
                wait = min(await notifier.drain(), interval)
                failures = 0
            except StoreUnavailable as exc:
                log.warning("outbox unavailable: %s", exc)
            except Exception:  # broad: a bug in a drain is logged, the sender goes on (see top)
                failures += 1
                wait = _backoff(interval, failures)
                log.exception("draining the outbox failed; trying again in %.1fs", wait)
        wake.clear()
        # Not woken early after a failure: a wake-up would undo the backoff.
        await sleep_until(stop, None if failures else wake, wait)
