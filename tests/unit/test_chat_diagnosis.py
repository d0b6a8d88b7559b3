"""The What to check modal over the real lookups, DLI in-process: the catalogue entry and the
connection as the clicking channel may see it; a connection that is gone, out of scope, that
DLI is slow or failing to describe, or that a bug keeps from being read still gets the checklist,
within the click's trigger_id."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

import pytest

from bot.blocks.actions import ACTION_WHAT_TO_CHECK_DOC, VIEW_WHAT_TO_CHECK
from bot.chat import diagnosis
from bot.chat.diagnosis import LOOKUP_WAIT, what_to_check
from bot.config import ChannelConfig
from bot.diagnosis import Entry, default_catalogue
from tests.fakes.chat import (
    PROJECT,
    UNAVAILABLE,
    ChatParts,
    chat_parts,
    connection_id,
    healthy,
    text_of,
    two_projects,
)

ORDERS = connection_id(1)
GONE = connection_id(9)
ERR = "Test failed: failed to connect to specified address 10.9.0.7:3306"
ODD = "no idea what broke"
ELSEWHERE = "C0ELSEWHERE"  # sees only the other project
DEPLOYMENT = two_projects({ELSEWHERE: ChannelConfig(projects=["other"])})
UNREADABLE = (
    "The connection cannot be read from this channel now, so the bot checked nothing itself."
)
UNASKED = "DLI could not be asked about the connection just now, so the bot checked nothing itself."


def orders(*, failed: bool = True) -> dict[str, Any]:
    status = "FAILED" if failed else "ACTIVE"
    return healthy(
        ORDERS, "orders-rds",
        available_queue_info=[
            {"name": "sql_prod", "status": status, "err_msg": ERR if failed else "",
             "peer_id": "p1"},
            {"name": "sql_odd", "status": "FAILED", "err_msg": ODD, "peer_id": "p2"},
            {"name": "sql_ok", "status": "ACTIVE", "err_msg": "", "peer_id": "p3"},
        ],
        routes=[{"name": "to-db", "cidr": "10.9.0.0/16"}],
        hosts=[{"name": "rds-primary", "ip": "10.9.0.7"}],
    )  # fmt: skip


def connect_failed() -> Entry:
    entry = default_catalogue().get("connect-failed")
    assert entry is not None and entry.self_checks
    return entry


@asynccontextmanager
async def clicked() -> AsyncIterator[ChatParts]:
    async with chat_parts(orders(), deployment=DEPLOYMENT) as parts:
        yield parts


async def modal(parts: ChatParts, value: str, channel: str = "C1") -> dict[str, Any]:
    """The view a What to check button with `value` opens when clicked in `channel`."""
    return await what_to_check(parts.chat.lookups.context, value, channel)


def numbered(view: dict[str, Any]) -> list[str]:
    """The checks, as the modal numbers them."""
    texts = [b["text"]["text"] for b in view["blocks"] if b["type"] == "section"]
    return [t for t in texts if t[:1] == "*" and t[1:2].isdigit()]


def checklist(entry: Entry) -> list[str]:
    return [f"*{n}.* {check}" for n, check in enumerate(entry.checks, start=1)]


def doc_buttons(view: dict[str, Any]) -> list[str]:
    return [
        b["accessory"]["url"]
        for b in view["blocks"]
        if b.get("accessory", {}).get("action_id") == ACTION_WHAT_TO_CHECK_DOC
    ]


def assert_checklist_without_the_connection(view: dict[str, Any], why_not: str) -> None:
    entry = connect_failed()
    text = text_of(view)
    assert numbered(view) == checklist(entry)
    assert doc_buttons(view) == [entry.doc_url]
    assert f"What the bot checked itself\n\n{why_not}" in text
    # Nothing about the connection: not its bindings, err_msg, routes or hosts.
    for shown in ("🔴", "sql_prod", ERR, "to-db", "rds-primary", ORDERS, GONE):
        assert shown not in text


async def test_a_failed_binding_with_a_catalogue_match_gets_cause_checks_findings_and_page() -> (
    None
):
    entry = connect_failed()
    async with clicked() as parts:
        view = await modal(parts, f"connect-failed|{ORDERS}")
        assert parts.dli.paths == [f"/v2.0/{PROJECT}/datasource/enhanced-connections/{ORDERS}"]
    assert (view["type"], view["callback_id"]) == ("modal", VIEW_WHAT_TO_CHECK)
    assert view["title"]["text"] == "What to check"
    assert view["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": entry.title, "emoji": False},
    }
    text = text_of(view)
    assert f"Likely cause: {entry.cause}" in text
    # The binding the entry explains, its err_msg exactly; not the one it does not.
    assert f"🔴 queue sql_prod FAILED\n    {ERR}" in text
    assert "sql_odd" not in text and ODD not in text and "sql_ok" not in text
    assert numbered(view) == checklist(entry)
    assert "🔍 10.9.0.7 in the error overlaps the connection's route to-db (10.9.0.0/16)." in text
    assert "🔍 Host rds-primary (10.9.0.7) is in 10.9.0.7 from the error." in text
    assert doc_buttons(view) == [entry.doc_url]
    # In order: cause, where it was seen, the checks, the bot's own, the page.
    order = ["Likely cause", "🔴 queue sql_prod", "What to check, in order", "\n1. ", "🔍",
             "From Huawei"]  # fmt: skip
    positions = [text.index(part) for part in order]
    assert positions == sorted(positions)


async def test_a_binding_that_recovered_since_the_card_leaves_the_checks_and_says_so() -> None:
    async with clicked() as parts:
        parts.dli.put(orders(failed=False))
        view = await modal(parts, f"connect-failed|{ORDERS}")
    text = text_of(view)
    assert numbered(view) == checklist(connect_failed())
    assert "🔴" not in text and ERR not in text
    assert "Nothing in the error could be compared with the connection's routes and hosts." in text


async def test_an_entry_no_longer_in_the_catalogue_asks_for_a_fresh_card() -> None:
    async with clicked() as parts:
        view = await modal(parts, f"retired-entry|{ORDERS}")
    [block] = view["blocks"]
    assert "This diagnosis is no longer in the bot's catalogue" in text_of(view)
    assert (view["type"], view["title"]["text"]) == ("modal", "What to check")
    assert block["type"] == "section" and ORDERS not in text_of(view)


async def test_a_connection_gone_from_dli_still_gets_the_checklist() -> None:
    async with clicked() as parts:
        gone = await modal(parts, f"connect-failed|{GONE}")
        parts.dli.remove(ORDERS)
        deleted = await modal(parts, f"connect-failed|{ORDERS}")
    assert_checklist_without_the_connection(gone, UNREADABLE)
    assert_checklist_without_the_connection(deleted, UNREADABLE)


@pytest.mark.parametrize(
    "target", ["", "not an id", "../../etc", "<!channel>", "x" * 5000, f"{ORDERS}|{ORDERS}"]
)
async def test_a_forged_connection_in_the_value_still_opens_only_the_checklist(
    target: str,
) -> None:
    async with clicked() as parts:
        view = await modal(parts, f"connect-failed|{target}")
    assert_checklist_without_the_connection(view, UNREADABLE)
    assert "<!channel>" not in str(view)


async def test_a_connection_out_of_the_channels_scope_reads_exactly_as_one_gone() -> None:
    async with clicked() as parts:
        hidden = await modal(parts, f"connect-failed|{ORDERS}", channel=ELSEWHERE)
        # Never asked about: the channel sees no project that could have it.
        assert parts.dli.requests == []
        gone = await modal(parts, f"connect-failed|{GONE}", channel=ELSEWHERE)
    assert_checklist_without_the_connection(hidden, UNREADABLE)
    assert hidden == gone


async def test_dli_failing_to_describe_the_connection_still_gets_the_checklist() -> None:
    async with clicked() as parts:
        parts.dli.fail(UNAVAILABLE, request_id="req-down")
        view = await modal(parts, f"connect-failed|{ORDERS}")
        assert len(parts.dli.requests) > 0
    assert_checklist_without_the_connection(view, UNASKED)


async def test_an_id_missing_where_dli_answered_names_the_project_it_could_not_ask() -> None:
    async with chat_parts(orders(), deployment=DEPLOYMENT, unreachable=UNAVAILABLE) as parts:
        gone = await modal(parts, f"connect-failed|{GONE}")
        # The only project this channel sees cannot be asked: DLI's failure, as before.
        elsewhere = await modal(parts, f"connect-failed|{GONE}", channel=ELSEWHERE)
        found = await modal(parts, f"connect-failed|{ORDERS}")
    assert_checklist_without_the_connection(
        gone,
        "Not found in default; other could not be asked (DLI is unreachable), so it may be "
        "there. Try again soon. The bot checked nothing itself.",
    )
    assert_checklist_without_the_connection(elsewhere, UNASKED)
    assert f"🔴 queue sql_prod FAILED\n    {ERR}" in text_of(found)


async def test_aliases_in_the_modals_mrkdwn_are_code_so_an_underscore_italicises_nothing() -> None:
    underscored = two_projects(aliases=("dr_west", "dr_east"))
    async with chat_parts(orders(), deployment=underscored, unreachable=UNAVAILABLE) as parts:
        view = await modal(parts, f"connect-failed|{GONE}")
    [said] = [
        b["text"]
        for b in view["blocks"]
        if b["type"] == "section" and "could not be asked" in b["text"]["text"]
    ]
    assert said["type"] == "mrkdwn"
    assert said["text"] == (
        "Not found in `dr_west`; `dr_east` could not be asked (DLI is unreachable), so it may be "
        "there. Try again soon. The bot checked nothing itself."
    )
    # Every `_` is inside a code span, where Slack reads no formatting.
    assert "_" not in re.sub(r"`[^`]*`", "", said["text"])


async def test_a_bug_in_the_lookup_still_opens_the_checklist_with_a_logged_reference(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with clicked() as parts:
        parts.dli.explode(RuntimeError("bug in the transport"))
        with caplog.at_level(logging.ERROR):
            view = await modal(parts, f"connect-failed|{ORDERS}")
    text = text_of(view)
    found = re.search(r"reference ([0-9a-f]{8})", text)
    assert found is not None
    ref = found.group(1)
    assert_checklist_without_the_connection(
        view,
        f"The bot could not read the connection because of a fault on its side (reference {ref}),"
        " so it checked nothing itself. Tell the bot's operators the reference.",
    )
    # The reference finds the traceback; the bug's own words stay out of the modal.
    [record] = [r for r in caplog.records if ref in r.getMessage()]
    assert record.exc_info is not None and record.exc_info[0] is RuntimeError
    assert "bug in the transport" not in text


class Deadline:
    """`asyncio.timeout` for bot.chat.diagnosis whose deadline passes when the test says so:
    "the modal does not wait for DLI" proven by the order of events, not by a clock."""

    def __init__(self) -> None:
        self.delays: list[float | None] = []
        self._timeouts: list[asyncio.Timeout] = []

    def timeout(self, delay: float | None) -> asyncio.Timeout:
        self.delays.append(delay)
        self._timeouts.append(asyncio.timeout(None))
        return self._timeouts[-1]

    def passes(self) -> None:
        now = asyncio.get_running_loop().time()
        for timeout in self._timeouts:
            timeout.reschedule(now)


async def test_a_slow_lookup_does_not_cost_the_person_the_modal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deadline = Deadline()
    monkeypatch.setattr(diagnosis, "asyncio", SimpleNamespace(timeout=deadline.timeout))
    async with clicked() as parts:
        parts.dli.hold()
        opening = asyncio.create_task(modal(parts, f"connect-failed|{ORDERS}"))
        await parts.dli.holding()  # DLI has the lookup and is not answering
        # Slack's trigger_id lasts 3 s: the lookup gets a bound well inside it.
        assert deadline.delays == [LOOKUP_WAIT] and LOOKUP_WAIT < 3
        assert not opening.done()
        deadline.passes()
        view = await opening
        # The modal is here while DLI still has not answered.
        assert parts.dli.held
        parts.dli.release()
    assert_checklist_without_the_connection(view, UNASKED)
