"""The connectivity test end to end: signed requests through the Bolt app, FakeDli, the Slack
stand-in and Redis. A config file (DLICONN_CONFIG) allows `test` in C1 (to everyone), C3 (to
the @oncall group only) and C4 (shared with another organisation, where the guardrails refuse
it); C2 has the default verbs."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.blocks.actions import ACTION_TEST, ALERT_ACTIONS, TEST_ADDRESS_INPUT, VIEW_TEST
from bot.diagnosis import default_catalogue
from bot.local.fake_slack import BOT_ID, BOT_USER_ID, SlackCall
from bot.local.wire import block_action_body, new_ts, slash_command_body, view_submission_body
from tests.fakes.chat import buttons, message_of, text_of
from tests.fakes.dli import FAILING
from tests.fakes.slack_stack import SlackStack, slack_stack

ALLOWED, OFF, ONCALL_ONLY, SHARED = "C1", "C2", "C3", "C4"
ONCALL, ALICE, BOB = "S0ONCALL", "U0ALICE", "U0BOB"
VERBS = '["lookup", "list", "test"]'
CONFIG = f"""
[guardrails]
external_channels = "read"
[channels.{ALLOWED}]
allow = {VERBS}
[channels.{ONCALL_ONLY}]
allow = {VERBS}
operators = ["{ONCALL}"]
[channels.{SHARED}]
allow = {VERBS}
"""
QUEUE = "sql_prod"  # FAILED on the demo's orders-mysql-peering, whose host is 172.16.1.10


@pytest.fixture
async def stack(key_prefix: str, tmp_path: Path) -> AsyncIterator[SlackStack]:
    config = tmp_path / "dliconn.toml"
    config.write_text(CONFIG)
    async with slack_stack(key_prefix, DLICONN_CONFIG=str(config)) as stack:
        stack.slack.share_externally(SHARED)
        stack.slack.usergroups[ONCALL] = [ALICE]
        stack.dli.reachable = {"172.16.1.10:3306"}
        stack.dli.checking_polls = 1
        yield stack


def queue_calls(stack: SlackStack) -> list[str]:
    return [r.method for r in stack.dli.requests if r.path.startswith("/v1.0/")]


async def test_slash_command_runs_the_test_and_replies_with_the_result(stack: SlackStack) -> None:
    ack, url = await stack.command(f"test orders-mysql-peering {QUEUE} 172.16.1.10:3306",
                                   channel=ALLOWED)  # fmt: skip
    assert ack.status_code == 200
    [reply] = await stack.replies(url)
    text = text_of(reply)
    assert f"queue {QUEUE} → 172.16.1.10:3306 is reachable" in text
    assert queue_calls(stack) == ["POST", "GET", "GET"]  # CHECKING once, then REACHABLE
    assert stack.dli_sleeps.delays.count(2.0) == 2  # waited (never really) before each poll
    # Audited once: who, where, which connection of which project, from where to where, result.
    [entry] = await stack.services.audit.recent(ALLOWED, 10)
    assert (entry.user, entry.channel, entry.verb, entry.action, entry.connection, entry.project,
            entry.result) == ("U1", ALLOWED, "test", f"test {QUEUE} → 172.16.1.10:3306", FAILING,
                              "default", "reachable")  # fmt: skip


async def test_slash_command_is_refused_where_allow_leaves_test_out(stack: SlackStack) -> None:
    _, url = await stack.command(f"test orders-mysql-peering {QUEUE} 172.16.1.10", channel=OFF)
    [reply] = await stack.replies(url)
    assert reply.body["response_type"] == "ephemeral"
    assert f"channels.{OFF}.allow" in text_of(reply)
    assert queue_calls(stack) == [] and stack.dli.requests == []


async def test_the_card_button_opens_a_prefilled_modal_and_the_submission_answers_privately(
    stack: SlackStack,
) -> None:
    # The card in C1 offers the test (and in C2 it does not).
    _, url = await stack.command("orders-mysql-peering", channel=ALLOWED)
    [card] = await stack.replies(url)
    tests = [v or "" for a, v in buttons(message_of(card)) if a == ACTION_TEST]
    assert tests == [f"{FAILING}|{QUEUE}"]
    confirm = next(
        e for b in card.body["blocks"] if b["type"] == "actions" for e in b["elements"]
        if e["action_id"] == ACTION_TEST
    )["confirm"]  # fmt: skip
    assert confirm["title"]["text"] == "Run a connectivity test?"
    _, url_off = await stack.command("orders-mysql-peering", channel=OFF)
    [card_off] = await stack.replies(url_off)
    assert ACTION_TEST not in [a for a, _ in buttons(message_of(card_off))]

    response_url = stack.slack.response_url()
    await stack.post(block_action_body(ACTION_TEST, tests[0], channel_id=ALLOWED,
                                       response_url=response_url, ephemeral=True))  # fmt: skip
    [opened] = await stack.slack.wait_for("views.open")
    assert opened.body["trigger_id"]
    modal = stack.slack.opened_views()[-1]
    assert modal["callback_id"] == VIEW_TEST
    address = next(b for b in modal["blocks"] if b.get("block_id") == TEST_ADDRESS_INPUT)
    assert address["element"]["initial_value"] == "172.16.1.10"
    assert queue_calls(stack) == []  # nothing runs before the submission

    ack = await stack.post(view_submission_body(modal, {TEST_ADDRESS_INPUT: "172.16.1.10:3306"}))
    assert (ack.status_code, ack.text) == (200, "")  # the modal closes
    [result] = await stack.replies(response_url.rsplit("/", 1)[1])
    assert result.body["response_type"] == "ephemeral"
    assert result.body["replace_original"] is False
    assert "172.16.1.10:3306 is reachable" in text_of(result)


async def test_the_alert_button_posts_the_result_in_the_alerts_thread(stack: SlackStack) -> None:
    stack.dli.reachable = set()
    alert_ts = new_ts()
    alert = {
        "type": "message",
        "user": BOT_USER_ID,
        "bot_id": BOT_ID,
        "text": "",
        "ts": alert_ts,
        "blocks": [{"type": "actions", "block_id": ALERT_ACTIONS, "elements": []}],
    }
    await stack.post(block_action_body(ACTION_TEST, f"{FAILING}|{QUEUE}", channel_id=ALLOWED,
                                       message=alert, response_url=stack.slack.response_url(),
                                       ephemeral=False))  # fmt: skip
    await stack.slack.wait_for("views.open")
    modal = stack.slack.opened_views()[-1]
    typed = {TEST_ADDRESS_INPUT: "172.16.1.10:3306"}
    await stack.post(view_submission_body(modal, typed, user_id="U0ALICE"))
    [posted] = await stack.thread(alert_ts)
    assert posted.body["channel"] == ALLOWED
    text = text_of(posted)
    assert "172.16.1.10:3306 is unreachable" in text and "What to check" in text
    assert "Run by @U0ALICE" in text
    # sql_prod is FAILED for a CIDR overlap the catalogue knows: its checks and page, not ours.
    entry = default_catalogue().get("cidr-overlap")
    assert entry is not None and f"likely cause: {entry.cause}" in text
    assert "security group allows inbound traffic" not in text
    urls = [b["accessory"]["url"] for b in posted.body["blocks"] if "url" in b.get("accessory", {})]
    assert urls == [entry.doc_url]
    [audited] = await stack.services.audit.recent(ALLOWED, 10)
    assert (audited.user, audited.result) == (ALICE, "unreachable")


async def test_a_bad_address_keeps_the_modal_open_with_the_error_beside_it(
    stack: SlackStack,
) -> None:
    await stack.post(block_action_body(ACTION_TEST, f"{FAILING}|{QUEUE}", channel_id=ALLOWED,
                                       response_url=stack.slack.response_url()))  # fmt: skip
    await stack.slack.wait_for("views.open")
    typed = {TEST_ADDRESS_INPUT: "172.16.1.10:70000"}
    ack = await stack.post(view_submission_body(stack.slack.opened_views()[-1], typed))
    assert ack.status_code == 200
    assert json.loads(ack.text) == {
        "response_action": "errors",
        "errors": {TEST_ADDRESS_INPUT: "The port must be a number from 1 to 65535."},
    }
    assert queue_calls(stack) == []


async def test_the_button_where_test_is_off_opens_nothing(stack: SlackStack) -> None:
    response_url = stack.slack.response_url()
    await stack.post(block_action_body(ACTION_TEST, f"{FAILING}|{QUEUE}", channel_id=OFF,
                                       response_url=response_url))  # fmt: skip
    [refusal] = await stack.replies(response_url.rsplit("/", 1)[1])
    assert f"channels.{OFF}.allow" in text_of(refusal)
    assert stack.slack.calls_to("views.open") == [] and stack.dli.requests == []


async def command_as(stack: SlackStack, text: str, *, channel: str, user: str) -> SlackCall:
    url = stack.slack.response_url()
    body = slash_command_body(text, channel_id=channel, user_id=user, response_url=url)
    assert (await stack.post(body)).status_code == 200
    [reply] = await stack.replies(url.rsplit("/", 1)[1])
    return reply


async def test_with_operators_only_they_may_test_and_only_their_runs_are_audited(
    stack: SlackStack,
) -> None:
    text = f"test orders-mysql-peering {QUEUE} 172.16.1.10:3306"
    refused = await command_as(stack, text, channel=ONCALL_ONLY, user=BOB)
    assert refused.body["response_type"] == "ephemeral"
    shown = text_of(refused)
    assert f"Only members of @{ONCALL} may run connectivity tests" in shown
    assert f"channels.{ONCALL_ONLY}.operators" in shown
    assert stack.dli.requests == []
    # The button is refused to Bob as well, before any modal or lookup.
    url = stack.slack.response_url()
    await stack.post(block_action_body(ACTION_TEST, f"{FAILING}|{QUEUE}", user_id=BOB,
                                       channel_id=ONCALL_ONLY, response_url=url))  # fmt: skip
    [button] = await stack.replies(url.rsplit("/", 1)[1])
    assert f"channels.{ONCALL_ONLY}.operators" in text_of(button)
    assert stack.slack.calls_to("views.open") == [] and stack.dli.requests == []
    assert await stack.services.audit.recent(ONCALL_ONLY, 10) == []

    ran = await command_as(stack, text, channel=ONCALL_ONLY, user=ALICE)
    assert "172.16.1.10:3306 is reachable" in text_of(ran)
    entries = await stack.services.audit.recent(ONCALL_ONLY, 10)
    assert [(e.user, e.verb, e.connection, e.result) for e in entries] == [
        (ALICE, "test", FAILING, "reachable")
    ]


async def test_the_modal_is_checked_again_for_whoever_submits_it(stack: SlackStack) -> None:
    # Alice (on call) opens the modal; a submission by Bob, who is not, runs nothing.
    url = stack.slack.response_url()
    await stack.post(block_action_body(ACTION_TEST, f"{FAILING}|{QUEUE}", user_id=ALICE,
                                       channel_id=ONCALL_ONLY, response_url=url))  # fmt: skip
    await stack.slack.wait_for("views.open")
    modal = stack.slack.opened_views()[-1]
    ack = await stack.post(view_submission_body(modal, {}, user_id=BOB))
    assert (ack.status_code, ack.text) == (200, "")
    [refusal] = await stack.replies(url.rsplit("/", 1)[1])
    assert refusal.body["response_type"] == "ephemeral"
    assert f"channels.{ONCALL_ONLY}.operators" in text_of(refusal)
    assert queue_calls(stack) == []
    assert await stack.services.audit.recent(ONCALL_ONLY, 10) == []


async def test_a_slack_connect_channel_may_read_but_not_test(stack: SlackStack) -> None:
    refused = await command_as(
        stack, f"test orders-mysql-peering {QUEUE} 172.16.1.10", channel=SHARED, user=ALICE
    )
    shown = text_of(refused)
    assert "shared with another organisation (Slack Connect)" in shown
    assert "guardrails.external_channels" in shown
    assert stack.dli.requests == []
    assert await stack.services.audit.recent(SHARED, 10) == []
