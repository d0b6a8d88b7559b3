"""Block Kit basics: the Message type, Slack's limits, and the small blocks every builder uses."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from bot.blocks.text import Style, truncate

# Block Kit limits (Slack's Block Kit reference; see design/slack-platform.md).
MAX_BLOCKS: Final = 50
SECTION_TEXT_MAX: Final = 3000
FIELD_MAX: Final = 2000
MAX_FIELDS: Final = 10
HEADER_MAX: Final = 150
CONTEXT_MAX: Final = 10
ACTIONS_MAX: Final = 25
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
    """Characters of text in serialised blocks: what Slack's undocumented size limit counts."""

    def walk(node: Any) -> int:
        if isinstance(node, dict):
            own = len(node["text"]) if isinstance(node.get("text"), str) else 0
            return own + sum(walk(value) for value in node.values())
        if isinstance(node, list):
            return sum(walk(item) for item in node)
        return 0

    return sum(walk(block) for block in blocks)


# --------------------------------------------------------------------------- small blocks


def _text_object(kind: str, text: str, flag: str) -> dict[str, Any]:
    # Like slack_sdk's to_dict, an empty text is left out rather than sent as "".
    return {"type": kind, "text": text, flag: True} if text else {"type": kind, flag: True}


def mrkdwn_text(text: str) -> dict[str, Any]:
    return _text_object("mrkdwn", text, "verbatim")


def _plain(text: str) -> dict[str, Any]:
    return _text_object("plain_text", text, "emoji")


def section_block(text: str, *, accessory: dict[str, Any] | None = None) -> dict[str, Any]:
    block = {"type": "section", "text": mrkdwn_text(text)}
    if accessory is not None:
        block["accessory"] = accessory
    return block


def header_block(text: str) -> dict[str, Any]:
    return {
        "type": "header",
        "text": _plain(truncate(text, HEADER_MAX, style="plain", marker="…")),
    }


def context_block(parts: Sequence[str]) -> dict[str, Any]:
    return {"type": "context", "elements": [mrkdwn_text(part) for part in parts[:CONTEXT_MAX]]}


def divider() -> dict[str, Any]:
    return {"type": "divider"}


def button_element(
    label: str, action_id: str, *, value: str | None = None, url: str | None = None
) -> dict[str, Any]:
    button = {"type": "button", "text": _plain(label[:BUTTON_TEXT_MAX]), "action_id": action_id}
    if value:
        button["value"] = value
    if url:
        button["url"] = url
    return button


def fits_value(value: str) -> bool:
    # A cut id would act on the wrong connection: better no button than a wrong one.
    return 0 < len(value) <= BUTTON_VALUE_MAX


def fallback_text(sentence: str, style: Style = "mrkdwn") -> str:
    """The top-level `text`: Slack parses it as mrkdwn too, so it is escaped like any block."""
    return truncate(sentence, FALLBACK_MAX, style=style, marker="…")
