"""The guardrails end to end, over real HTTP through the Bolt app (tests/fakes/slack_stack.py):
a Slack Connect channel refuses every surface without a DLI call or a byte of connection data;
operators alone may mute and acknowledge, by real block_actions payloads; what they change is
audited; an altered button value changes nothing."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.blocks.actions import ACTION_ACK, ACTION_MUTE, ACTION_REFRESH, ALERT_ACTIONS
from bot.local.fake_slack import BOT_ID, BOT_USER_ID, SlackCall
from bot.local.wire import (
    Event,
    app_mention_event,
    block_action_body,
    event_body,
    message_event,
    slash_command_body,
)
from tests.fakes.chat import open_alert, text_of
from tests.fakes.dli import FAILING, WITHVPC, dli_requests
from tests.fakes.slack_stack import SlackStack, slack_stack

SHARED = "C0SHARED"
PAYMENTS = "C0PAYMENTS"
HIDDEN_PROJECTS = "C0NOTHING"
ONCALL = "S0ONCALL"
ALICE, BOB = "U0ALICE", "U0BOB"
CONFIG = f"""
[guardrails]
external_channels = "deny"

[channels.{PAYMENTS}]
operators = ["{ONCALL}"]
"""
# What a card of these connections would show: none of it may reach a refused channel.
CONNECTION_DATA = (WITHVPC, FAILING, "withvpc", "orders-mysql-peering", "FAILED", "etl")


pytestmark = pytest.mark.usefixtures("isolated")


@pytest.fixture
async def stack(key_prefix: str, tmp_path: Path) -> AsyncIterator[SlackStack]:
    config = tmp_path / "dliconn.toml"
    config.write_text(CONFIG, encoding="utf-8")
    async with slack_stack(
        key_prefix, DLICONN_CONFIG=str(config), DLICONN_INCIDENT_CHANNELS=SHARED,
        start_replica=False,
    ) as stack:  # fmt: skip
        stack.slack.share_externally(SHARED)
        stack.slack.usergroups[ONCALL] = [ALICE]
        await stack.add_replica()
        yield stack


def no_connection_data(text: str) -> None:
    for value in CONNECTION_DATA:
        assert value not in text


async def press(
    stack: SlackStack,
    action_id: str,
    value: str,
    *,
    user: str,
    channel: str = PAYMENTS,
    message: Event | None = None,
) -> SlackCall:
    """A real block_actions payload; returns the one private answer it got."""
    url = stack.slack.response_url()
    body = block_action_body(
        action_id, value, user_id=user, channel_id=channel, response_url=url, message=message
    )
    assert (await stack.post(body)).status_code == 200
    [answer] = await stack.replies(url.rsplit("/", 1)[1])
    return answer


def alert(ts: str) -> Event:
    return {
        "type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID, "text": "alert", "ts": ts,
        "blocks": [{"type": "actions", "block_id": ALERT_ACTIONS, "elements": []}],
    }  # fmt: skip


async def test_a_slack_connect_channel_refuses_every_surface_without_asking_dli(
    stack: SlackStack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.slack.facts")
    # A slash command.
    url = stack.slack.response_url()
    body = slash_command_body(WITHVPC, channel_id=SHARED, user_id=BOB, response_url=url)
    assert (await stack.post(body)).status_code == 200
    [command] = await stack.replies(url.rsplit("/", 1)[1])
    # A mention and an incident-channel message (the envelope says the channel is shared).
    mention = app_mention_event(f"what about {WITHVPC} and withvpc?", user=BOB, channel=SHARED)
    await stack.post(event_body(mention, ext_shared=True))
    incident = message_event(f"{FAILING} is down", user=BOB, channel=SHARED)
    await stack.post(event_body(incident, ext_shared=True))
    # A button on an old card.
    click = await press(stack, ACTION_REFRESH, WITHVPC, user=BOB, channel=SHARED)
    ephemerals = await stack.slack.wait_for("chat.postEphemeral", 2)
    await stack.stop()

    assert command.body["response_type"] == "ephemeral"
    assert click.body["response_type"] == "ephemeral" and click.body["replace_original"] is False
    texts = [text_of(command), text_of(click), *(text_of(c) for c in ephemerals)]
    for text in texts:
        assert "shared with another organisation (Slack Connect)" in text
        assert "guardrails.external_channels" in text
        no_connection_data(text)
    threads = sorted(c.body["thread_ts"] for c in ephemerals)
    assert threads == sorted([mention["ts"], incident["ts"]])
    assert all(c.body["user"] == BOB for c in ephemerals)
    assert stack.slack.calls_to("chat.postMessage") == []
    assert dli_requests(stack.dli) == []
    refusals = [r for r in caplog.records if r.getMessage().startswith("refused lookup")]
    assert len(refusals) == 4 and all(r.levelno == logging.WARNING for r in refusals)


async def test_a_non_operators_mute_and_ack_are_refused_and_not_applied(
    stack: SlackStack,
) -> None:
    state = stack.services.main.watch.state
    await open_alert(state, FAILING, PAYMENTS)
    ts = "1700000000.000100"
    mute = await press(stack, f"{ACTION_MUTE}_4h", f"{FAILING}|4", user=BOB, message=alert(ts))
    ack = await press(stack, ACTION_ACK, FAILING, user=BOB, message=alert(ts))
    for answer in (mute, ack):
        assert answer.body["response_type"] == "ephemeral"
        text = text_of(answer)
        assert f"Only members of @{ONCALL} may" in text
        assert f"channels.{PAYMENTS}.operators" in text
    assert "mute alerts" in text_of(mute) and "acknowledge alerts" in text_of(ack)
    assert await state.mutes(now=0.0) == {}
    assert await state.acknowledged_by(f"inc-{FAILING[:8]}", PAYMENTS) is None
    assert await stack.services.audit.recent(PAYMENTS, 10) == []
    assert dli_requests(stack.dli) == []


async def test_an_operators_mute_and_ack_are_applied_and_audited_once(
    stack: SlackStack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.audit")
    state = stack.services.main.watch.state
    incident = await open_alert(state, FAILING, PAYMENTS)
    ts = "1700000000.000100"
    mute = await press(stack, f"{ACTION_MUTE}_4h", f"{FAILING}|4", user=ALICE, message=alert(ts))
    ack = await press(stack, ACTION_ACK, FAILING, user=ALICE, message=alert(ts))
    assert "muted here for 4 h" in text_of(mute)
    assert "Acknowledged by @U0ALICE" in text_of(ack)
    assert (await state.mutes(now=0.0))[(FAILING, PAYMENTS)].user == ALICE
    assert await state.acknowledged_by(incident, PAYMENTS) == ALICE

    entries = await stack.services.audit.recent(PAYMENTS, 10)
    assert [(e.user, e.verb, e.action, e.connection, e.project, e.result) for e in entries] == [
        (ALICE, "ack", "ack", FAILING, "default", "ok"),
        (ALICE, "mute", "mute 4 h", FAILING, "default", "ok"),
    ]
    lines = [json.loads(r.getMessage().removeprefix("audit ")) for r in caplog.records
             if r.name == "bot.audit" and r.getMessage().startswith("audit {")]  # fmt: skip
    assert [(line["verb"], line["user"], line["channel"]) for line in lines] == [
        ("mute", ALICE, PAYMENTS),
        ("ack", ALICE, PAYMENTS),
    ]
    # The trail is shown to operators, and only to them.
    for user, expected in ((ALICE, "mute 4 h"), (BOB, "Only members of")):
        url = stack.slack.response_url()
        body = slash_command_body("audit 5", channel_id=PAYMENTS, user_id=user, response_url=url)
        await stack.post(body)
        [reply] = await stack.replies(url.rsplit("/", 1)[1])
        assert expected in text_of(reply) and reply.body["response_type"] == "ephemeral"


async def test_a_forged_button_value_changes_nothing_the_channel_cannot_see(
    key_prefix: str, tmp_path: Path
) -> None:
    # A channel that sees no project: a Mute value naming a real connection is refused as an
    # unknown id, and nothing is muted anywhere.
    config = tmp_path / "dliconn.toml"
    config.write_text(f"[channels.{HIDDEN_PROJECTS}]\nprojects = []\n", encoding="utf-8")
    async with slack_stack(key_prefix, DLICONN_CONFIG=str(config)) as stack:
        state = stack.services.main.watch.state
        for value in (f"{FAILING}|4", "../../etc|24", f"{FAILING}|87600"):
            answer = await press(
                stack, f"{ACTION_MUTE}_4h", value, user=BOB, channel=HIDDEN_PROJECTS
            )
            assert "No connection" in text_of(answer)
            no_connection_data(text_of(answer).replace(FAILING, ""))
        assert await state.mutes(now=0.0) == {}
        # The same forged value pressed where the project is visible mutes for an hour (a
        # duration the alert does not offer is the shortest it does), not ten years.
        await press(stack, f"{ACTION_MUTE}_4h", f"{FAILING}|87600", user=BOB, channel="C0OTHER")
        [(key, muted)] = (await state.mutes(now=0.0)).items()
        assert key == (FAILING, "C0OTHER") and muted.until <= time.time() + 3600
        entries = await stack.services.audit.recent(HIDDEN_PROJECTS, 10)
        assert {e.result for e in entries} == {"failed: not found"}
