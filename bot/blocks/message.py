"""Block Kit basics: the Message type, Slack's limits, and the small blocks every builder uses."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from bot.blocks.text import Element, Pieces, fallback, rich_section, shortened

# Block Kit limits (Slack's Block Kit reference; see design/slack-platform.md).
MAX_BLOCKS: Final = 50
SECTION_TEXT_MAX: Final = 3000
HEADER_MAX: Final = 150
CONTEXT_MAX: Final = 10
BUTTON_TEXT_MAX: Final = 75
BUTTON_VALUE_MAX: Final = 2000
BUTTON_URL_MAX: Final = 3000
# Slack answers msg_blocks_too_long somewhere past ~12k chars of block text (undocumented), so
# builders stay comfortably below it.
TEXT_BUDGET: Final = 11_000
FALLBACK_MAX: Final = 1000


@dataclass(frozen=True)
class Message:
    """A reply: the fallback sentence (notifications, screen readers) plus serialised blocks."""

    text: str
    blocks: list[dict[str, Any]]


def block_text_length(blocks: Iterable[dict[str, Any]]) -> int:
    """Characters of text in serialised blocks (text objects and rich text elements alike, a
    date's fallback included): what Slack's undocumented size limit counts."""
    # A loop over an explicit stack rather than recursion: every card is measured several
    # times while it is laid out, and rich text nests deeply (bench/slack_commands).
    total = 0
    stack: list[Any] = list(blocks)
    while stack:
        node = stack.pop()
        if type(node) is dict:
            for key, value in node.items():
                kind = type(value)
                if kind is str:
                    if key == "text" or key == "fallback":
                        total += len(value)
                elif kind is dict or kind is list:
                    stack.append(value)
        elif type(node) is list:
            stack.extend(node)
    return total


def room_left(
    head: Sequence[dict[str, Any]],
    tail: Sequence[dict[str, Any]],
    *,
    max_blocks: int = MAX_BLOCKS,
) -> tuple[int, int]:
    """The blocks and characters of text a body may still use between `head` and `tail`
    within `max_blocks` blocks and the text budget."""
    return max_blocks - len(head) - len(tail), TEXT_BUDGET - block_text_length([*head, *tail])


# --------------------------------------------------------------------------- small blocks


def _text_object(kind: str, text: str, flag: str, on: bool) -> dict[str, Any]:
    # Like slack_sdk's to_dict, an empty text is left out rather than sent as "".
    return {"type": kind, "text": text, flag: on} if text else {"type": kind, flag: on}


def mrkdwn_text(text: str) -> dict[str, Any]:
    """Our own words as mrkdwn (callers escape `&<>`); verbatim, so Slack auto-parses nothing."""
    return _text_object("mrkdwn", text, "verbatim", True)


def plain_text(text: str) -> dict[str, Any]:
    """A plain_text object for text holding values: no `:shortcode:` becomes an emoji."""
    return _text_object("plain_text", text, "emoji", False)


def section_block(text: str, *, accessory: dict[str, Any] | None = None) -> dict[str, Any]:
    """A section of our own mrkdwn."""
    block = {"type": "section", "text": mrkdwn_text(text)}
    if accessory is not None:
        block["accessory"] = accessory
    return block


def plain_section(text: str, *, accessory: dict[str, Any] | None = None) -> dict[str, Any]:
    """A section whose text holds values (plain_text): for one that carries a button."""
    block = {"type": "section", "text": plain_text(text)}
    if accessory is not None:
        block["accessory"] = accessory
    return block


def rich_block(*elements: Pieces | Element) -> dict[str, Any]:
    """A rich_text block: each argument a line run (Pieces) or a ready rich text element."""
    parts = [rich_section(e) if isinstance(e, list) else e for e in elements]
    return {"type": "rich_text", "elements": parts}


def header_block(prefix: str, title: str = "") -> dict[str, Any]:
    """A header: our `prefix` (emoji as characters), then the untrusted `title`, cut visibly."""
    return {
        "type": "header",
        "text": plain_text(prefix + shortened(title, HEADER_MAX - len(prefix))),
    }


def context_block(parts: Sequence[str | Element]) -> dict[str, Any]:
    """A context line: strings are our own mrkdwn, dicts ready text objects (`plain_text`)."""
    elements = [mrkdwn_text(p) if isinstance(p, str) else p for p in parts[:CONTEXT_MAX]]
    return {"type": "context", "elements": elements}


def divider() -> dict[str, Any]:
    return {"type": "divider"}


def button_element(
    label: str, action_id: str, *, value: str | None = None, url: str | None = None
) -> dict[str, Any]:
    text = _text_object("plain_text", label[:BUTTON_TEXT_MAX], "emoji", True)
    button = {"type": "button", "text": text, "action_id": action_id}
    if value:
        button["value"] = value
    if url:
        button["url"] = url
    return button


def fits_value(value: str) -> bool:
    # A cut id would act on the wrong connection: better no button than a wrong one.
    return 0 < len(value) <= BUTTON_VALUE_MAX


def value_button(label: str, action_id: str, value: str) -> dict[str, Any] | None:
    """A button carrying `value`, or None when the value does not fit whole (see fits_value)."""
    return button_element(label, action_id, value=value) if fits_value(value) else None


def fallback_text(sentence: str) -> str:
    """The top-level `text`: Slack parses it as mrkdwn, so `&<>` are escaped (see text.py)."""
    return fallback(sentence, FALLBACK_MAX)
