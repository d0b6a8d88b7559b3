"""The watcher's multi-project parts in one process: every connection tracked and a late
subscriber alerted once, outage notices per project naming it, the replicas' fair share, and one
per-channel pacing for every project's sender."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Final

from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.message import Message
from bot.blocks.render import render_text
from bot.dli.models import ListedConnection, ListedQueue
from bot.errors import Unavailable
from bot.local.fake_slack import FakeSlackApi
from bot.lookup.cache import ProjectRef
from bot.watch.backend import build_watch_backends
from bot.watch.jobs import Job, late_alerts
from bot.watch.lease import LeaseKeeper, MemoryLease
from bot.watch.notifier import ChannelPacing, Notifier
from bot.watch.replicas import Spread, fair_share
from bot.watch.routes import ProjectRoutes
from bot.watch.runner import WatchedProject, Watcher, WatchOptions, run_watch_projects
from bot.watch.state import MemoryWatchStore
from bot.watch.subscriptions import MemorySubscriptionStore
from bot.watch.transitions import Policy, detect

CID: Final = "4c693ecc-bab8-4113-a838-129cedc9a563"
PROD: Final = ProjectRef("prod", "cn-north-4")


def listed(status: str) -> ListedConnection:
    return ListedConnection(
        id=CID, name="orders", status="ACTIVE", available_queue_info=(ListedQueue("q1", status),)
    )


class Listing:
    """A DLI list answering `connections`, or failing while `failing` is set."""

    def __init__(self, *connections: ListedConnection) -> None:
        self.connections = list(connections)
        self.failing = False

    async def iter_listed(self, *, page_size: int = 0) -> AsyncIterator[ListedConnection]:
        if self.failing:
            raise Unavailable("DLI answered 503")
        for connection in self.connections:
            yield connection


def test_a_channel_that_starts_watching_an_open_incident_is_alerted_once() -> None:
    opened = detect({}, [listed("FAILED")], None, 1000.0)
    [incident] = opened.incidents.values()
    # Nobody watched when it failed: it is settled with no channel alerted.
    quiet = late_alerts(opened.states, subscribers=lambda _: frozenset())
    assert quiet.jobs == [] and quiet.states[CID].incidents[incident.id].alerted == ()
    later = late_alerts(quiet.states, subscribers=lambda _: {"C1"})
    assert [(j.channel, j.kind, j.incident_id) for j in later.jobs] == [
        ("C1", "alert", incident.id)
    ]
    # Alerted once: neither the next cycle nor watching again after unwatching alerts again.
    again = {**quiet.states, **later.states}
    assert late_alerts(again, subscribers=lambda _: {"C1"}).jobs == []
    gone = late_alerts(again, subscribers=lambda _: frozenset())
    assert gone.jobs == [] and gone.states == {}
    assert late_alerts(again, subscribers=lambda _: {"C1"}).jobs == []


def test_an_incident_recorded_before_routes_existed_is_adopted_quietly() -> None:
    opened = detect({}, [listed("FAILED")], None, 1000.0)
    adopted = late_alerts(opened.states, subscribers=lambda _: {"C1", "C2"})
    assert adopted.jobs == []
    [incident] = adopted.incidents.values()
    assert incident.alerted == ("C1", "C2")


async def test_a_muted_channel_counts_as_alerted_and_gets_no_late_alert() -> None:
    [backend] = build_watch_backends(None, [("p1", ProjectRoutes("prod"))])
    watcher = Watcher(Listing(listed("FAILED")), backend, clock=lambda: 1000.0, project=PROD)
    await watcher.cycle(None)  # nobody watches yet: the incident opens quietly
    for channel in ("C1", "C2"):
        await backend.subscriptions.subscribe(channel, CID, "orders", "U1")
    await backend.state.mute(CID, "C2", until=2000.0, user="U1")
    await watcher.cycle(None)
    assert [(j.channel, j.kind) for j in await backend.state.pending()] == [("C1", "alert")]
    [incident] = (await backend.state.load()).states[CID].incidents.values()
    assert incident.alerted == ("C1", "C2")
    # Unmuted while the incident is still open: C2 counted as alerted, so nothing comes late.
    for job in await backend.state.pending():
        await backend.state.finish(job)
    await backend.state.unmute(CID, "C2")
    await watcher.cycle(None)
    assert await backend.state.pending() == []


async def test_unwatched_connections_are_tracked_and_a_later_watch_gets_one_alert() -> None:
    [backend] = build_watch_backends(None, [("p1", ProjectRoutes("prod"))])
    source = Listing(listed("FAILED"))
    watcher = Watcher(source, backend, project=PROD)
    nothing = await watcher.cycle(None)
    assert nothing.polled and nothing.committed and nothing.jobs == 0  # polled, tracked
    assert CID in (await backend.state.load()).states
    await backend.subscriptions.subscribe("C1", CID, "orders", "U1")
    alerted = await watcher.cycle(None)
    [job] = await backend.state.pending()
    assert alerted.jobs == 1 and (job.channel, job.kind) == ("C1", "alert")
    assert (await watcher.cycle(None)).jobs == 0


async def test_a_paused_watch_all_channel_gets_nothing_then_its_late_alert() -> None:
    routes = ProjectRoutes("prod", watch_all=frozenset({"CALL"}))
    [backend] = build_watch_backends(None, [("p1", routes)])
    watcher = Watcher(Listing(listed("FAILED")), backend, project=PROD)
    await backend.subscriptions.subscribe("C1", CID, "orders", "U1")  # an explicit watch too
    await backend.subscriptions.pause("CALL", "not_in_channel")
    await watcher.cycle(None)
    assert [j.channel for j in await backend.state.pending()] == ["C1"]
    for job in await backend.state.pending():
        await backend.state.finish(job)
    # Someone watches something there: the bot is back in the channel, which is unpaused.
    await backend.subscriptions.subscribe("CALL", "another-connection", "other", "U1")
    await watcher.cycle(None)
    assert [(j.channel, j.kind) for j in await backend.state.pending()] == [("CALL", "alert")]


async def test_outage_notices_are_per_project_and_name_it() -> None:
    shared = build_watch_backends(
        None, [("p1", ProjectRoutes("prod")), ("p2", ProjectRoutes("sg"))]
    )
    prod_dli, sg_dli = Listing(listed("ACTIVE")), Listing(listed("ACTIVE"))
    prod_dli.connections = [listed("ACTIVE")]
    sg_dli.connections = [
        ListedConnection(id="sg-conn-1", name="ledger", status="ACTIVE", available_queue_info=())
    ]
    await shared[0].subscriptions.subscribe("CPROD", CID, "orders", "U1")
    await shared[1].subscriptions.subscribe("CSG", "sg-conn-1", "ledger", "U1")
    policy = Policy(outage_after=1)
    prod = Watcher(prod_dli, shared[0], policy=policy, project=PROD)
    sg = Watcher(sg_dli, shared[1], policy=policy, project=ProjectRef("sg", "ap-southeast-3"))
    await prod.cycle(None), await sg.cycle(None)
    sg_dli.failing = True
    await prod.cycle(None), await sg.cycle(None)
    assert await shared[0].state.pending() == []
    [notice] = await shared[1].state.pending()
    shown = render_text(Message(notice.text, notice.blocks))
    assert notice.channel == "CSG" and "Cannot reach DLI" in shown
    assert "sg · ap-southeast-3" in shown


class Board:
    def __init__(self, replicas: int) -> None:
        self.replicas = replicas

    async def beat(self, ttl: float) -> int:
        return self.replicas

    async def leave(self) -> None:
        return None


async def test_replicas_take_a_fair_share_and_give_extras_back_one_at_a_time() -> None:
    assert [fair_share(20, n) for n in (1, 2, 3, 21)] == [20, 10, 7, 1]
    board = Board(replicas=1)
    spread = Spread(board, projects=4, ttl=6.0)
    leases: dict[str, tuple[str, float]] = {}
    keepers = [
        LeaseKeeper(MemoryLease(leases, f"p{i}", 6.0), 6.0, may_take=spread.may_take)
        for i in range(4)
    ]
    spread.keepers = keepers
    await spread.beat()
    for keeper in keepers:
        await keeper.renew_once()
    assert spread.held() == 4
    board.replicas = 2
    await spread.beat()  # once over its share: a count while a replica starts moves nothing
    assert spread.held() == 4
    await spread.beat()
    await spread.beat()
    assert spread.held() == 2 and spread.share == 2
    # At its share it does not take the free ones back (another replica is to).
    for keeper in keepers:
        await keeper.renew_once()
    assert spread.held() == 2


async def test_a_keeper_held_back_for_a_whole_ttl_takes_a_free_lease_anyway() -> None:
    now = [0.0]
    leases: dict[str, tuple[str, float]] = {}
    keeper = LeaseKeeper(
        MemoryLease(leases, "p", 6.0, clock=lambda: now[0]),
        6.0,
        clock=lambda: now[0],
        may_take=lambda: False,
    )
    assert not await keeper.renew_once()
    now[0] = 5.9
    assert not await keeper.renew_once()
    now[0] = 6.0
    assert await keeper.renew_once()


async def test_two_projects_senders_share_one_channels_pacing() -> None:
    pacing = ChannelPacing()
    async with FakeSlackApi() as slack:
        client = AsyncWebClient(token="xoxb-pacing", base_url=slack.url)
        stores = [MemoryWatchStore(), MemoryWatchStore()]
        notifiers = [
            Notifier(client, store, MemorySubscriptionStore(), per_channel_gap=60.0, pacing=pacing)
            for store in stores
        ]
        for n, store in enumerate(stores):
            await store.enqueue([Job(id=f"n{n}", channel="C1", kind="notice", text=f"n{n}")])
        await notifiers[0].drain()
        wait = await notifiers[1].drain()
    # The second project's post waits for the channel's gap after the first project's.
    assert len(slack.calls_to("chat.postMessage")) == 1 and wait > 30.0
    assert [j.id for j in await stores[1].pending()] == ["n1"]


async def test_a_held_project_does_not_hold_up_the_others_alert() -> None:
    held, release = asyncio.Event(), asyncio.Event()

    class Held(Listing):
        async def iter_listed(self, *, page_size: int = 0) -> AsyncIterator[ListedConnection]:
            held.set()
            await release.wait()
            yield listed("ACTIVE")

    backends = build_watch_backends(
        None, [("p1", ProjectRoutes("prod")), ("p2", ProjectRoutes("sg"))]
    )
    await backends[0].subscriptions.subscribe("CPROD", CID, "orders", "U1")
    stop = asyncio.Event()
    async with FakeSlackApi() as slack:
        client = AsyncWebClient(token="xoxb-held", base_url=slack.url)
        projects = [
            WatchedProject(Listing(listed("FAILED")), backends[0], PROD),
            WatchedProject(Held(), backends[1], ProjectRef("sg")),
        ]
        loop = asyncio.create_task(
            run_watch_projects(projects, client, stop=stop, interval=0.05,
                               options=WatchOptions(per_channel_gap=0.0))
        )  # fmt: skip
        try:
            await held.wait()
            [alert] = await slack.wait_for("chat.postMessage", timeout=5)
            assert not release.is_set()  # sg's list is still held
        finally:
            release.set()
            stop.set()
            await loop
    assert alert.channel == "CPROD" and "prod · cn-north-4" in render_text(
        Message(str(alert.body["text"]), alert.body["blocks"])
    )
