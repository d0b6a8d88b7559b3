"""The watcher loop's timing: polls at a fixed rate, and a cancellation always stops it."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable
from types import SimpleNamespace
from typing import Final

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.dli.models import ListedConnection, ListedQueue
from bot.watch import runner
from bot.watch.backend import WatchBackend
from bot.watch.runner import WatchedProject, run_watch_projects
from bot.watch.state import MemoryWatchStore
from bot.watch.subscriptions import MemorySubscriptionStore
from tests.fakes.virtual_time import VirtualTimeLoop

CID: Final = "4c693ecc-bab8-4113-a838-129cedc9a563"
HEALTHY: Final = ListedConnection(
    id=CID, name="orders", status="ACTIVE", available_queue_info=(ListedQueue("q1", "ACTIVE"),)
)


class SlowList:
    """A DLI list that takes `seconds`, recording when (by `clock`) each call started."""

    def __init__(self, seconds: float, calls: int, clock: Callable[[], float]) -> None:
        self.seconds = seconds
        self.starts: list[float] = []
        self.enough = asyncio.Event()
        self._calls = calls
        self._clock = clock

    async def iter_listed(self, *, page_size: int = 0) -> AsyncIterator[ListedConnection]:
        self.starts.append(self._clock())
        if len(self.starts) >= self._calls:
            self.enough.set()
        await asyncio.sleep(self.seconds)
        yield HEALTHY


class SwallowingList:
    """A DLI list whose I/O loses a cancellation (once), as Python 3.11's asyncio.wait_for does
    when it arrives just as the awaited operation completes."""

    def __init__(self) -> None:
        self.listing = asyncio.Event()

    async def iter_listed(self, *, page_size: int = 0) -> AsyncIterator[ListedConnection]:
        if not self.listing.is_set():
            self.listing.set()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(30)
        yield HEALTHY


async def watched_backend() -> WatchBackend:
    backend = WatchBackend(MemorySubscriptionStore(), MemoryWatchStore())
    await backend.subscriptions.subscribe("C1", CID, "orders", "U1")
    return backend


def slack() -> AsyncWebClient:
    return AsyncWebClient(token="xoxb-unused", base_url="http://127.0.0.1:9/")  # never posts


def test_polls_start_an_interval_apart_however_long_listing_takes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # On virtual time, so the gaps are exact: the loop's clock is the one the runner reads.
    virtual = VirtualTimeLoop()
    monkeypatch.setattr(runner, "time", SimpleNamespace(monotonic=virtual.time))
    interval = 0.2
    # A list taking 60% of the interval: polls an interval apart from their starts, not an
    # interval after the previous one ended (which would be 0.32 s apart).
    source = SlowList(0.6 * interval, calls=6, clock=virtual.time)

    async def watch() -> None:
        stop = asyncio.Event()
        loop = asyncio.create_task(
            run_watch_projects(
                [WatchedProject(source, await watched_backend())],
                slack(),
                stop=stop,
                interval=interval,
            )
        )
        try:
            await source.enough.wait()
        finally:
            stop.set()
            await loop

    try:
        virtual.run_until_complete(watch())
    finally:
        virtual.close()
    gaps = [b - a for a, b in itertools.pairwise(source.starts)]
    assert gaps == pytest.approx([interval] * 5)


async def test_a_cancellation_lost_inside_a_cycle_still_stops_the_loop() -> None:
    source = SwallowingList()
    stop = asyncio.Event()
    loop = asyncio.create_task(
        run_watch_projects(
            [WatchedProject(source, await watched_backend())], slack(), stop=stop, interval=0.01
        )
    )
    try:
        async with asyncio.timeout(5):
            await source.listing.wait()
        loop.cancel()
        # Not `await loop` under a timeout: that would cancel it again on expiry.
        await asyncio.wait([loop], timeout=5)
        assert loop.cancelled()
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await loop
