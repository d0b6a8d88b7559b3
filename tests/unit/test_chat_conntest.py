"""The connectivity test feature: scope first, the queue bound, polls within a bound, refusals.

Lookups and the test itself go through the production parts and the project's real DliClient
over the in-process DLI of tests/fakes/chat.py (FakeDli's rules for queues and polls, no socket).
The client's two calls over real sockets are tests/integration/test_conntest_dli.py's.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace

import pytest

from bot.audit import AuditLog, MemoryAuditStore
from bot.blocks.actions import ACTION_TEST, TEST_ADDRESS_INPUT, TEST_QUEUE_INPUT
from bot.chat.chatops import request_of
from bot.chat.conntest import ConnTest, Form, Origin, submission_errors
from bot.chat.parsing import ConnectivityTest, parse_command
from bot.config import ChannelConfig, Deployment, Guardrails
from bot.diagnosis import default_catalogue
from bot.policy import ChannelFacts, Person, decide
from tests.fakes.chat import (
    THROTTLED,
    UNAVAILABLE,
    ChatParts,
    MockDli,
    buttons,
    chat_parts,
    connection_id,
    failing,
    text_of,
    two_projects,
)
from tests.fakes.dli import TEST_RETRY, RecordingSleep

ORDERS = connection_id(1)
CHANNEL = "C0TEST"


@dataclass
class Rig:
    parts: ChatParts
    sleep: RecordingSleep
    feature: ConnTest
    audit: AuditLog

    @property
    def fake(self) -> MockDli:
        return self.parts.dli

    def test_calls(self) -> list[tuple[str, str]]:
        return self.fake.test_calls()


@asynccontextmanager
async def rig(
    *, polls: int = 10, etl_err: str | None = None, deployment: Deployment | None = None
) -> AsyncIterator[Rig]:
    payload = failing(ORDERS, "orders")
    if etl_err is not None:  # etl_queue FAILED with this err_msg instead
        payload["available_queue_info"][0]["err_msg"] = etl_err
    async with chat_parts(payload, deployment=deployment) as parts:
        sleep, audit = RecordingSleep(), AuditLog(MemoryAuditStore())
        # build_chat's own feature, with the project's client, waiting on nothing real.
        feature = replace(parts.chat.conntest, audit=audit, sleep=sleep, polls=polls)
        yield Rig(parts, sleep, feature, audit)


async def deleted_since_read(r: Rig, queue: str) -> None:
    """The bot has read the connection (its copy is fresh, so it is not read again) and DLI has
    since deleted `queue`: the bot still sees it bound, DLI knows no such queue."""
    await r.feature.context.find(ORDERS, CHANNEL)
    payload = r.fake.connections[ORDERS]
    left = [q for q in payload["available_queue_info"] if q["name"] != queue]
    r.fake.put({**payload, "available_queue_info": left})


async def test_a_test_polls_while_checking_then_answers_reachable() -> None:
    async with rig() as r:
        r.fake.checking_polls, r.fake.reachable = 2, {"10.0.0.5"}
        reply = await r.feature.test("orders", "etl_queue", "10.0.0.5:3306", channel=CHANNEL,
                                     user="U0ALICE")  # fmt: skip
        text = text_of(reply.message)
        assert reply.shareable
        assert "queue etl_queue → 10.0.0.5:3306 is reachable" in text
        assert "DLI task id 1" in text and "Run by @U0ALICE" in text
        # One wait before each poll; the third poll had the answer, so no fourth.
        assert r.sleep.delays == [2.0, 2.0, 2.0]
        assert [m for m, _ in r.test_calls()] == ["POST", "GET", "GET", "GET"]


async def test_unreachable_comes_with_what_to_check_failed_binding_first() -> None:
    async with rig() as r:
        r.fake.checking_polls = 0
        reply = await r.feature.test("orders", "etl_queue", "db.internal:5432", channel=CHANNEL,
                                     user="U1")  # fmt: skip
        text = text_of(reply.message)
        assert "db.internal:5432 is unreachable" in text
        assert "1. The queue's binding is FAILED" in text
        assert "security group allows inbound traffic" in text
        assert r.sleep.delays == [2.0]


async def test_unreachable_from_a_queue_failed_for_a_known_cause_gives_the_catalogues_checks() -> (
    None
):
    err = "Failed to add route 10.20.0.0/16: the route table has reached the upper limit (200)."
    entry = default_catalogue().match(err)
    assert entry is not None and entry.id == "route-table-full"
    async with rig(etl_err=err) as r:
        r.fake.checking_polls = 0
        reply = await r.feature.test("orders", "etl_queue", "10.0.0.5", channel=CHANNEL, user="U1")
        text = text_of(reply.message)
        assert f"likely cause: {entry.cause}" in text
        for number, check in enumerate(entry.checks, 1):
            assert f"{number}. {check}" in text
        # The catalogue's list replaces ours, and its page is one button away.
        assert "security group allows inbound traffic" not in text
        assert "binding is FAILED: its err_msg" not in text
        links = [e for b in reply.message.blocks if b["type"] == "section"
                 for e in [b.get("accessory") or {}] if e.get("url")]  # fmt: skip
        assert [e["url"] for e in links] == [entry.doc_url]


async def test_polling_stops_at_its_bound_and_says_still_checking_with_the_task_id() -> None:
    async with rig(polls=4) as r:
        r.fake.checking_polls = 1000
        reply = await r.feature.test("orders", "etl_queue", "10.0.0.5", channel=CHANNEL, user="U1")
        text = text_of(reply.message)
        assert "DLI was still checking after 8 s" in text
        assert "Run the test again in a minute; DLI's task id is 1" in text
        assert r.sleep.delays == [2.0] * 4
        assert [m for m, _ in r.test_calls()] == ["POST"] + ["GET"] * 4


async def test_an_active_queue_unreachable_has_no_failed_binding_line() -> None:
    async with rig() as r:
        r.fake.checking_polls = 0
        reply = await r.feature.test("orders", "adhoc", "10.0.0.5", channel=CHANNEL, user="U1")
        assert "is unreachable" in text_of(reply.message)
        assert "binding is FAILED" not in text_of(reply.message)  # adhoc is ACTIVE


async def test_the_default_rules_leave_test_off() -> None:
    # The command is the guarded verb `test`, which a channel without `allow` does not have.
    command = parse_command("test orders etl_queue 10.0.0.5:3306")
    assert command == ConnectivityTest("orders", "etl_queue", "10.0.0.5:3306")
    assert request_of(command) == "test"
    decision = decide(Guardrails(), ChannelConfig(), "test", ChannelFacts("C1"), Person("U1"))
    assert (decision.allowed, decision.rule) == (False, "channels.C1.allow")
    # build_chat's own cards, over a deployment without `allow`, offer no test there.
    async with chat_parts(failing(ORDERS, "orders")) as parts:
        card = await parts.chat.lookups.card(ORDERS, ephemeral=True, channel="C1")
        assert ACTION_TEST not in [action for action, _ in buttons(card.message)]


async def test_a_queue_not_bound_to_the_connection_is_not_tested() -> None:
    async with rig() as r:
        reply = await r.feature.test("orders", "pool", "10.0.0.5", channel=CHANNEL, user="U1")
        text = text_of(reply.message)
        assert "No queue or pool pool is bound to orders" in text
        assert "Bound: etl_queue, adhoc" in text
        assert r.test_calls() == []


async def test_a_queue_dli_does_not_know_gets_dlis_words_not_a_connection_not_found() -> None:
    async with rig() as r:
        await deleted_since_read(r, "etl_queue")
        reply = await r.feature.test(ORDERS, "etl_queue", "10.0.0.5", channel=CHANNEL, user="U1")
        text = text_of(reply.message)
        assert "DLI would not run the test from queue etl_queue: There is no queue named" in text
        assert "DLI error DLI.0002" in text


async def test_bad_input_is_answered_without_a_request() -> None:
    async with rig() as r:
        reply = await r.feature.test("orders", "etl_queue", "10.0.0.1:99999", channel=CHANNEL,
                                     user="U1")  # fmt: skip
        assert "the port must be a number from 1 to 65535" in text_of(reply.message)
        assert r.parts.dli.requests == [] and r.test_calls() == []


async def test_the_button_opens_a_modal_prefilled_with_the_queue_and_the_first_host() -> None:
    async with rig() as r:
        origin = Origin(CHANNEL, "", thread_ts="1.2", response_url="http://x/r")
        form = await r.feature.form(f"{ORDERS}|etl_queue", origin=origin)
        assert isinstance(form, Form)
        inputs = {b["block_id"]: b for b in form.view["blocks"] if b["type"] == "input"}
        assert inputs[TEST_QUEUE_INPUT]["element"]["initial_value"] == "etl_queue"
        assert inputs[TEST_ADDRESS_INPUT]["element"]["initial_value"] == "10.0.0.5"
        assert "db.internal → 10.0.0.5" in inputs[TEST_ADDRESS_INPUT]["hint"]["text"]
        back = Origin.loads(form.view["private_metadata"])
        assert back == replace(origin, connection_id=ORDERS)


async def test_a_forged_button_value_outside_the_channels_scope_reads_as_not_found() -> None:
    elsewhere = "C0ELSEWHERE"  # sees only another project
    deployment = two_projects({elsewhere: ChannelConfig(projects=["other"], allow=["test"])})
    async with rig(deployment=deployment) as r:
        form = await r.feature.form(f"{ORDERS}|etl_queue", origin=Origin(elsewhere, ""))
        assert not isinstance(form, Form)
        assert "No connection" in text_of(form.message)
        reply = await r.feature.test(ORDERS, "etl_queue", "10.0.0.5", channel=elsewhere,
                                     user="U1")  # fmt: skip
        assert "No connection" in text_of(reply.message)
        assert r.parts.dli.requests == [] and r.test_calls() == []


def test_the_modal_inputs_are_checked_by_block_with_our_words() -> None:
    def values(queue: str, address: str) -> dict[str, object]:
        return {
            TEST_QUEUE_INPUT: {TEST_QUEUE_INPUT: {"type": "plain_text_input", "value": queue}},
            TEST_ADDRESS_INPUT: {
                TEST_ADDRESS_INPUT: {"type": "plain_text_input", "value": address}
            },
        }

    assert submission_errors(values("etl_queue", " 10.0.0.5:80 ")) is None
    errors = submission_errors(values("a/b", "10.0.0.5:0"))
    assert errors == {
        TEST_QUEUE_INPUT: "Letters, digits, _ and - only (at most 128).",
        TEST_ADDRESS_INPUT: "The port must be a number from 1 to 65535.",
    }
    assert submission_errors({}) is not None  # nothing typed at all
    assert Origin.loads("not json") is None and Origin.loads('{"ch": "C1"}') is None


async def test_every_run_is_audited_once_with_its_queue_address_and_outcome() -> None:
    async with rig(polls=1) as r:
        r.fake.checking_polls, r.fake.reachable = 0, {"10.0.0.5"}
        for queue, address in [("etl_queue", "10.0.0.5:3306"), ("adhoc", "db.internal"),
                               ("pool", "10.0.0.5")]:  # fmt: skip
            await r.feature.test("orders", queue, address, channel=CHANNEL, user="U0ALICE")
        r.fake.checking_polls = 1000
        await r.feature.test(ORDERS, "adhoc", "10.0.0.6", channel=CHANNEL, user="U0BOB")
        await deleted_since_read(r, "etl_queue")
        await r.feature.test(ORDERS, "etl_queue", "10.0.0.5", channel=CHANNEL, user="U0BOB")
        await r.feature.test("no-such-thing", "adhoc", "10.0.0.5", channel=CHANNEL, user="U0BOB")
        # Bad input runs nothing, so it records nothing.
        await r.feature.test(ORDERS, "adhoc", "10.0.0.5:0", channel=CHANNEL, user="U0BOB")

        entries = await r.audit.recent(CHANNEL, 10)
        assert [(e.user, e.channel, e.verb, e.action, e.connection, e.project, e.result)
                for e in reversed(entries)] == [
            ("U0ALICE", CHANNEL, "test", "test etl_queue → 10.0.0.5:3306", ORDERS, "default",
             "reachable"),
            ("U0ALICE", CHANNEL, "test", "test adhoc → db.internal", ORDERS, "default",
             "unreachable"),
            ("U0ALICE", CHANNEL, "test", "test pool → 10.0.0.5", ORDERS, "default",
             "not run: queue not bound"),
            ("U0BOB", CHANNEL, "test", "test adhoc → 10.0.0.6", ORDERS, "default",
             "still checking (task 3)"),
            ("U0BOB", CHANNEL, "test", "test etl_queue → 10.0.0.5", ORDERS, "default",
             "refused by DLI: DLI.0002"),
            ("U0BOB", CHANNEL, "test", "test adhoc → 10.0.0.5", "no-such-thing", None,
             "failed: not found"),
        ]  # fmt: skip


async def test_dli_throttling_the_test_is_explained_and_audited_as_dlis_failure() -> None:
    async with rig() as r:
        r.fake.fail(THROTTLED, request_id="req-slow-down", operation="test_create")
        reply = await r.feature.test(ORDERS, "etl_queue", "10.0.0.5", channel=CHANNEL, user="U1")
        [entry] = await r.audit.recent(CHANNEL, 10)
        # Retried as every read is, then given up: no poll without a task.
        assert [m for m, _ in r.test_calls()] == ["POST"] * TEST_RETRY.attempts
    text = text_of(reply.message)
    assert not reply.shareable
    assert "DLI is throttling requests" in text and "req-slow-down" in text
    assert "would not run the test" not in text
    assert (entry.connection, entry.result) == (ORDERS, "failed: DLI throttled")


async def test_a_poll_dli_cannot_answer_is_explained_and_audited_as_dlis_failure() -> None:
    async with rig() as r:
        r.fake.fail(UNAVAILABLE, request_id="req-down", operation="test_show")
        reply = await r.feature.test(ORDERS, "adhoc", "10.0.0.5", channel=CHANNEL, user="U1")
        [entry] = await r.audit.recent(CHANNEL, 10)
        assert [m for m, _ in r.test_calls()] == ["POST"] + ["GET"] * TEST_RETRY.attempts
    assert not reply.shareable
    assert "DLI is unreachable" in text_of(reply.message)
    assert entry.result == "failed: DLI unavailable"


async def test_dli_refusing_the_test_with_its_own_code_gets_dlis_words() -> None:
    async with rig() as r:
        refused = (400, "DLI.0001", "Parameter address is invalid.")
        r.fake.fail(refused, request_id="req-no", operation="test_create")
        reply = await r.feature.test(ORDERS, "adhoc", "10.0.0.5", channel=CHANNEL, user="U1")
        [entry] = await r.audit.recent(CHANNEL, 10)
        assert [m for m, _ in r.test_calls()] == ["POST"]  # a refusal is not retried
    text = text_of(reply.message)
    assert "DLI would not run the test from queue adhoc: Parameter address is invalid." in text
    assert "DLI error DLI.0001" in text
    assert entry.result == "refused by DLI: DLI.0001"


async def test_a_run_cut_off_while_polling_is_not_recorded_with_an_outcome_it_never_had() -> None:
    async with rig() as r:
        polling = asyncio.Event()

        async def stopping(_: float) -> None:  # the process stops while DLI is checking
            polling.set()
            await asyncio.Event().wait()

        feature = replace(r.feature, sleep=stopping)
        run = asyncio.create_task(
            feature.test(ORDERS, "etl_queue", "10.0.0.5", channel=CHANNEL, user="U1")
        )
        await polling.wait()
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
        [entry] = await r.audit.recent(CHANNEL, 10)
    assert [m for m, _ in r.test_calls()] == ["POST"]
    assert (entry.action, entry.result) == ("test etl_queue → 10.0.0.5", "failed: unexpected error")
