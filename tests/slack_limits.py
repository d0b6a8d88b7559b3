"""Slack's Block Kit limits and the bot's safety rules, checked on any built message (tests)."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Collection, Iterator
from typing import Any

from slack_sdk.models.blocks import Block

from bot.blocks.message import Message

# Block Kit limits as Slack documents them (design/slack-platform.md), independent of bot.blocks.
MAX_BLOCKS, SECTION_TEXT, FIELDS, FIELD_TEXT, HEADER_TEXT = 50, 3000, 10, 2000, 150
CONTEXT_ELEMENTS, ACTION_ELEMENTS, BUTTON_TEXT, ACTION_ID, BUTTON_VALUE = 10, 25, 75, 255, 2000
MESSAGE_TEXT = 12_000

_DATE_TOKEN = re.compile(r"<!date\^-?\d+\^\{date_short_pretty\} \{time\}\|[^<>]*>")
_CODE = re.compile(r"```.*?```|`[^`\n]*`", re.DOTALL)
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def text_objects(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
            yield node
        for value in node.values():
            yield from text_objects(value)
    elif isinstance(node, list):
        for item in node:
            yield from text_objects(item)


def prose_of(mrkdwn: str) -> str:
    """The parts of a mrkdwn string Slack would format: outside code spans and date tokens."""
    return _CODE.sub("", _DATE_TOKEN.sub("", mrkdwn))


def assert_inert(mrkdwn: str, mentions: Collection[str] = ()) -> None:
    """Nothing in `mrkdwn` can ping, link, break out of code or hide behind control characters.

    `mentions` are user mentions the bot writes on purpose (who acknowledged an alert).
    """
    for mention in mentions:
        mrkdwn = mrkdwn.replace(f"<@{mention}>", "")
    without_dates = _DATE_TOKEN.sub("", mrkdwn)
    assert "<" not in without_dates and ">" not in without_dates, mrkdwn
    assert "`" not in prose_of(mrkdwn), f"unbalanced code span in {mrkdwn!r}"
    assert not re.search(r"@(channel|here|everyone)", mrkdwn, re.IGNORECASE), mrkdwn
    assert not _INVISIBLE.search(mrkdwn), mrkdwn
    for char in mrkdwn:
        assert char in "\n\t" or unicodedata.category(char) != "Cc", repr(mrkdwn)


def assert_within_slack_limits(message: Message, *, mentions: Collection[str] = ()) -> None:
    """Every limit Slack enforces (slack_sdk checks some on to_dict, the rest here), and safety."""
    assert isinstance(message, Message)
    assert message.text.strip()
    assert_inert(message.text, mentions)
    json.dumps(message.blocks)
    assert 0 < len(message.blocks) <= MAX_BLOCKS
    for block in message.blocks:
        parsed = Block.parse(block)  # real slack_sdk objects validate it; None: unknown type
        assert parsed is not None, block
        assert parsed.to_dict() == block
        kind = block["type"]
        if kind == "header":
            assert block["text"]["type"] == "plain_text"
            assert len(block["text"]["text"]) <= HEADER_TEXT
        elif kind == "section":
            if "text" in block:
                assert len(block["text"]["text"]) <= SECTION_TEXT
            assert len(block.get("fields", [])) <= FIELDS
            assert all(len(f["text"]) <= FIELD_TEXT for f in block.get("fields", []))
        elif kind == "context":
            assert len(block["elements"]) <= CONTEXT_ELEMENTS
        elif kind == "actions":
            assert len(block["elements"]) <= ACTION_ELEMENTS
        for button in [block.get("accessory") or {}, *block.get("elements", [])]:
            if button.get("type") == "button":
                assert len(button["text"]["text"]) <= BUTTON_TEXT
                assert len(button["action_id"]) <= ACTION_ID
                assert len(button.get("value", "")) <= BUTTON_VALUE
    texts = list(text_objects(message.blocks))
    assert sum(len(t["text"]) for t in texts) <= MESSAGE_TEXT
    for text in texts:
        if text["type"] == "mrkdwn":
            assert text.get("verbatim") is True, "mrkdwn without verbatim auto-parses mentions"
            assert_inert(text["text"], mentions)
