"""The one boundary for text in Block Kit: untrusted values become rich_text, our words mrkdwn.

Policy (every value from DLI or from a person goes through this module):

* **Values are structured, never markup.** A name, id, IP, route, status, `err_msg`, request id
  or echoed input is a `rich_text` text element (`code(...)` styles ids and names as inline code,
  `value(...)` shows plain text, `preformatted(...)` is a `rich_text_preformatted` block for an
  `err_msg`) or, where Block Kit takes no rich text (headers, context lines, a section that
  carries a button), a `plain_text` object with `"emoji": false`. Slack parses neither for
  mentions, links, formatting or `:shortcodes:`, so `<!channel>`, `<@U1>`, `<https://x|y>`,
  backticks, `*_~` and `:smile:` reach the reader exactly as DLI sent them. Nothing is escaped
  and nothing is swapped for a lookalike: what you copy is what DLI sent. Plain (non-code)
  value elements also carry the `unlink` style, so a bare URL in them is not auto-linked.
* **Our own words** may stay mrkdwn (section text, context). `escape_entities` escapes `&`, `<`,
  `>` in them; they never contain a value. The bot's own tokens — a `date` element, a
  `<!date^…>` token in a context line, a `user` mention of someone who clicked — are built here
  from checked input.
* **The top-level `text`** (push notifications, screen readers) mixes our words and values; it is
  mrkdwn, so `&`, `<`, `>` are escaped (`fallback`), and a `<!here>` can therefore not ping.
  (A bare `@here` is no mention: the client never sets `link_names`.)
* **Characters kept, except two.** DLI's bytes are kept, control characters, zero-width and
  bidi characters included. Only a lone surrogate (not encodable, Slack would refuse the
  message) and NUL (dropped or refused by Slack's JSON handling) become a visible U+FFFD.
  A value containing bidi controls (LRO/RLO, isolates, marks) is wrapped in a first-strong
  isolate (FSI … PDI, with one more PDI for each isolate the value opens or closes) inside its
  own element: its bytes stay exact, and it cannot reorder the words around it.
* **Truncation is visible and whole.** A cut value is followed by `… N more characters`
  (N counts what was left out), and the cut never splits a code point or a combining sequence
  (marks, ZWJ sequences, variation selectors, skin tones). Limits count characters (code points),
  as Slack does.

Every builder returns plain Block Kit dicts, the same ones `slack_sdk.models.blocks` would
serialise (going through its objects was a fifth of a slash command's CPU, bench/slack_commands);
tests/slack_limits.py checks that each block round-trips through slack_sdk's validating objects.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from bot.i18n import N_, _
from bot.slack_ids import is_user_id

Element = dict[str, Any]
#: A run of rich text elements (one line, or a few), to go into a rich_text_section.
Pieces = list[Element]

#: What follows a cut value (`{n}`: the characters left out), in the reader's language.
MORE_MARKER: Final = N_("… {n} more characters")

# The emoji the builders use, by shortcode: rich_text takes them as `emoji` elements, plain_text
# (sent with "emoji": false) as the character itself, and the terminal renderer shows these.
EMOJI: Final[dict[str, str]] = {
    "red_circle": "🔴",
    "large_green_circle": "🟢",
    "large_yellow_circle": "🟡",
    "white_circle": "⚪",
    "black_circle": "⚫",
    "warning": "⚠️",
    "satellite_antenna": "📡",
    "satellite": "📡",
    "floppy_disk": "💾",
    "test_tube": "🧪",
    "mag": "🔍",
    "no_entry": "⛔",
    "hourglass_flowing_sand": "⏳",
    "hourglass": "⌛",
    "closed_lock_with_key": "🔐",
    "grey_question": "❔",
    "boom": "💥",
    "rotating_light": "🚨",
    "white_check_mark": "✅",
    "eyes": "👀",
    "repeat": "🔁",
    "wastebasket": "🗑️",
    "mute": "🔇",
    "no_bell": "🔕",
    "information_source": "ℹ️",
    "pause_button": "⏸️",
    "label": "🏷️",
    "no_entry_sign": "🚫",
    "compass": "🧭",
    "shield": "🛡️",
    "scroll": "📜",
}

_UNSENDABLE = re.compile("[\x00\ud800-\udfff]")
_BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_ISOLATE_OPENERS: Final = frozenset("\u2066\u2067\u2068")
_FSI, _PDI = "\u2068", "\u2069"
_ZWJ: Final = "\u200d"
_ENTITIES: Final[dict[str, str]] = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_ENTITY_CHARS = re.compile("[&<>]")
_UNLINKED: Final[dict[str, bool]] = {"unlink": True}
_CODE: Final[dict[str, bool]] = {"code": True}
_FORMATTER: Final = string.Formatter()


# --------------------------------------------------------------------------- characters


def sendable(text: str) -> str:
    """`text` as Slack can carry it: a lone surrogate or NUL becomes a visible U+FFFD."""
    return _UNSENDABLE.sub("\ufffd", text) if _UNSENDABLE.search(text) else text


def isolated(text: str) -> str:
    """`sendable(text)`, wrapped in FSI … PDI when it holds bidi controls (see the module doc)."""
    text = sendable(text)
    if not _BIDI.search(text):
        return text
    closers = text.count(_PDI)
    openers = sum(text.count(c) for c in _ISOLATE_OPENERS)
    return _FSI * (1 + closers) + text + _PDI * (1 + closers + openers)


def _extends(char: str) -> bool:
    """Whether `char` belongs to the character before it (a cut must not fall before it)."""
    if char == _ZWJ or "\ufe00" <= char <= "\ufe0f" or "\U0001f3fb" <= char <= "\U0001f3ff":
        return True
    return unicodedata.category(char) in ("Mn", "Mc", "Me")


def whole_prefix(text: str, limit: int) -> str:
    """The longest prefix of at most `limit` characters that ends where a whole character ends."""
    if len(text) <= limit:
        return text
    end = max(0, limit)
    while end > 0 and (_extends(text[end]) or text[end - 1] == _ZWJ):
        end -= 1
    return text[:end]


def _fit(text: str, room: int) -> tuple[str, str]:
    """The longest whole prefix of `text` whose isolated form fits `room`: (prefix, shown)."""
    prefix = whole_prefix(text, max(0, room))
    shown = isolated(prefix)
    while len(shown) > room and prefix:  # the isolates took room: give it back
        prefix = whole_prefix(prefix, max(0, len(prefix) - (len(shown) - room)))
        shown = isolated(prefix)
    return prefix, shown


def cut(text: str, limit: int, *, marker: str | None = None) -> tuple[str, str]:
    """`text` made sendable and isolated, cut to fit `limit` together with its marker.

    Returns (shown, marker): `marker` is "" when nothing was cut, else the formatted marker
    (`{n}` is what was left out; by default MORE_MARKER in the reader's language). When not
    even the marker fits, shown is a bare whole prefix.
    """
    shown = isolated(text)
    if len(shown) <= limit:
        return shown, ""
    marker = _(MORE_MARKER) if marker is None else marker
    room = limit - len(marker.format(n=len(text)))  # n <= len(text): the widest marker
    if room < 0:
        return _fit(text, limit)[1], ""
    prefix, shown = _fit(text, room)
    return shown, marker.format(n=len(text) - len(prefix))


def shortened(text: str, limit: int, *, marker: str | None = None) -> str:
    """`cut`, joined: for a plain_text object or a fallback, where the marker sits inline."""
    shown, more = cut(text, limit, marker=marker)
    return shown + more


# --------------------------------------------------------------------------- rich text


def words(text: str, *, bold: bool = False, italic: bool = False, code: bool = False) -> Element:
    """Our own words as a rich text element (bold, italic or code if asked)."""
    element: Element = {"type": "text", "text": text}
    style = {k: True for k, on in (("bold", bold), ("italic", italic), ("code", code)) if on}
    if style:
        element["style"] = style
    return element


def value(text: str, limit: int = 200, *, bold: bool = False, marker: str | None = None) -> Pieces:
    """An untrusted value as plain (unlinked) rich text, cut visibly; [] when empty."""
    shown, more = cut(text, limit, marker=marker)
    pieces = [shown_value(shown, bold=bold)] if shown else []
    return pieces + ([words(more, italic=True)] if more else [])


def shown_value(shown: str, *, bold: bool = False) -> Element:
    """A text element for a value already made safe by `cut`/`shortened` (or a status line)."""
    return {
        "type": "text",
        "text": shown,
        "style": {"bold": True, "unlink": True} if bold else dict(_UNLINKED),
    }


def code(text: str, limit: int = 80) -> Pieces:
    """An untrusted id, name or IP as inline code, cut visibly; an en dash when empty."""
    shown, more = cut(text, limit)
    if not shown:
        return [words("–")] + ([words(more, italic=True)] if more else [])
    pieces = [{"type": "text", "text": shown, "style": dict(_CODE)}]
    return pieces + ([words(more, italic=True)] if more else [])


def emoji(name: str) -> Element:
    return {"type": "emoji", "name": name}


def icon_line(icon: str, pieces: Pieces) -> Pieces:
    """A line as the bot writes most of them: an emoji, a space, then `pieces`."""
    return [emoji(icon), words(" "), *pieces]


def user(user_id: str) -> Element:
    """A mention of a user the bot names on purpose (someone who clicked); callers check the id."""
    return {"type": "user", "user_id": user_id}


def person(who: str) -> Pieces:
    """Someone the bot names on purpose (who clicked, who watches): a Slack user id becomes a
    mention of just that person, anything else is shown as its exact text."""
    return [user(who)] if is_user_id(who) else code(who, 40)


def channel(channel_id: str) -> Element:
    return {"type": "channel", "channel_id": channel_id}


def usergroup(group_id: str) -> Element:
    """A user group's handle (Slack shows `@oncall`); only in ephemeral replies, where no
    mention notifies anyone."""
    return {"type": "usergroup", "usergroup_id": group_id}


def _utc(moment: datetime | float) -> datetime:
    # The watcher keeps epoch seconds, DLI's fields are datetimes: both are moments here.
    if isinstance(moment, datetime):
        return moment.astimezone(UTC)
    return datetime.fromtimestamp(moment, UTC)


def date(moment: datetime | float) -> Element:
    """The reader's local time, with a UTC fallback for clients that cannot show a date;
    `moment` is a datetime or epoch seconds."""
    at = _utc(moment)
    return {
        "type": "date",
        "timestamp": int(at.timestamp()),
        "format": "{date_short_pretty} {time}",
        "fallback": at.strftime("%Y-%m-%d %H:%M UTC"),
    }


def joined(parts: Iterable[Pieces], separator: str) -> Pieces:
    """Runs of pieces with our `separator` between them."""
    out: Pieces = []
    for index, part in enumerate(parts):
        if index:
            out.append(words(separator))
        out += part
    return out


def rich_section(pieces: Pieces) -> Element:
    """A rich_text_section; adjacent plain words are merged (fewer elements, same text)."""
    merged: Pieces = []
    for piece in pieces:
        if not piece.get("text") and piece["type"] == "text":
            continue  # Slack refuses an empty text element
        last = merged[-1] if merged else None
        if last and _mergeable(last) and _mergeable(piece):
            merged[-1] = {"type": "text", "text": last["text"] + piece["text"]}
        else:
            merged.append(piece)
    return {"type": "rich_text_section", "elements": merged or [words(" ")]}


def _mergeable(piece: Element) -> bool:
    return piece["type"] == "text" and "style" not in piece


def preformatted(text: str, limit: int) -> Element:
    """An untrusted multi-line text (an `err_msg`) as a code block, its bytes exact, cut visibly."""
    marker = _(MORE_MARKER)
    shown, more = cut(text, limit, marker="\n" + marker)
    if not shown:  # no room for any of it: still say how much there was
        return {"type": "rich_text_preformatted",
                "elements": [words(marker.format(n=len(text)), italic=True)]}  # fmt: skip
    elements = [{"type": "text", "text": shown}]
    if more:
        elements.append(words(more, italic=True))
    return {"type": "rich_text_preformatted", "elements": elements}


def pieces_length(pieces: Iterable[Element]) -> int:
    """Characters of text in rich text pieces, as Slack's size limit counts them."""
    return sum(len(p.get("text") or p.get("fallback") or "") for p in pieces)


def read_as(piece: Element) -> str:
    """One rich text element as a reader sees it: text exactly, emoji as characters, a date's
    fallback, a mention's id (the console renders with this too)."""
    kind = piece.get("type")
    if kind == "emoji":
        return EMOJI.get(piece["name"], f":{piece['name']}:")
    if kind == "date":
        return str(piece.get("fallback", piece["timestamp"]))
    if kind == "user":
        return f"@{piece['user_id']}"
    if kind == "channel":
        return f"#{piece['channel_id']}"
    if kind == "usergroup":
        return f"@{piece['usergroup_id']}"
    if kind == "broadcast":
        return f"@{piece['range']}"
    if kind == "link":
        return f"{piece['text']} ({piece['url']})" if piece.get("text") else str(piece["url"])
    return str(piece.get("text", ""))


def as_plain(pieces: Iterable[Element]) -> str:
    """Pieces flattened to one string, for a plain_text object (emoji as their characters)."""
    return "".join(read_as(piece) for piece in pieces)


# --------------------------------------------------------------------------- mrkdwn, fallback


def escape_entities(text: str) -> str:
    """`&`, `<`, `>` escaped, for our own mrkdwn and the top-level text; nothing else changes."""
    if not _ENTITY_CHARS.search(text):
        return text
    return _ENTITY_CHARS.sub(lambda m: _ENTITIES[m.group(0)], text)


def trusted(text: str, limit: int) -> str:
    """Our own mrkdwn, escaped and cut to `limit` without splitting an entity or a character."""
    out = escape_entities(sendable(text))
    if len(out) <= limit:
        return out
    kept = whole_prefix(out, limit - 1)
    entity = kept.rfind("&")
    if entity != -1 and ";" not in kept[entity:]:
        kept = kept[:entity]
    return kept + "…"


def fallback(sentence: str, limit: int) -> str:
    """The top-level `text`: values as sent, `&<>` escaped so nothing can ping or link."""
    return trusted(sentence, limit)


def date_token(moment: datetime | float) -> str:
    """A mrkdwn date token (for a context line, which takes no rich text); the bot's own markup."""
    at = _utc(moment)
    stamp = at.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(at.timestamp())}^{{date_short_pretty}} {{time}}|{stamp}>"


def humanize_age(age: timedelta) -> str:
    """An age in its largest whole unit, in the reader's language ("3 min")."""
    seconds = max(0, int(age.total_seconds()))
    if seconds < 60:
        return _("{n} s").format(n=seconds)
    if seconds < 3600:
        return _("{n} min").format(n=seconds // 60)
    if seconds < 86400:
        return _("{n} h").format(n=seconds // 3600)
    return _("{n} d").format(n=seconds // 86400)


def phrase(template: str, /, **slots: Pieces | Element | str) -> Pieces:
    """A sentence of ours with values in it: each `{name}` of the (translated) `template`
    becomes that slot, a value's own pieces or an element, exact; a str slot is our own words.
    The words around the slots are ours. A translation may order the slots as it likes."""
    pieces: Pieces = []
    ours = ""  # our words since the last slot ("{{" and "}}" come in separate runs)
    for literal, name, _spec, _conversion in _FORMATTER.parse(template):
        ours += literal
        if name is None:
            continue
        slot = slots[name]
        if isinstance(slot, str):
            ours += slot
            continue
        if ours:
            pieces.append(words(ours))
            ours = ""
        pieces += [slot] if isinstance(slot, dict) else slot
    return [*pieces, words(ours)] if ours else pieces
