"""Plain-text rendering of built messages for a terminal (the console and `python -m bot show`)."""

from __future__ import annotations

import re
import textwrap
import unicodedata
from typing import Any, Final

from bot.blocks.message import Message
from bot.blocks.text import EMOJI, read_as

_DIM: Final = "\x1b[2m"
_RESET: Final = "\x1b[0m"
_CONTEXT_PREFIX: Final = "  › "
_RULE: Final = "─" * 40
# DLI's bytes reach the blocks as sent; a terminal must not run its escapes (`\x1b[31m`) or
# let `\r` overwrite a line, so control characters show as their Unicode pictures here.
_CONTROLS: Final = str.maketrans(
    {c: 0x2400 + c for c in range(0x20) if chr(c) not in "\n\t"} | {0x7F: 0x2421}
)

_ENTITY = re.compile(r"&(amp|lt|gt);")
_ENTITY_CHARS: Final[dict[str, str]] = {"amp": "&", "lt": "<", "gt": ">"}
# Code first: its content is literal.
_CODE = re.compile(r"```(?P<block>.*?)```|`(?P<inline>[^`\n]*)`", re.DOTALL)
_DATE = re.compile(r"<!date\^-?\d+\^[^|>]*(?:\^[^|>]*)?\|(?P<fallback>[^>]*)>")
_LINK = re.compile(r"<(?P<url>[a-z][a-z0-9+.-]*:[^|>]*)(?:\|(?P<label>[^>]*))?>", re.IGNORECASE)
_MENTION = re.compile(r"<[!@#](?P<who>[^|>]*)(?:\|[^>]*)?>")
_SHORTCODE = re.compile(r":(?P<name>[a-z0-9_+-]+):")
_FORMAT_PAIRS = [
    re.compile(rf"(?<![\w{m}]){re.escape(m)}(?=\S)(?P<inner>[^{m}\n]*?\S){re.escape(m)}(?![\w{m}])")
    for m in ("*", "_", "~")
]


def _width(text: str) -> int:
    """Terminal columns of `text`: wide (CJK) characters take two, combining marks none."""
    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
        for c in text
    )


def _display(text: str) -> str:
    """Slack's escapes undone (our mrkdwn is escaped; values are never in it)."""
    return _ENTITY.sub(lambda m: _ENTITY_CHARS[m.group(1)], text)


def _emoji(text: str) -> str:
    return _SHORTCODE.sub(lambda m: EMOJI.get(m.group("name"), m.group(0)), text)


def _prose(text: str) -> str:
    text = _DATE.sub(lambda m: m.group("fallback"), text)
    text = _LINK.sub(
        lambda m: f"{m.group('label')} ({m.group('url')})" if m.group("label") else m.group("url"),
        text,
    )
    text = _MENTION.sub(lambda m: "@" + m.group("who"), text)
    text = _emoji(text)
    for pattern in _FORMAT_PAIRS:
        text = pattern.sub(lambda m: m.group("inner"), text)
    return _display(text)


def mrkdwn_to_text(mrkdwn: str) -> str:
    """A mrkdwn string as a terminal shows it: no markup, code blocks indented."""
    out = ""
    position = 0
    after_block = False
    for match in _CODE.finditer(mrkdwn):
        prose = _prose(mrkdwn[position : match.start()])
        out += prose.lstrip("\n") if after_block else prose
        position = match.end()
        after_block = match.group("block") is not None
        if after_block:
            body = textwrap.indent(_display(match.group("block")), "    ", lambda _: True)
            out = out.rstrip("\n") + "\n" + body + "\n"
        else:
            out += _display(match.group("inline"))
    tail = _prose(mrkdwn[position:])
    return (out + (tail.lstrip("\n") if after_block else tail)).rstrip("\n")


def _text_of(obj: dict[str, Any]) -> str:
    text = str(obj.get("text", ""))
    if obj.get("type") == "mrkdwn":
        return mrkdwn_to_text(text)
    return _emoji(text) if obj.get("emoji") else text


def _rich_element(element: dict[str, Any], depth: int = 0) -> str:
    kind = element.get("type")
    children = element.get("elements", [])
    if kind == "rich_text_preformatted":
        body = "".join(read_as(e) for e in children)
        return textwrap.indent(body, "    ", lambda _: True)
    if kind == "rich_text_list":
        bullet = "  " * (element.get("indent") or 0) + "• "
        return "\n".join(bullet + _rich_element(item, depth + 1) for item in children)
    if kind == "rich_text_quote":
        return textwrap.indent("".join(read_as(e) for e in children), "> ", lambda _: True)
    return "".join(read_as(e) for e in children)


def _rich_text(block: dict[str, Any]) -> str:
    return "\n".join(_rich_element(element) for element in block.get("elements", []))


def _button(element: dict[str, Any]) -> str:
    label = _text_of(element.get("text", {}))
    return f"[{label} → {element['url']}]" if element.get("url") else f"[{label}]"


def _field(field: dict[str, Any]) -> str:
    label, _, value = _text_of(field).partition("\n")
    if not value:
        return label
    first, *rest = value.split("\n")
    return "\n".join([f"{label}: {first}", *(f"    {line}" for line in rest)])


def _block(block: dict[str, Any]) -> str:
    kind = block.get("type")
    if kind == "header":
        title = _text_of(block["text"])
        return f"{title}\n{'=' * _width(title)}"
    if kind == "section":
        parts = [_text_of(block["text"])] if "text" in block else []
        parts += [_field(field) for field in block.get("fields", [])]
        accessory = block.get("accessory")
        if accessory and accessory.get("type") == "button":
            parts[-1] += "  " + _button(accessory)
        return "\n".join(parts)
    if kind == "context":
        return _CONTEXT_PREFIX + " · ".join(
            _text_of(element) for element in block.get("elements", []) if "text" in element
        )
    if kind == "actions":
        return " ".join(
            _button(element) for element in block.get("elements", []) if element.get("text")
        )
    if kind == "rich_text":
        return _rich_text(block)
    if kind == "divider":
        return _RULE
    return ""


def render_text(message: Message, *, color: bool = False) -> str:
    """Every block of `message` as readable text; `color` dims the context lines (ANSI)."""
    if not message.blocks:
        return mrkdwn_to_text(message.text).translate(_CONTROLS)
    parts = []
    for block in message.blocks:
        part = _block(block).translate(_CONTROLS)
        if part and color and block.get("type") == "context":
            part = f"{_DIM}{part}{_RESET}"
        if part:
            parts.append(part)
    return "\n\n".join(parts)
