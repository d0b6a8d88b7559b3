"""Diagnosis end to end through the Bolt app: a card with a known err_msg shows its likely cause
and a What to check button; pressing it opens the modal with the checklist and the bot's checks."""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio as aioredis

from bot.blocks.actions import ACTION_WHAT_TO_CHECK
from bot.blocks.diagnosis import parse_button_value
from bot.diagnosis import default_catalogue
from bot.local.demo import demo_connections
from bot.local.fake_slack import SlackCall
from bot.local.wire import block_action_body
from tests.fakes.slack_stack import SlackStack, slack_stack
from tests.slack_limits import assert_shows, assert_view_blocks, readable, text_objects

CONNECTION_ID = "7e57d1a6-0c1f-4b7e-9d2a-5a0f3c9e8b11"
ERR = "Test failed: failed to connect to specified address 10.9.0.7:3306 <!channel>"
ROUTE_NAME = "<!everyone> to-db"
CONNECTION = {
    "id": CONNECTION_ID,
    "name": "orders-rds",
    "status": "ACTIVE",
    "available_queue_info": [
        {"name": "sql_prod", "status": "FAILED", "err_msg": ERR, "peer_id": "p1"},
        {"name": "sql_odd", "status": "FAILED", "err_msg": "no idea what broke", "peer_id": "p2"},
        {"name": "sql_ok", "status": "ACTIVE", "err_msg": "", "peer_id": "p3"},
    ],
    "routes": [{"name": ROUTE_NAME, "cidr": "10.9.0.0/16"}],
    "hosts": [{"name": "rds-primary", "ip": "10.9.0.7"}],
}


pytestmark = pytest.mark.usefixtures("isolated")


def _what_to_check_buttons(call: SlackCall) -> list[dict[str, Any]]:
    return [
        block["accessory"]
        for block in call.body.get("blocks") or []
        if block.get("accessory", {}).get("action_id") == ACTION_WHAT_TO_CHECK
    ]


async def _press(stack: SlackStack, value: str, trigger_id: str) -> SlackCall:
    """A real block_actions click on a What to check button; the views.open it caused."""
    url = stack.slack.response_url()
    body = block_action_body(
        ACTION_WHAT_TO_CHECK, value, response_url=url, ephemeral=True, trigger_id=trigger_id
    )
    ack = await stack.post(body)
    assert ack.status_code == 200
    [opened] = await stack.slack.wait_for(
        "views.open", predicate=lambda c: c.body.get("trigger_id") == trigger_id
    )
    assert opened.ok, opened.response
    return opened


async def test_a_known_err_msg_gets_its_cause_and_the_button_opens_the_checklist(
    key_prefix: str, redis_client: aioredis.Redis
) -> None:
    entry = default_catalogue().get("connect-failed")
    assert entry is not None
    async with slack_stack(key_prefix, [*demo_connections(), CONNECTION]) as stack:
        _, card_to = await stack.command(CONNECTION_ID)
        [card] = await stack.replies(card_to)
        [button] = _what_to_check_buttons(card)  # sql_odd's unknown err_msg gets none
        assert parse_button_value(button["value"]) == ("connect-failed", CONNECTION_ID)
        opened = await _press(stack, button["value"], "1337.42.trigger-a")
        await stack.stop()

    # The card: the cause in our words, right under sql_prod's err_msg, shown exactly.
    blocks = card.body["blocks"]
    line = next(b for b in blocks if b.get("accessory") is button)
    assert entry.cause in line["text"]["text"]
    assert "sql_prod" in str(blocks[blocks.index(line) - 1])
    assert_shows(blocks, ERR)
    # The modal: the checklist in order, what the bot found, the Huawei page.
    view = opened.body["view"]
    assert view["type"] == "modal"
    assert_view_blocks(view["blocks"], max_blocks=100)
    mrkdwn = [t["text"] for t in text_objects(view["blocks"]) if t["type"] == "mrkdwn"]
    numbered = [t for t in mrkdwn if t[:1] == "*" and t[1:2].isdigit()]
    assert numbered == [f"*{i}.* {check}" for i, check in enumerate(entry.checks, start=1)]
    shown = readable(view["blocks"])
    assert any(
        f"10.9.0.7 in the error overlaps the connection's route {ROUTE_NAME} (10.9.0.0/16)." in s
        for s in shown
    ), shown
    assert any("Host rds-primary (10.9.0.7) is in 10.9.0.7 from the error." in s for s in shown)
    assert_shows(view["blocks"], ERR)
    urls = [b["accessory"]["url"] for b in view["blocks"] if "url" in b.get("accessory", {})]
    assert urls == [entry.doc_url]
    # Nothing else was said: the answer is the modal.
    assert stack.replies_so_far(card_to) == [card]
    assert not any(c.url_name != card_to for c in stack.slack.calls_to("response_url"))


async def test_a_connection_that_cannot_be_read_still_gets_the_checklist(
    key_prefix: str, redis_client: aioredis.Redis
) -> None:
    gone = "00000000-0000-4000-8000-000000000042"
    async with slack_stack(key_prefix) as stack:
        opened = await _press(stack, f"cidr-overlap|{gone}", "1337.43.trigger-b")
        unknown = await _press(stack, f"retired-entry|{gone}", "1337.44.trigger-c")
        await stack.stop()

    view = opened.body["view"]
    assert_view_blocks(view["blocks"], max_blocks=100)
    text = str(view["blocks"])
    assert "cannot be read from this channel now, so the bot checked nothing itself" in text
    assert "*1.* Compare the queue" in text
    assert gone not in text  # nothing about a connection this channel cannot read
    assert "no longer in the bot's catalogue" in str(unknown.body["view"]["blocks"])
