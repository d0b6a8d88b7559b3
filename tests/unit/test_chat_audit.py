"""The audit trail in chat: a change recorded once with its outcome (`audited`, and the features
that use it), and `/dliconn audit [N]`: newest first, bounded, per channel, store down said."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

import pytest

from bot.audit import AuditEntry, AuditLog, MemoryAuditStore
from bot.blocks.message import Message
from bot.blocks.replies import notice
from bot.blocks.text import words
from bot.chat.audit import AuditTrail, Note, audited
from bot.chat.parsing import MAX_AUDIT_ENTRIES, parse_command
from bot.errors import (
    BadResponse,
    DliError,
    NotFound,
    StoreUnavailable,
    Throttled,
    Unavailable,
)
from tests.fakes.chat import (
    UNAVAILABLE,
    ChatParts,
    chat_parts,
    connection_id,
    healthy,
    text_of,
)

ORDERS = connection_id(1)
UNKNOWN = connection_id(9)
ALICE, BOB = "U0ALICE", "U0BOB"
DONE = notice([words("done")], fallback="done")


class DownAuditStore:
    """An audit store whose Redis is unreachable: every call fails as RedisStore's rule says."""

    def __init__(self) -> None:
        self.calls = 0

    async def add(self, entry: AuditEntry) -> None:
        self.calls += 1
        raise StoreUnavailable("redis down")

    async def recent(self, channel: str, count: int) -> list[AuditEntry]:
        self.calls += 1
        raise StoreUnavailable("redis down")

    async def aclose(self) -> None:
        return None


def trail() -> AuditLog:
    return AuditLog(MemoryAuditStore())


def row(entry: AuditEntry) -> tuple[str, str, str, str, str, str | None, str]:
    return (
        entry.user, entry.channel, entry.verb, entry.action, entry.connection, entry.project,
        entry.result,
    )  # fmt: skip


# --------------------------------------------------------------------------- audited


async def test_a_change_is_recorded_once_with_what_its_work_noted() -> None:
    log = trail()

    async def work(note: Note) -> Message:
        note.connection, note.project = ORDERS, "prod"
        return DONE

    done = await audited(log, "watch", "watch", "orders", "C1", ALICE, work)
    assert done is DONE
    [entry] = await log.recent("C1", 10)
    assert row(entry) == (ALICE, "C1", "watch", "watch", ORDERS, "prod", "ok")


async def test_a_change_that_names_nothing_keeps_the_target_as_typed() -> None:
    log = trail()

    async def work(note: Note) -> Message:
        note.result = "unchanged: the name matches several connections"
        return DONE

    await audited(log, "watch", "unwatch", "orders", "C1", ALICE, work)
    [entry] = await log.recent("C1", 10)
    assert (entry.connection, entry.project) == ("orders", None)
    assert entry.result == "unchanged: the name matches several connections"


@pytest.mark.parametrize(
    ("error", "result"),
    [
        (NotFound("no such connection"), "failed: not found"),
        (Throttled("slow down", retry_after=1.0), "failed: DLI throttled"),
        (Unavailable("DLI is down"), "failed: DLI unavailable"),
        (BadResponse("not JSON"), "failed: DLI bad_response"),
        (DliError("DLI said no"), "failed: DLI error"),
        (StoreUnavailable("redis down"), "failed: storage unavailable"),
        (RuntimeError("a bug"), "failed: unexpected error"),
    ],
)
async def test_a_change_that_fails_is_recorded_once_with_why_and_the_error_goes_on(
    error: Exception, result: str
) -> None:
    log = trail()

    async def work(note: Note) -> Message:
        note.connection, note.project = ORDERS, "prod"
        note.result = "unchanged: already watched"  # what it would have said; it failed after
        raise error

    with pytest.raises(type(error)) as raised:
        await audited(log, "mute", "mute 4 h", ORDERS, "C1", ALICE, work)
    assert raised.value is error
    [entry] = await log.recent("C1", 10)
    assert row(entry) == (ALICE, "C1", "mute", "mute 4 h", ORDERS, "prod", result)


async def test_a_change_cut_off_before_it_ends_is_not_recorded_as_ok() -> None:
    # Cancelled: a shutdown past its drain, the task of a reply given up on.
    log, started = trail(), asyncio.Event()

    async def work(note: Note) -> Message:
        note.connection = ORDERS
        started.set()
        await asyncio.Event().wait()  # never done
        return DONE

    change = asyncio.create_task(audited(log, "watch", "watch", ORDERS, "C1", ALICE, work))
    await started.wait()
    change.cancel()
    with pytest.raises(asyncio.CancelledError):
        await change
    [entry] = await log.recent("C1", 10)
    assert (entry.connection, entry.result) == (ORDERS, "failed: unexpected error")


async def test_a_change_is_made_even_when_the_trail_cannot_be_written(
    caplog: pytest.LogCaptureFixture,
) -> None:
    down = DownAuditStore()
    caplog.set_level(logging.INFO, logger="bot.audit")

    async def work(note: Note) -> Message:
        return DONE

    assert await audited(AuditLog(down), "ack", "ack", ORDERS, "C1", ALICE, work) is DONE
    assert down.calls == 1
    # The log line still tells it.
    assert [r.getMessage() for r in caplog.records if r.getMessage().startswith("audit {")]


# --------------------------------------------------------------------------- through the features


async def test_each_watch_is_recorded_once_with_its_outcome() -> None:
    async with chat_parts(healthy(ORDERS, "orders")) as parts:
        await parts.chat.watching.watch(ORDERS, channel="C1", user=ALICE)
        await parts.chat.watching.watch("orders", channel="C1", user=BOB)
        await parts.chat.watching.watch(UNKNOWN, channel="C1", user=BOB)
        await parts.chat.watching.unwatch(ORDERS, channel="C1", user=ALICE)
        parts.dli.fail(UNAVAILABLE, request_id="req-down")
        await parts.chat.watching.watch(connection_id(7), channel="C1", user=BOB)
        entries = await parts.services.audit.recent("C1", 10)
    assert [row(e) for e in reversed(entries)] == [
        (ALICE, "C1", "watch", "watch", ORDERS, "default", "ok"),
        (BOB, "C1", "watch", "watch", ORDERS, "default", "unchanged: already watched"),
        (BOB, "C1", "watch", "watch", UNKNOWN, None, "failed: not found"),
        (ALICE, "C1", "watch", "unwatch", ORDERS, "default", "ok"),
        (BOB, "C1", "watch", "watch", connection_id(7), None, "failed: DLI unavailable"),
    ]


async def test_a_watch_the_store_refuses_is_recorded_as_a_storage_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def store_down(*_: object) -> bool:
        raise StoreUnavailable("redis down")

    async with chat_parts(healthy(ORDERS, "orders")) as parts:
        # Redis refusing the write, as RedisSubscriptionStore raises it.
        monkeypatch.setattr(parts.services.subscriptions, "subscribe", store_down)
        reply = await parts.chat.watching.watch(ORDERS, channel="C1", user=ALICE)
        [entry] = await parts.services.audit.recent("C1", 10)
    assert "storage (Redis) is unreachable" in text_of(reply.message)
    assert row(entry) == (ALICE, "C1", "watch", "watch", ORDERS, "default",
                          "failed: storage unavailable")  # fmt: skip


# --------------------------------------------------------------------------- /dliconn audit [N]


async def audit(parts: ChatParts, text: str, channel: str = "C1") -> str:
    reply = await parts.chat.command(parse_command(text), ephemeral=True, channel=channel,
                                     user=BOB)  # fmt: skip
    assert not reply.shareable  # it names people: never posted for the channel
    return text_of(reply.message)


async def mutes(parts: ChatParts, hours: range, channel: str = "C1") -> None:
    """One recorded change per hour count, in order (mutes need no DLI)."""
    for h in hours:
        await parts.chat.watching.mute(ORDERS, h, channel=channel, user=ALICE)


def shown_mutes(text: str) -> list[int]:
    """The hours of the mutes the reply lists, top to bottom."""
    return [int(line.split(" mute ")[1].split(" h ")[0]) for line in text.splitlines()
            if " mute " in line]  # fmt: skip


async def test_the_trail_is_newest_first_with_who_what_which_and_the_result() -> None:
    async with chat_parts(healthy(ORDERS, "orders")) as parts:
        await parts.chat.watching.watch(ORDERS, channel="C1", user=ALICE)
        await parts.chat.watching.mute(ORDERS, 4, channel="C1", user=BOB)
        await parts.chat.watching.acknowledge(ORDERS, channel="C1", user=BOB)
        text = await audit(parts, "audit")
    assert text.startswith("📜 Last changes in #C1")
    changes = [line.split(" UTC ", 1)[1] for line in text.splitlines() if " UTC " in line]
    assert changes == [
        f"@{BOB} ack {ORDERS} in default: unchanged: nothing open",
        f"@{BOB} mute 4 h {ORDERS} in default: ok",
        f"@{ALICE} watch {ORDERS} in default: ok",
    ]
    assert "The last 3 (of at most 10 asked); entries are kept 90 days." in text


async def test_n_bounds_what_is_shown_and_the_default_is_ten() -> None:
    async with chat_parts() as parts:
        await mutes(parts, range(1, MAX_AUDIT_ENTRIES + 6))
        default = await audit(parts, "audit")
        one = await audit(parts, "audit 1")
        most = await audit(parts, f"audit {MAX_AUDIT_ENTRIES}")
    newest = MAX_AUDIT_ENTRIES + 5
    assert shown_mutes(default) == list(range(newest, newest - 10, -1))
    assert shown_mutes(one) == [newest]
    assert shown_mutes(most) == list(range(newest, newest - MAX_AUDIT_ENTRIES, -1))
    assert f"The last {MAX_AUDIT_ENTRIES} (of at most {MAX_AUDIT_ENTRIES} asked)" in most


@pytest.mark.parametrize("text", ["audit 0", f"audit {MAX_AUDIT_ENTRIES + 1}", "audit many",
                                  "audit -3", "audit 5 6", "audit 5h"])  # fmt: skip
async def test_a_count_out_of_bounds_or_not_a_number_is_explained_and_reads_nothing(
    text: str,
) -> None:
    down = DownAuditStore()  # reading it would be answered with "storage is unreachable"
    async with chat_parts() as parts:
        chat = replace(parts.chat, audit=AuditTrail(AuditLog(down)))
        reply = await chat.command(parse_command(text), ephemeral=True, channel="C1", user=BOB)
    assert not reply.shareable and down.calls == 0
    answer = text_of(reply.message)
    assert f"audit takes a number of entries from 1 to {MAX_AUDIT_ENTRIES}" in answer
    assert "Last changes" not in answer and "storage" not in answer


async def test_each_channel_sees_only_its_own_changes() -> None:
    async with chat_parts() as parts:
        await mutes(parts, range(1, 3), channel="C1")
        await mutes(parts, range(7, 8), channel="C2")
        first, second = await audit(parts, "audit", "C1"), await audit(parts, "audit", "C2")
        empty = await audit(parts, "audit", "C3")
    assert shown_mutes(first) == [2, 1]
    assert shown_mutes(second) == [7]
    assert "Nothing was changed here in the last 90 days." in empty
    assert "mute" not in empty


async def test_storage_down_is_answered_clearly_not_raised() -> None:
    down = DownAuditStore()
    reply = await AuditTrail(AuditLog(down)).recent("C1", 10)
    assert down.calls == 1
    assert not reply.shareable
    text = text_of(reply.message)
    assert "storage (Redis) is unreachable" in text
    assert "Last changes" not in text


async def test_a_broken_store_is_an_unexpected_error_with_a_reference() -> None:
    class Broken(MemoryAuditStore):
        async def recent(self, channel: str, count: int) -> list[AuditEntry]:
            raise RuntimeError("a bug")

    async with chat_parts() as parts:
        chat = replace(parts.chat, audit=AuditTrail(AuditLog(Broken())))
        reply = await chat.command(parse_command("audit"), ephemeral=True, channel="C1",
                                   user=BOB)  # fmt: skip
    assert not reply.shareable
    assert "reference" in text_of(reply.message).lower()
