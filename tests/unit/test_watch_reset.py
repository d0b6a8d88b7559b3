"""A reset of the watcher's store: the epoch tracker's verdicts, the summary a channel gets,
and the cycle that takes stock instead of alerting every open failure again."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.blocks.render import render_text
from bot.dli.models import ListedConnection, ListedQueue
from bot.metrics import Metrics
from bot.watch.backend import WatchBackend
from bot.watch.epoch import ResetTracker, new_epoch
from bot.watch.messages import reset_summary
from bot.watch.runner import Watcher
from bot.watch.state import MemoryWatchStore
from bot.watch.subscriptions import MemorySubscriptionStore
from tests.slack_limits import assert_within_slack_limits
from tests.unit.test_watch_messages import CID, HOSTILE, incident

STATIC = "CSTATIC"
FAILING = ListedConnection(
    id=CID,
    name="orders",
    status="ACTIVE",
    available_queue_info=(ListedQueue("q1", "FAILED", "peering lost"), ListedQueue("q2", "ACTIVE")),
)


class Listing:
    async def iter_listed(self, *, page_size: int = 0) -> AsyncIterator[ListedConnection]:
        yield FAILING


def test_the_tracker_tells_a_first_start_from_a_reset_and_counts_it_once() -> None:
    metrics = Metrics()
    tracker = ResetTracker(metrics, clock=lambda: 1_700_000_000.0)
    assert tracker.observe(None) == "fresh"
    first = new_epoch(1_699_000_000.0)
    tracker.began(first)
    assert tracker.observe(first) == "ok" and tracker.describe() == "ok"
    assert tracker.observe(None) == "lost"
    assert tracker.observe(None) == "lost"  # still lost, not a second reset
    # The watcher that took stock began a new epoch: the same reset, not another one.
    assert tracker.observe(new_epoch(1_700_000_005.0, after_reset=True)) == "ok"
    sample = metrics.registry.get_sample_value
    assert sample("dliconn_watch_state_resets_total") == 1
    assert sample("dliconn_watch_state_last_reset_timestamp_seconds") == 1_700_000_000.0
    assert tracker.describe().startswith("reset at 2023-11-14T22:13:20Z")


def test_a_process_started_after_a_reset_still_reports_it() -> None:
    tracker = ResetTracker(Metrics())
    assert tracker.observe(new_epoch(1_700_000_000.0, after_reset=True)) == "ok"
    assert "reset at" in tracker.describe()
    other = ResetTracker()
    assert other.observe(new_epoch(1_700_000_000.0)) == "ok" and other.describe() == "ok"


def test_the_summary_lists_what_fails_within_slack_limits_and_inert() -> None:
    many = [incident(queues=9).model_copy(update={"id": f"i{n}"}) for n in range(40)]
    for incidents in ([], [incident()], many):
        message = reset_summary(incidents, noticed_at=1_700_000_000.0)
        assert_within_slack_limits(message)
        assert "memory was reset" in message.text
    shown = render_text(reset_summary([incident(queues=2)], noticed_at=1_700_000_000.0))
    assert "already failing" in shown and CID in shown and "q0" in shown and "q1" in shown
    assert "<!channel>" not in shown and HOSTILE not in shown
    assert "and 25 more" in render_text(reset_summary(many, noticed_at=1_700_000_000.0))
    assert "Nothing watched" in render_text(reset_summary([], noticed_at=1_700_000_000.0))


@pytest.fixture
def subscriptions() -> MemorySubscriptionStore:
    return MemorySubscriptionStore(static_channels=[STATIC])


async def test_after_a_reset_a_channel_gets_one_summary_instead_of_the_alert_again(
    subscriptions: MemorySubscriptionStore,
) -> None:
    before = WatchBackend(subscriptions, MemoryWatchStore())
    first = await Watcher(Listing(), before).cycle(None)
    [alert] = await before.state.pending()
    assert first.committed and alert.kind == "alert"
    # The store comes back empty; this process still knows the epoch it had.
    after = WatchBackend(subscriptions, MemoryWatchStore(), resets=before.resets)
    stock = await Watcher(Listing(), after).cycle(None)
    [summary] = await after.state.pending()
    assert stock.committed and summary.kind == "notice" and summary.channel == STATIC
    assert "orders" in summary.text or "orders" in str(summary.blocks)
    epoch = await after.state.epoch()
    assert epoch is not None and epoch.after_reset
    # The next cycles see the recorded state: nothing more to post for the old failure.
    assert not (await Watcher(Listing(), after).cycle(None)).jobs
    assert len(await after.state.pending()) == 1
