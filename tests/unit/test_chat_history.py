"""`/dliconn history` through the chat features: the window, totals, paging and plain answers."""

from __future__ import annotations

from bot.blocks.actions import ACTION_HISTORY
from bot.blocks.history import parse_cursor, span
from bot.chat.parsing import Help, History, parse_command
from bot.watch.history import HistoryEntry, tallied
from bot.watch.state import Commit, WatchStore
from bot.watch.transitions import BindingState, ConnState, Meta
from tests.fakes.chat import ChatParts, buttons, chat_parts, connection_id, healthy, text_of
from tests.slack_limits import assert_within_slack_limits

ORDERS = connection_id(1)
HOUR = 3600.0


async def seen(
    state: WatchStore, *entries: HistoryEntry, failed_since: float | None = None
) -> None:
    """A watcher commit: the connection's state (q1 FAILED since `failed_since`, if given)."""
    bindings = {}
    if failed_since is not None:
        bindings["queue:q1"] = BindingState(
            name="q1", kind="queue", status="FAILED", since=failed_since
        )
    changed = {ORDERS: ConnState(name="orders", status="ACTIVE", bindings=bindings)}
    version = (await state.load()).version
    commit = Commit(version, Meta(), changed, history=tallied(changed, entries))
    assert await state.commit(commit, lease_token=None)


def failure(at: float, err: str, *, binding: str = "queue:q1") -> HistoryEntry:
    return HistoryEntry(ORDERS, "status", at, binding, "ACTIVE", "FAILED", at, err)


def recovery(at: float, down: float, *, binding: str = "queue:q1") -> HistoryEntry:
    return HistoryEntry(ORDERS, "status", at, binding, "FAILED", "ACTIVE", at, "", down)


def now_of(parts: ChatParts) -> float:
    return parts.clock.now().timestamp()


def test_the_grammar_takes_a_window_and_defaults_to_seven_days() -> None:
    assert parse_command("history orders") == History("orders", "7d")
    assert parse_command(f"history {ORDERS.upper()} 24H") == History(ORDERS, "24h")
    assert parse_command("history orders 31d") == Help(
        'not a history window: "31d"; use hours or days up to 30d, such as 24h, 7d, 30d'
    )
    assert parse_command("history a b c") == Help(
        "history takes one connection id or name, and a window such as 24h, 7d, 30d"
    )
    assert History("orders", "30d").window_seconds == 30 * 86400


def test_spans_read_to_the_minute() -> None:
    assert [span(s) for s in (5, 60, 3599, 3600, 3660, 86400, 90000)] == [
        "under a minute", "1 min", "59 min", "1 h", "1 h 1 min", "1 d", "1 d 1 h"
    ]  # fmt: skip


async def test_when_the_watcher_has_not_run_the_reply_says_so() -> None:
    async with chat_parts(healthy(ORDERS, "orders")) as parts:
        reply = await parts.chat.history.history("orders", channel="C1")
    assert "No history for orders: the watcher has not run for project default yet" in (
        text_of(reply.message)
    )
    assert "python -m bot watch" in text_of(reply.message)


async def test_a_connection_the_watcher_never_saw_is_said_so() -> None:
    other = connection_id(2)
    async with chat_parts(healthy(ORDERS, "orders"), healthy(other, "billing")) as parts:
        await seen(parts.watch.state)
        reply = await parts.chat.history.history("billing", channel="C1")
    assert "The watcher has never seen billing" in text_of(reply.message)


async def test_unknown_connections_are_not_found_before_any_history_is_read() -> None:
    async with chat_parts(healthy(ORDERS, "orders")) as parts:
        reply = await parts.chat.history.history(connection_id(9), channel="C1")
    assert not reply.shareable and "was found" in text_of(reply.message)


async def test_the_timeline_shows_failures_with_err_msg_downtime_and_totals() -> None:
    async with chat_parts(healthy(ORDERS, "orders")) as parts:
        now = now_of(parts)
        await seen(
            parts.watch.state,
            failure(now - 3 * 86400, "too old for 24h"),
            recovery(now - 3 * 86400 + 600, 600),
            failure(now - 5 * HOUR, "peering lost"),
            recovery(now - 4 * HOUR, HOUR),
            failure(now - 2 * HOUR, "DNS <!here> `x`"),
            recovery(now - 2 * HOUR + 1200, 1200),
            failure(now - 600, "still broken"),
            failed_since=now - 600,
        )
        week = await parts.chat.command(parse_command("history orders"), ephemeral=True,
                                        channel="C1", user="U1")  # fmt: skip
        day = await parts.chat.history.history(ORDERS, "24h", channel="C1")
    for reply in (week, day):
        assert reply.shareable
        assert_within_slack_limits(reply.message)
    text = text_of(day.message)
    assert "Last 24h: 3 failures · down 1 h 30 min in all" in text
    assert "mean time to recover 40 min (2 recoveries)" in text
    assert "queue q1 is still FAILED, for 10 min so far" in text
    assert "peering lost" in text and "DNS <!here> `x`" in text and "too old" not in text
    assert "ACTIVE → 🔴 FAILED · still FAILED" in text
    assert "ACTIVE → 🔴 FAILED · down 20 min" in text
    assert "FAILED → 🟢 ACTIVE · recovered after 1 h" in text
    # Newest first.
    assert text.index("still broken") < text.index("DNS") < text.index("peering lost")
    week_text = text_of(week.message)
    assert "Last 7d: 4 failures" in week_text and "too old for 24h" in week_text
    assert "mean time to recover 30 min (3 recoveries)" in week_text


async def test_pages_cover_the_window_once_each_and_fit_slack() -> None:
    async with chat_parts(healthy(ORDERS, "orders")) as parts:
        now = now_of(parts)
        errors = [f"error number {n} " + "x" * 400 for n in range(60)]
        await seen(parts.watch.state, *(failure(now - 3000 + n, errors[n]) for n in range(60)))
        reply = await parts.chat.history.history(ORDERS, channel="C1")
        shown: list[str] = []
        for _ in range(60):
            assert_within_slack_limits(reply.message)
            text = text_of(reply.message)
            assert "Last 7d: 60 failures" in text  # the whole window's, on every page
            on_page = [e for e in errors if e.split(" x")[0] + " " in text]
            shown += sorted(on_page, key=lambda e: text.index(e.split(" x")[0] + " "))
            older = [value for action, value in buttons(reply.message) if action == ACTION_HISTORY]
            if not older:
                break
            assert older[0] is not None
            cid, window, before = parse_cursor(older[0])
            assert (cid, window) == (ORDERS, "7d")
            reply = await parts.chat.history.history(cid, window, channel="C1", before=before)
    assert shown == errors[::-1]


async def test_a_tampered_button_value_gets_the_first_page_of_seven_days() -> None:
    async with chat_parts(healthy(ORDERS, "orders")) as parts:
        await seen(parts.watch.state, failure(now_of(parts) - 60, "boom"))
        reply = await parts.chat.history.history(ORDERS, "999y", channel="C1", before="x|y")
    assert "Last 7d: 1 failure" in text_of(reply.message)


async def test_a_failure_older_than_the_window_counts_only_its_part_in_the_window() -> None:
    async with chat_parts(healthy(ORDERS, "orders")) as parts:
        now = now_of(parts)
        # FAILED for 40 days (as DLI's update_time says) when the watcher first saw it.
        await seen(parts.watch.state, failure(now - 600, "down"), failed_since=now - 40 * 86400)
        day = await parts.chat.history.history(ORDERS, "24h", channel="C1")
    text = text_of(day.message)
    assert "down 1 d in all" in text  # the window's whole day, not 40
    assert "queue q1 is still FAILED, for 40 d so far" in text
