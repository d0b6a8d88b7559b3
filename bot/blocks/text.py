"""Pure Block Kit builders for dliconn replies; the one place dynamic text is escaped and cut.

Escaping policy (all text that did not come from this module goes through `_escape_pieces`):

* `&`, `<`, `>` become `&amp;`, `&lt;`, `&gt;` everywhere, so nothing from DLI can ping
  (`<!channel>`, `<@U123>`) or link (`<http://evil|click>`).
* Outside code, the formatting characters `*`, `_`, `~` and the backtick are replaced by
  lookalikes (`∗`, `ˍ`, `∼`, `ˋ`). Slack has no escape for them, and a zero-width space is not a
  reliable neutraliser: Slack's parser treats it as a word boundary (that is how people force
  formatting mid-word), so `*\\u200bbold*` may still turn bold. A lookalike is never markup,
  whatever the parser does. Inside code only the backtick is replaced: that is all it takes to
  keep text from closing the span, and names and `err_msg` stay copy-pasteable.
* Bare `@channel` / `@here` / `@everyone` get a fullwidth `＠`, and every mrkdwn object is sent
  with `verbatim: true`, so Slack does not auto-parse mentions or links in it.
* Control and format characters (bidi overrides, zero-width characters) are dropped or made
  visible so a name cannot spoof its neighbours; single-line contexts fold line breaks to spaces.

Identifiers (names, ids, IPs) are shown as inline code, `err_msg` as a code block: code is never
formatted or auto-linked by Slack. Every builder returns a `Message` of plain Block Kit dicts, the
same ones `slack_sdk.models.blocks` would serialise (going through its objects was a fifth of a
slash command's CPU, bench/slack_commands), with every limit (lengths, counts, 50 blocks, the
total text size) respected by construction; tests/unit/test_blocks.py checks that each block
round-trips through slack_sdk's own validating objects.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from typing import Final, Literal

TRUNCATION_MARKER: Final = "… (truncated, {n} more chars)"

# mrkdwn: untrusted text in mrkdwn; code: inside a code span/block; trusted: the bot's own mrkdwn
# (formatting kept, `&<>` escaped); plain: a plain_text object (Slack parses nothing there).
Style = Literal["mrkdwn", "code", "trusted", "plain"]

# Outside code these characters format text; their lookalikes never do. render.py maps them back.
LOOKALIKES: Final[dict[str, str]] = {"*": "\u2217", "_": "\u02cd", "~": "\u223c", "`": "\u02cb"}
_CODE_LOOKALIKES: Final[dict[str, str]] = {"`": LOOKALIKES["`"]}
_ENTITIES: Final[dict[str, str]] = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
MENTION_AT: Final = "\uff20"
_BROADCAST = re.compile(r"(?:channel|here|everyone)", re.IGNORECASE)
_LINE_BREAKS: Final = frozenset("\n\r\u2028\u2029\x0b\x0c\x85")


def _inert(special: str) -> re.Pattern[str]:
    chars = "".join(c for c in map(chr, range(0x20, 0x7F)) if c not in special)
    return re.compile(f"[{re.escape(chars)}]*")


# Per style, the printable ASCII that `_escape_pieces` leaves as it is. Most ids, names and IPs
# are only that, and skip its per-character walk (about half of a card's CPU).
_INERT: Final[dict[Style, re.Pattern[str]]] = {
    "mrkdwn": _inert("&<>*_~`@"),
    "code": _inert("&<>`@"),
    "trusted": _inert("&<>"),
    "plain": _inert(""),
}


# --------------------------------------------------------------------------- escaping


def _escape_pieces(text: str, style: Style, *, multiline: bool) -> list[str]:
    """One output piece per input character, so truncation can cut between whole escapes."""
    if _INERT[style].fullmatch(text):
        return list(text)
    if multiline:
        text = text.replace("\r\n", "\n")
    swaps = LOOKALIKES if style == "mrkdwn" else _CODE_LOOKALIKES if style == "code" else {}
    pieces: list[str] = []
    for index, char in enumerate(text):
        if char in _LINE_BREAKS:
            pieces.append("\n" if multiline else " ")
        elif char == "\t":
            pieces.append("\t" if multiline else " ")
        elif style != "plain" and char in _ENTITIES:
            pieces.append(_ENTITIES[char])
        elif char in swaps:
            pieces.append(swaps[char])
        elif style in ("mrkdwn", "code") and char == "@" and _BROADCAST.match(text, index + 1):
            pieces.append(MENTION_AT)
        else:
            category = unicodedata.category(char)
            if category == "Cf":
                pieces.append("")  # bidi overrides and zero-width characters: spoofing only
            elif category in ("Cc", "Cs"):
                pieces.append("\ufffd")
            else:
                pieces.append(char)
    return pieces


def escape_mrkdwn(text: str, *, multiline: bool = False) -> str:
    """`text` made inert for a mrkdwn object: no pings, links, formatting or control characters."""
    return "".join(_escape_pieces(text, "mrkdwn", multiline=multiline))


def escape_code(text: str, *, multiline: bool = False) -> str:
    """`text` made safe inside an inline code span or code block (it cannot close the span)."""
    return "".join(_escape_pieces(text, "code", multiline=multiline))


def clean_plain(text: str, *, multiline: bool = False) -> str:
    """`text` for a plain_text object: Slack does not parse it, so only control characters go."""
    return "".join(_escape_pieces(text, "plain", multiline=multiline))


def truncate(
    text: str,
    limit: int,
    *,
    style: Style = "mrkdwn",
    multiline: bool = False,
    marker: str = TRUNCATION_MARKER,
) -> str:
    """Escape `text` for `style` and cut it so the result, marker included, is at most `limit`.

    `{n}` in the marker is replaced by the number of characters left out. Escapes are never split.
    """
    if len(text) <= limit and _INERT[style].fullmatch(text):
        return text
    pieces = _escape_pieces(text, style, multiline=multiline)
    ends = list(accumulate(len(piece) for piece in pieces))
    total = ends[-1] if ends else 0
    if total <= limit:
        return "".join(pieces)

    def cost(kept: int) -> int:
        # Non-decreasing in `kept`: every kept piece adds >= 1 char, the marker shrinks by <= 1.
        return (ends[kept - 1] if kept else 0) + len(marker.format(n=len(pieces) - kept))

    if cost(0) > limit:  # too small for the marker: a bare cut is the best that fits
        return "".join(pieces[: bisect_right(ends, limit)])
    low, high = 0, len(pieces) - 1
    while low < high:
        middle = (low + high + 1) // 2
        if cost(middle) <= limit:
            low = middle
        else:
            high = middle - 1
    return "".join(pieces[:low]) + marker.format(n=len(pieces) - low)


def code(text: str, limit: int = 80) -> str:
    """`text` as an inline code span of at most `limit` + 2 chars; an em dash when empty."""
    inner = truncate(text, limit, style="code", marker="…")
    return f"`{inner}`" if inner.strip() else "–"


def short_marker_cut(text: str, limit: int) -> str:
    """Untrusted text for mrkdwn, cut with a bare ellipsis (for short, secondary text)."""
    return truncate(text, limit, marker="…")


def slack_date(moment: datetime) -> str:
    """A Slack date token: the reader's local time, with an escaped UTC fallback for old clients."""
    fallback = escape_mrkdwn(moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"))
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def humanize_age(age: timedelta) -> str:
    seconds = max(0, int(age.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"
