"""Slack's Block Kit limits and the bot's safety rules, checked on any built message (tests)."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Collection, Iterator
from typing import Any, Final

from slack_sdk.models.blocks import Block

from bot.blocks.message import Message
from bot.blocks.text import MORE_MARKER
from bot.i18n import LOCALES, _, speaking

# Block Kit limits as Slack documents them (design/slack-platform.md), independent of bot.blocks.
MAX_BLOCKS, SECTION_TEXT, FIELDS, FIELD_TEXT, HEADER_TEXT = 50, 3000, 10, 2000, 150
CONTEXT_ELEMENTS, ACTION_ELEMENTS, BUTTON_TEXT, ACTION_ID, BUTTON_VALUE = 10, 25, 75, 255, 2000
MESSAGE_TEXT, FALLBACK_TEXT, HOME_BLOCKS = 12_000, 4_000, 100

_DATE_TOKEN = re.compile(r"<!date\^-?\d+\^\{date_short_pretty\} \{time\}\|[^<>&]*>")
_CODE = re.compile(r"```.*?```|`[^`\n]*`", re.DOTALL)
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
_BARE_AMPERSAND = re.compile(r"&(?!(?:amp|lt|gt);)")
_RICH_INLINE = frozenset({"text", "emoji", "date", "user", "channel"})


def text_objects(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
            yield node
        for value in node.values():
            yield from text_objects(value)
    elif isinstance(node, list):
        for item in node:
            yield from text_objects(item)


#: The rich text parts whose elements are inline (text, user, emoji ...), not other parts.
RICH_RUNS: Final = ("rich_text_section", "rich_text_preformatted", "rich_text_quote")


def rich_runs(node: Any, kinds: Collection[str] = RICH_RUNS) -> Iterator[list[dict[str, Any]]]:
    """The element lists of every rich_text_section / _preformatted / _quote in `node` (only
    of the `kinds` of part named)."""
    if isinstance(node, dict):
        if node.get("type") in kinds:
            yield node["elements"]
        for value in node.values():
            yield from rich_runs(value, kinds)
    elif isinstance(node, list):
        for item in node:
            yield from rich_runs(item, kinds)


def rich_elements(node: Any, kinds: Collection[str] = RICH_RUNS) -> list[dict[str, Any]]:
    """Every inline element of the rich text in `node` (blocks, a view, a message body), in
    order: the runs of `rich_runs`, flattened."""
    return [element for run in rich_runs(node, kinds) for element in run]


def prose_of(mrkdwn: str) -> str:
    """The parts of a mrkdwn string Slack would format: outside code spans and date tokens."""
    return _CODE.sub("", _DATE_TOKEN.sub("", mrkdwn))


def assert_inert(mrkdwn: str, mentions: Collection[str] = ()) -> None:
    """Nothing in `mrkdwn` can ping or link: no `<`, `>` or bare `&` but the bot's own date
    tokens and `mentions` (user mentions the bot writes on purpose: who acknowledged an alert)."""
    for mention in mentions:
        mrkdwn = mrkdwn.replace(f"<@{mention}>", "")
    without_dates = _DATE_TOKEN.sub("", mrkdwn)
    assert "<" not in without_dates and ">" not in without_dates, mrkdwn
    assert not _BARE_AMPERSAND.search(without_dates), mrkdwn
    assert "\x00" not in mrkdwn and not re.search("[\ud800-\udfff]", mrkdwn), repr(mrkdwn)


def _assert_our_mrkdwn(mrkdwn: str, mentions: Collection[str]) -> None:
    """A mrkdwn object carries only the bot's own words: inert, balanced code, no controls."""
    assert_inert(mrkdwn, mentions)
    assert "`" not in prose_of(mrkdwn), f"unbalanced code span in {mrkdwn!r}"
    assert not re.search(r"@(channel|here|everyone)", mrkdwn, re.IGNORECASE), mrkdwn
    assert not _INVISIBLE.search(mrkdwn), mrkdwn
    for char in mrkdwn:
        assert char in "\n\t" or unicodedata.category(char) != "Cc", repr(mrkdwn)


def _assert_rich_text(block: dict[str, Any], mentions: Collection[str]) -> None:
    for run in rich_runs(block):
        assert run, block
        for element in run:
            assert element["type"] in _RICH_INLINE, element  # no broadcast, no link
            if element["type"] == "text":
                assert element["text"], "Slack refuses an empty text element"
            if element["type"] == "user":
                assert element["user_id"] in mentions, element


def _buttons(block: dict[str, Any]) -> list[dict[str, Any]]:
    candidates = [block.get("accessory") or {}, *block.get("elements", [])]
    return [b for b in candidates if b.get("type") == "button"]


def assert_view_blocks(
    blocks: list[dict[str, Any]], *, max_blocks: int, mentions: Collection[str] = ()
) -> None:
    """Block Kit's limits and the bot's safety rules on the blocks of a message or a view."""
    json.dumps(blocks)
    assert 0 < len(blocks) <= max_blocks
    for block in blocks:
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
        elif kind == "rich_text":
            _assert_rich_text(block, mentions)
        for button in _buttons(block):
            assert len(button["text"]["text"]) <= BUTTON_TEXT
            assert len(button["action_id"]) <= ACTION_ID
            assert len(button.get("value", "")) <= BUTTON_VALUE
        button_labels = {id(b["text"]) for b in _buttons(block)}
        for text in text_objects(block):
            if text["type"] == "plain_text" and id(text) not in button_labels:
                # Values sit in plain_text: no `:shortcode:` of theirs may become an emoji.
                assert text.get("emoji") is False, text
    assert block_text(blocks) <= MESSAGE_TEXT
    for text in text_objects(blocks):
        if text["type"] == "mrkdwn":
            assert text.get("verbatim") is True, "mrkdwn without verbatim auto-parses mentions"
            _assert_our_mrkdwn(text["text"], mentions)


def block_text(node: Any) -> int:
    """Every character of text in `node`: text objects, rich text elements, date fallbacks."""
    if isinstance(node, dict):
        own = sum(len(node[k]) for k in ("text", "fallback") if isinstance(node.get(k), str))
        return own + sum(block_text(value) for value in node.values())
    if isinstance(node, list):
        return sum(block_text(item) for item in node)
    return 0


def assert_within_slack_limits(message: Message, *, mentions: Collection[str] = ()) -> None:
    """Every limit Slack enforces (slack_sdk checks some on to_dict, the rest here), and safety."""
    assert isinstance(message, Message)
    assert message.text.strip()
    assert len(message.text) <= FALLBACK_TEXT
    assert_inert(message.text, mentions)
    assert_view_blocks(message.blocks, max_blocks=MAX_BLOCKS, mentions=mentions)


def assert_home_view_within_limits(view: dict[str, Any]) -> None:
    assert view["type"] == "home"
    assert_view_blocks(view["blocks"], max_blocks=HOME_BLOCKS)


# --------------------------------------------------------------------------- exact values

_UNSENDABLE = re.compile("[\x00\ud800-\udfff]")


def _markers() -> re.Pattern[str]:
    """A cut value's marker (`… N more characters`) in any language the bot speaks, N captured."""
    forms = []
    for locale in LOCALES:
        with speaking(locale):
            forms.append(re.escape(_(MORE_MARKER)).replace(re.escape("{n}"), r"(\d+)"))
    return re.compile("|".join(f"(?:{form})" for form in forms))


_MORE = _markers()


def _ends_with(head: str, prefix: str) -> bool:
    """`head` ends with `prefix`, maybe followed by the isolate closers (PDI) `isolated` adds;
    the value's own PDIs are part of `prefix` and must be there."""
    while not head.endswith(prefix):
        if not head.endswith("\u2069"):
            return False
        head = head[:-1]
    return True


def readable(node: Any) -> list[str]:
    """What a person reads where values may sit: each rich text run's text elements joined, and
    each plain_text object (mrkdwn is left out: it never carries a value)."""
    runs = ["".join(e["text"] for e in run if e["type"] == "text") for run in rich_runs(node)]
    return runs + [t["text"] for t in text_objects(node) if t["type"] == "plain_text"]


def assert_shows(node: Any, value: str) -> None:
    """`value` appears exactly in `node` (a lone surrogate or NUL as U+FFFD, which Slack cannot
    carry), or its prefix does, followed by `… N more characters` for exactly the rest."""
    expected = _UNSENDABLE.sub("\ufffd", value)
    if not expected:
        return
    strings = readable(node)
    if any(expected in s for s in strings):
        return
    for s in strings:
        for match in _MORE.finditer(s):
            left_out = int(next(g for g in match.groups() if g is not None))
            prefix = expected[: len(expected) - left_out]
            head = s[: match.start()]
            # A code block's marker sits on a line of its own: the "\n" before it is ours.
            heads = [head, head[:-1]] if head.endswith("\n") else [head]
            if 0 < left_out <= len(expected) and any(_ends_with(h, prefix) for h in heads):
                return
    raise AssertionError(f"{value[:200]!r} is not shown exactly in {strings!r:.2000}")
