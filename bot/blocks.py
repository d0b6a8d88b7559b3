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
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from typing import Any, Final, Literal

from bot.cache import Lookup, Source
from bot.dli.models import (
    ACTIVE,
    CREATING,
    DELETED,
    FAILED,
    Connection,
    Host,
    QueueInfo,
    Route,
    is_unknown,
)

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

TRUNCATION_MARKER: Final = "… (truncated, {n} more chars)"

# Action ids the handlers register (contract: Refresh, Watch/Unwatch, Share, Show).
ACTION_REFRESH: Final = "dliconn_refresh"
ACTION_WATCH: Final = "dliconn_watch"
ACTION_UNWATCH: Final = "dliconn_unwatch"
ACTION_SHARE: Final = "dliconn_share"
ACTION_SHOW: Final = "dliconn_show"
ACTION_CONSOLE: Final = "dliconn_console"

WatchState = Literal["watching", "not_watching"]
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


@dataclass(frozen=True)
class Message:
    """A reply: the fallback sentence (notifications, screen readers) plus serialised blocks."""

    text: str
    blocks: list[dict[str, Any]]


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


def _short_marker_cut(text: str, limit: int) -> str:
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


def _mrkdwn(text: str) -> dict[str, Any]:
    return _text_object("mrkdwn", text, "verbatim")


def _plain(text: str) -> dict[str, Any]:
    return _text_object("plain_text", text, "emoji")


def section_block(text: str, *, accessory: dict[str, Any] | None = None) -> dict[str, Any]:
    block = {"type": "section", "text": _mrkdwn(text)}
    if accessory is not None:
        block["accessory"] = accessory
    return block


def header_block(text: str) -> dict[str, Any]:
    return {
        "type": "header",
        "text": _plain(truncate(text, HEADER_MAX, style="plain", marker="…")),
    }


def context_block(parts: Sequence[str]) -> dict[str, Any]:
    return {"type": "context", "elements": [_mrkdwn(part) for part in parts[:CONTEXT_MAX]]}


def _divider() -> dict[str, Any]:
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


def _fits_value(value: str) -> bool:
    # A cut id would act on the wrong connection: better no button than a wrong one.
    return 0 < len(value) <= BUTTON_VALUE_MAX


def fallback_text(sentence: str, style: Style = "mrkdwn") -> str:
    """The top-level `text`: Slack parses it as mrkdwn too, so it is escaped like any block."""
    return truncate(sentence, FALLBACK_MAX, style=style, marker="…")


# --------------------------------------------------------------------------- statuses


_RANK: Final[dict[str, int]] = {FAILED: 0, CREATING: 1, ACTIVE: 2}
_OTHER_RANK: Final = 3
_ICONS: Final[dict[str, str]] = {
    FAILED: ":red_circle:",
    CREATING: ":large_yellow_circle:",
    ACTIVE: ":large_green_circle:",
    DELETED: ":black_circle:",
}
_OTHER_ICON: Final = ":white_circle:"
_STATUS_SHOWN_MAX: Final = 40


def _norm(status: str) -> str:
    return status.upper()  # as QueueInfo.is_failed does, so ranking and FAILED agree


def status_rank(status: str) -> int:
    return _RANK.get(_norm(status), _OTHER_RANK)


def status_icon(status: str) -> str:
    return _ICONS.get(_norm(status), _OTHER_ICON)


def _status_text(status: str) -> str:
    """A status as DLI sent it (unknown ones too), short and single-line; not yet escaped."""
    shown = clean_plain(status).strip()
    if not shown:
        return "(no status)"
    if len(shown) > _STATUS_SHOWN_MAX:
        return shown[: _STATUS_SHOWN_MAX - 1] + "…"
    return shown


#: What a value DLI sent but the bot could not read is shown as (see `salvage` in the models).
UNKNOWN: Final = "_unknown_"


def _shown_status(value: Connection | QueueInfo) -> str:
    """`_status_text` of a connection's or binding's status, or "unknown" if unreadable."""
    return "unknown" if is_unknown(value, "status") else _status_text(value.status)


def _or_unknown(value: Connection | QueueInfo | Host | Route, field: str, shown: str) -> str:
    return UNKNOWN if is_unknown(value, field) else shown


def _short_id(connection_id: str) -> str:
    return connection_id[:8] + "…" if len(connection_id) > 9 else connection_id


def _plural(count: int, singular: str, plural: str) -> str:
    return f"{count} {singular if count == 1 else plural}"


@dataclass(frozen=True)
class _Binding:
    """A queue or an elastic resource pool, with which one it is."""

    info: QueueInfo
    is_pool: bool

    @property
    def kind(self) -> str:
        return "elastic resource pool" if self.is_pool else "queue"


def _bindings(connection: Connection) -> list[_Binding]:
    bindings = [_Binding(q, False) for q in connection.available_queue_info]
    bindings += [_Binding(p, True) for p in connection.elastic_resource_pools]
    return sorted(bindings, key=lambda b: (status_rank(b.info.status), b.info.name.casefold()))


def _noun(bindings: Sequence[_Binding], count: int) -> str:
    pools = sum(b.is_pool for b in bindings)
    if pools == 0:
        return "queue" if count == 1 else "queues"
    if pools == len(bindings):
        return "elastic resource pool" if count == 1 else "elastic resource pools"
    return "queues and pools"


def _binding_summary(connection: Connection) -> str:
    """E.g. "2 of 5 queues FAILED · 1 CREATING · 2 ACTIVE" (raw text, statuses as DLI sent them)."""
    bindings = _bindings(connection)
    lists = ("available_queue_info", "elastic_resource_pools")
    if any(is_unknown(connection, field) for field in lists):
        # Some bindings could not be read: "All 2 queues ACTIVE" would claim too much.
        return " · ".join([*_counted(bindings), "some queues or pools could not be read"])
    if not bindings:
        return "No queues or elastic resource pools bound"
    counts = Counter(_shown_status(b.info) for b in bindings)
    ordered = sorted(counts.items(), key=lambda item: (status_rank(item[0]), item[0]))
    (top, top_count), rest = ordered[0], ordered[1:]
    total = len(bindings)
    if top_count == total:
        noun = _noun(bindings, total)
        head = f"All {total} {noun} {top}" if total > 1 else f"1 {noun} {top}"
    else:
        head = f"{top_count} of {total} {_noun(bindings, total)} {top}"
    return " · ".join([head, *(f"{count} {status}" for status, count in rest)])


def _counted(bindings: Sequence[_Binding]) -> list[str]:
    counts = Counter(_shown_status(b.info) for b in bindings)
    ordered = sorted(counts.items(), key=lambda item: (status_rank(item[0]), item[0]))
    return [f"{count} {status}" for status, count in ordered]


def _connection_icon(connection: Connection) -> str:
    if connection.failed:
        return _ICONS[FAILED]
    if connection.is_deleted:
        return _ICONS[DELETED]
    statuses = [connection.status, *(b.status for b in connection.bindings)]
    return status_icon(min(statuses, key=status_rank))


def _verdict(connection: Connection) -> str:
    summary = _binding_summary(connection)
    if _norm(connection.status) == ACTIVE:
        return summary
    return f"Connection {_shown_status(connection)} · {summary}"


# --------------------------------------------------------------------------- connection card


_HOSTS_SHOWN: Final = 5
_ROUTES_SHOWN: Final = 5
_NAME_MAX: Final = 100
_MIN_ERR_SHARE: Final = 200
_INDIVIDUAL_LIMIT: Final = 20
_SUMMARY_MAX: Final = 700
_OTHER_LABEL: Final = "Other statuses"
_ERR_FENCE: Final = "\n```{}```"
_ERR_MARKER: Final = "\n" + TRUNCATION_MARKER


def _field(label: str, value: str) -> dict[str, Any]:
    return _mrkdwn(f"*{label}*\n{value}")


def _collapsed(lines: list[str], total: int) -> str:
    if not lines:
        return "none"
    more = total - len(lines)
    return "\n".join(lines) + (f"\nand {more} more" if more > 0 else "")


def _partly(connection: Connection, field: str, shown: str) -> str:
    """A list field's text, with a note if some (or all) of its entries could not be read."""
    if not is_unknown(connection, field):
        return shown
    return UNKNOWN if shown in ("none", "0") else f"{shown}\n_and some that could not be read_"


def _fields(connection: Connection) -> list[dict[str, Any]]:
    c = connection
    hosts = [
        f"{code(_or_unknown(h, 'name', h.name), 60)} → {code(_or_unknown(h, 'ip', h.ip), 45)}"
        for h in c.hosts[:_HOSTS_SHOWN]
    ]
    routes = [
        f"{code(_or_unknown(r, 'name', r.name), 60)} {code(_or_unknown(r, 'cidr', r.cidr), 45)}"
        for r in c.routes[:_ROUTES_SHOWN]
    ]
    ipv6 = {True: "enabled", False: "disabled", None: "unknown"}[c.ipv6_enable]
    created = slack_date(c.create_time) if c.create_time else "–"
    fields = [
        _field("Id", code(c.id, 80)),
        _field("Status", escape_mrkdwn(_shown_status(c))),
        _field("VPC", _or_unknown(c, "dest_vpc_id", code(c.dest_vpc_id, 80))),
        _field("Subnet", _or_unknown(c, "dest_network_id", code(c.dest_network_id, 80))),
        _field("Created", _or_unknown(c, "create_time", created)),
        _field("Hosts", _partly(c, "hosts", _collapsed(hosts, len(c.hosts)))),
        _field("Routes", _partly(c, "routes", _collapsed(routes, len(c.routes)))),
        _field(
            "Elastic resource pools",
            _partly(c, "elastic_resource_pools", str(len(c.elastic_resource_pools))),
        ),
        _field("IPv6", ipv6),
    ]
    if connection.is_privis is False:
        fields.append(_field("Owner", "granted by another project"))
    return fields[:MAX_FIELDS]


def _binding_title(binding: _Binding) -> str:
    info = binding.info
    status = escape_mrkdwn(_shown_status(info))
    name = _or_unknown(info, "name", code(info.name, _NAME_MAX))
    # Bold goes on the status, not the name: a code span inside bold would put the name's own
    # (literal) `*` next to the bold markers.
    parts = [f"{status_icon(info.status)} {name}", binding.kind]
    parts.append(f"*{status}*" if info.is_failed else status)
    if is_unknown(info, "update_time"):
        parts.append(f"updated {UNKNOWN}")
    elif info.update_time:
        parts.append(f"updated {slack_date(info.update_time)}")
    if is_unknown(info, "err_msg"):
        parts.append(f"error message {UNKNOWN}")
    return " · ".join(parts)


def _err_caps(errors: Sequence[str], budget: int, per_item_max: Sequence[int]) -> list[int]:
    """Share `budget` among err_msg lengths fairly: short ones in full, long ones equally cut."""
    caps = [0] * len(errors)
    lengths = [len(escape_code(e, multiline=True)) for e in errors]
    order = sorted(range(len(errors)), key=lambda i: min(lengths[i], per_item_max[i]))
    remaining, left = max(0, budget), len(errors)
    for index in order:
        share = remaining // left
        caps[index] = min(lengths[index], per_item_max[index], share)
        remaining -= caps[index]
        left -= 1
    return caps


def _binding_section_texts(bindings: Sequence[_Binding], budget: int) -> list[str]:
    titles = [_binding_title(b) for b in bindings]
    fence = len(_ERR_FENCE.format(""))
    with_err = [i for i, b in enumerate(bindings) if b.info.err_msg]
    caps = _err_caps(
        [bindings[i].info.err_msg for i in with_err],
        budget - sum(map(len, titles)) - fence * len(with_err),
        [SECTION_TEXT_MAX - len(titles[i]) - fence for i in with_err],
    )
    texts = list(titles)
    for index, cap in zip(with_err, caps, strict=True):
        body = truncate(
            bindings[index].info.err_msg, cap, style="code", multiline=True, marker=_ERR_MARKER
        )
        # An empty code block renders as stray backticks; say it was cut instead.
        texts[index] += _ERR_FENCE.format(body) if body.strip() else "\n_(error message cut)_"
    return texts


def _summary_text(icon: str, label: str, bindings: Sequence[_Binding]) -> str:
    """One line for many bindings: "ACTIVE (180 queues, 2 pools): `q1`, `q2`, … and 170 more"."""
    pools = sum(b.is_pool for b in bindings)
    counts = [_plural(len(bindings) - pools, "queue", "queues"), _plural(pools, "pool", "pools")]
    counts = [c for c in counts if not c.startswith("0 ")]
    head = f"{icon} *{escape_mrkdwn(label)}* ({', '.join(counts)}): "
    names: list[str] = []
    used = len(head)
    for shown, binding in enumerate(bindings):
        item = code(binding.info.name, 60)
        if binding.is_pool:
            item += " (pool)"
        if label == _OTHER_LABEL:
            item += f" {escape_mrkdwn(_shown_status(binding.info))}"
        tail = f" … and {len(bindings) - shown} more"
        if used + len(item) + 2 + len(tail) > _SUMMARY_MAX:
            return head + ", ".join(names) + tail
        names.append(item)
        used += len(item) + 2
    return head + ", ".join(names)


def _summary_groups(bindings: Sequence[_Binding]) -> list[tuple[str, str, list[_Binding]]]:
    groups: dict[int, list[_Binding]] = {}
    for binding in bindings:
        groups.setdefault(status_rank(binding.info.status), []).append(binding)
    labels = {0: FAILED, 1: CREATING, 2: ACTIVE, _OTHER_RANK: _OTHER_LABEL}
    return [
        (_ICONS.get(labels[rank], _OTHER_ICON), labels[rank], groups[rank])
        for rank in sorted(groups)
    ]


def _binding_blocks(
    bindings: Sequence[_Binding], *, room: int, budget: int
) -> list[dict[str, Any]]:
    """Each binding its own section while few; past that, FAILED ones individually as long as
    blocks and text budget allow, the rest compacted into one summary section per status."""
    if len(bindings) <= min(room, _INDIVIDUAL_LIMIT):
        individual, compacted = list(bindings), []
    else:
        failed = [b for b in bindings if b.info.is_failed]
        others = [b for b in bindings if not b.info.is_failed]
        other_groups = len(_summary_groups(others))
        slots = room - other_groups
        if len(failed) > slots:
            slots -= 1  # the FAILED ones that do not get a section of their own need a summary
        individual = []
        spent = _SUMMARY_MAX * (other_groups + 1)
        for binding in failed[: max(0, slots)]:
            cost = len(_binding_title(binding)) + len(_ERR_FENCE) + _MIN_ERR_SHARE
            if individual and spent + cost > budget:
                break
            individual.append(binding)
            spent += cost
        compacted = failed[len(individual) :] + others
    summaries = [_summary_text(*group) for group in _summary_groups(compacted)]
    texts = _binding_section_texts(individual, budget - sum(map(len, summaries)))
    return [section_block(text) for text in texts + summaries]


def _freshness(
    source: Source | None,
    *,
    now: datetime,
    fetched_at: datetime | None,
    request_id: str | None,
    stale_reason: str | None,
    demo: bool,
) -> list[str]:
    parts: list[str] = []
    age = f" {humanize_age(now - fetched_at)} ago" if fetched_at else ""
    if source == "live":
        parts.append(":satellite_antenna: Live from DLI")
    elif source == "cache":
        parts.append(f":floppy_disk: Cached{age}")
    elif source == "stale":
        reason = _short_marker_cut(stale_reason or "DLI unreachable", 200)
        parts.append(f":warning: *Stale* ({reason}) — copy from{age or ' earlier'}")
    if request_id:
        parts.append(f"request id {code(request_id, 100)}")
    if demo:
        parts.append(":test_tube: *Demo data* — not a real DLI project")
    return parts


def _card_actions(
    connection: Connection, *, console_url: str | None, watch_state: WatchState, ephemeral: bool
) -> dict[str, Any] | None:
    buttons: list[dict[str, Any]] = []
    if _fits_value(connection.id):
        buttons.append(button_element("Refresh", ACTION_REFRESH, value=connection.id))
        if watch_state == "watching":
            buttons.append(button_element("Unwatch", ACTION_UNWATCH, value=connection.id))
        else:
            buttons.append(button_element("Watch", ACTION_WATCH, value=connection.id))
        if ephemeral:
            buttons.append(button_element("Share in channel", ACTION_SHARE, value=connection.id))
    if console_url and len(console_url) <= BUTTON_URL_MAX:
        buttons.append(button_element("Open in console", ACTION_CONSOLE, url=console_url))
    return {"type": "actions", "elements": buttons} if buttons else None


def _card_fallback(connection: Connection) -> str:
    name = clean_plain(connection.name).strip() or "(unnamed)"
    sentence = f"{name[:80]} ({_short_id(connection.id)}) is {_shown_status(connection)}; "
    sentence += _binding_summary(connection)
    failed = [b.info for b in _bindings(connection) if b.info.is_failed]
    if failed:
        names = [clean_plain(q.name)[:60] or "(unnamed)" for q in failed[:5]]
        more = f" and {len(failed) - 5} more" if len(failed) > 5 else ""
        sentence += ": " + ", ".join(names) + more
    return fallback_text(sentence)


def connection_card(
    lookup: Lookup,
    *,
    now: datetime,
    console_url: str | None = None,
    watch_state: WatchState = "not_watching",
    ephemeral: bool = True,
    demo: bool = False,
) -> Message:
    """The card for one connection: FAILED queues and pools first, with their err_msg."""
    connection = lookup.connection
    title = clean_plain(connection.name).strip() or connection.id
    head = [
        header_block(f"{_connection_icon(connection)} {title}"),
        section_block(
            f"{_connection_icon(connection)} *{_short_marker_cut(_verdict(connection), 600)}*"
        ),
        {"type": "section", "fields": _fields(connection)},
    ]
    context = _freshness(
        lookup.source,
        now=now,
        fetched_at=lookup.fetched_at,
        request_id=lookup.request_id,
        stale_reason=lookup.stale_reason,
        demo=demo,
    )
    tail = [context_block(context)]
    actions = _card_actions(
        connection, console_url=console_url, watch_state=watch_state, ephemeral=ephemeral
    )
    if actions:
        tail.append(actions)
    bindings = _bindings(connection)
    body: list[dict[str, Any]] = []
    if bindings:
        body.append(_divider())
        room = MAX_BLOCKS - len(head) - len(tail) - len(body)
        budget = TEXT_BUDGET - block_text_length(head + tail)
        body += _binding_blocks(bindings, room=room, budget=budget)
    return Message(text=_card_fallback(connection), blocks=head + body + tail)


# --------------------------------------------------------------------------- connection list


_LIST_LINE_NAME_MAX: Final = 60


def _list_rank(connection: Connection) -> tuple[int, str]:
    if connection.failed:
        rank = 0
    elif connection.is_deleted:
        rank = 5
    else:
        rank = 1 + min(status_rank(s) for s in [connection.status, *_statuses(connection)])
    return rank, connection.name.casefold()


def _statuses(connection: Connection) -> list[str]:
    return [b.status for b in connection.bindings]


def _list_line(connection: Connection) -> str:
    line = (
        f"{_connection_icon(connection)} {code(connection.name, _LIST_LINE_NAME_MAX)}"
        f" {code(_short_id(connection.id), 12)} {escape_mrkdwn(_shown_status(connection))}"
    )
    bindings = connection.bindings
    if connection.failed:
        line += f" · *{len(connection.failed)} of {len(bindings)} FAILED*"
    elif bindings:
        line += f" · {_plural(len(bindings), 'queue/pool', 'queues/pools')}"
    return line


def _paged_lines(
    lines: Sequence[str], *, room: int, budget: int, more_hint: str
) -> list[dict[str, Any]]:
    """Lines packed into sections of at most 3000 chars; past the room, "and N more"."""
    sections: list[list[str]] = [[]]
    size = spent = 0
    for shown, line in enumerate(lines):
        more = f"… and {len(lines) - shown} more. {more_hint}"
        closing_room = len(more) + 1
        starts_section = size + len(line) + 1 > SECTION_TEXT_MAX - closing_room
        blocks_after = len(sections) + (1 if starts_section else 0)
        if spent + len(line) + closing_room > budget or blocks_after > room:
            sections[-1].append(more)
            break
        if starts_section:
            sections.append([])
            size = 0
        sections[-1].append(line)
        size += len(line) + 1
        spent += len(line) + 1
    return [section_block("\n".join(lines)) for lines in sections if lines]


def connection_list(
    connections: Sequence[Connection],
    *,
    filter_label: str,
    now: datetime,
    source: Source | None = None,
    fetched_at: datetime | None = None,
    request_id: str | None = None,
    stale_reason: str | None = None,
    demo: bool = False,
) -> Message:
    """One compact line per connection, those with FAILED queues first, with counts on top."""
    ordered = sorted(connections, key=_list_rank)
    with_failed = [c for c in ordered if c.failed]
    deleted = sum(c.is_deleted for c in ordered)
    counts = [_plural(len(ordered), "connection", "connections")]
    counts.append(f"{len(with_failed)} with FAILED queues")
    if deleted:
        counts.append(f"{deleted} deleted")
    label = _short_marker_cut(filter_label, 100)
    head = [
        header_block(f"DLI connections · {clean_plain(filter_label)}"),
        section_block(
            f"*{counts[0]}* · " + " · ".join(counts[1:])
            if ordered
            else f"No connections match *{label}*."
        ),
    ]
    context = _freshness(
        source,
        now=now,
        fetched_at=fetched_at,
        request_id=request_id,
        stale_reason=stale_reason,
        demo=demo,
    )
    return _listing(
        head,
        [_list_line(c) for c in ordered],
        context,
        more_hint="Look one up with `/dliconn &lt;id&gt;`, or narrow with `/dliconn list failed`.",
        sentence=f"{len(ordered)} DLI connections ({clean_plain(filter_label)[:60]})",
        failing=with_failed,
    )


def _listing(
    head: list[dict[str, Any]],
    lines: Sequence[str],
    context: Sequence[str],
    *,
    more_hint: str,
    sentence: str,
    failing: Sequence[Connection],
) -> Message:
    """Header blocks, then one line per item paged within Slack's limits, then a context line."""
    tail = [context_block(context[:CONTEXT_MAX])] if context else []
    body = _paged_lines(
        lines,
        room=MAX_BLOCKS - len(head) - len(tail),
        budget=TEXT_BUDGET - block_text_length(head + tail),
        more_hint=more_hint,
    )
    if failing:
        names = ", ".join(clean_plain(c.name)[:40] or c.id[:40] for c in failing[:5])
        sentence += f"; {len(failing)} with FAILED queues: {names}"
    return Message(text=fallback_text(sentence), blocks=head + body + tail)


# --------------------------------------------------------------------------- disambiguation


_CHOICES_SHOWN: Final = 40


def choose_connection(matches: Sequence[Connection], query: str) -> Message:
    """Several connections share a name: list them, each with a Show button."""
    shown = sorted(matches, key=_list_rank)[:_CHOICES_SHOWN]
    intro = (
        f":mag: {code(query, 100)} matches {_plural(len(matches), 'connection', 'connections')}."
        " Which one?"
    )
    blocks = [section_block(intro)]
    budget = TEXT_BUDGET - len(intro) - 100  # 100: the closing "and N more" line
    for connection in shown:
        line = f"{_list_line(connection)}\n{code(connection.id, 100)}"
        budget -= len(line) + len("Show")
        if budget < 0:
            break
        button = (
            button_element("Show", ACTION_SHOW, value=connection.id)
            if _fits_value(connection.id)
            else None
        )
        blocks.append(section_block(line, accessory=button))
    listed = len(blocks) - 1
    if len(matches) > listed:
        blocks.append(section_block(f"… and {len(matches) - listed} more: look one up by its id."))
    options = ", ".join(f"{clean_plain(c.name)[:40]} ({_short_id(c.id)})" for c in shown[:5])
    sentence = f"'{clean_plain(query)[:100]}' matches {len(matches)} connections: {options}"
    return Message(text=fallback_text(sentence), blocks=blocks)


# --------------------------------------------------------------------------- errors and help


_ERROR_TEXT: Final[dict[str, tuple[str, str]]] = {
    # kind: (headline, default hint). `{subject}` is filled with the escaped id or name.
    "not_found": (
        ":mag: No connection {subject} was found.",
        "Check the id, or try `/dliconn list`.",
    ),
    "forbidden": (
        ":no_entry: The bot's credentials may not read DLI connections in this project.",
        "Ask an administrator to grant the bot's IAM user read access to DLI.",
    ),
    "throttled": (
        ":hourglass_flowing_sand: DLI is throttling requests; the bot is retrying.",
        "Try again in a minute if nothing arrives.",
    ),
    "unavailable": (":warning: DLI is unreachable right now.", "Try again in a minute."),
    "auth_failed": (
        ":closed_lock_with_key: DLI rejected the bot's credentials.",
        "Check the AK/SK (or IAM user and password) and that the server clock is correct.",
    ),
    "bad_response": (
        ":warning: DLI sent an answer the bot could not read.",
        "Try again; if it persists, report the request id.",
    ),
    "bad_input": (":grey_question: I did not understand that: {subject}.", "Try `/dliconn help`."),
    "store_unavailable": (
        ":warning: The bot's storage (Redis) is unreachable right now.",
        "Lookups still work; watching needs the storage. Try again in a minute.",
    ),
    "unexpected": (
        ":boom: Something went wrong on the bot's side.",
        "Tell the bot's operators the reference below.",
    ),
}


def error_message(
    kind: str,
    *,
    subject: str | None = None,
    hint: str | None = None,
    correlation_id: str | None = None,
    request_id: str | None = None,
    stale_shown: bool = False,
) -> Message:
    """A friendly error reply. `kind` is a DliError.kind or bad_input / unexpected (the fallback
    for anything unknown). `hint` is trusted mrkdwn from the bot; `subject` is escaped."""
    headline, default_hint = _ERROR_TEXT.get(kind, _ERROR_TEXT["unexpected"])
    text = headline.format(subject=code(subject, 100) if subject else "that")
    if kind == "unavailable" and stale_shown:
        default_hint = "Showing the last known copy below."
    hint_text = truncate(hint, 2000, style="trusted", multiline=True) if hint else default_hint
    blocks = [section_block(f"{text}\n{hint_text}")]
    context = []
    if correlation_id:
        context.append(f"reference {code(correlation_id, 40)}")
    if request_id:
        context.append(f"DLI request id {code(request_id, 100)}")
    if context:
        blocks.append(context_block(context))
    fallback = headline.format(subject=clean_plain(subject)[:100] if subject else "that")
    fallback = re.sub(r":[a-z_]+: ", "", fallback)
    if correlation_id:
        fallback += f" (reference {clean_plain(correlation_id)[:40]})"
    return Message(text=fallback_text(fallback), blocks=blocks)


def help_message(help_text: str) -> Message:
    """The help text, split to fit sections. It is the bot's own mrkdwn: formatting is kept, but
    `&`, `<`, `>` are escaped, so write `/dliconn <id>` plainly."""
    paragraphs = truncate(help_text.strip(), TEXT_BUDGET, style="trusted", multiline=True).split(
        "\n\n"
    )
    sections: list[str] = []
    for paragraph in paragraphs:
        for start in range(0, len(paragraph), SECTION_TEXT_MAX):
            chunk = paragraph[start : start + SECTION_TEXT_MAX]
            if sections and len(sections[-1]) + 2 + len(chunk) <= SECTION_TEXT_MAX:
                sections[-1] += "\n\n" + chunk
            else:
                sections.append(chunk)
    blocks = [section_block(s) for s in sections[:MAX_BLOCKS]]
    first_line = help_text.strip().splitlines()[0] if help_text.strip() else "dliconn help"
    return Message(text=fallback_text(first_line, "trusted"), blocks=blocks)


# --------------------------------------------------------------------------- notices, watches


def notice(text: str, *, fallback: str, context: Sequence[str] = ()) -> Message:
    """A short reply in the bot's own words.

    `text` and `context` are final mrkdwn: whatever a caller inserts from outside must already
    have gone through `code`/`escape_mrkdwn` (so nothing here escapes it a second time).
    `fallback` is the plain sentence for notifications; it is escaped here.
    """
    blocks = [section_block(_cut_final(text, SECTION_TEXT_MAX))]
    if context:
        blocks.append(context_block([_cut_final(c, 2000) for c in context[:CONTEXT_MAX]]))
    return Message(text=fallback_text(fallback), blocks=blocks)


def _cut_final(mrkdwn: str, limit: int) -> str:
    """Cut already-escaped mrkdwn without splitting an `&…;` entity."""
    if len(mrkdwn) <= limit:
        return mrkdwn
    cut = mrkdwn[: limit - 1]
    entity = cut.rfind("&")
    if entity != -1 and ";" not in cut[entity:]:
        cut = cut[:entity]
    return cut + "…"


def watches_message(
    watched: Sequence[Connection],
    missing: Sequence[tuple[str, str]],
    *,
    unknown: Sequence[tuple[str, str]] = (),
    now: datetime,
    notes: Sequence[str] = (),
    demo: bool = False,
) -> Message:
    """The channel's subscriptions with each connection's health, FAILED first.

    `missing` are (name, id) pairs DLI no longer knows (deleted, or not visible any more);
    `unknown` are ones DLI could not be asked about just now (listed, health unknown).
    `notes` are trusted mrkdwn lines (a watch-everything channel, a paused channel).
    """
    total = len(watched) + len(missing) + len(unknown)
    failing = [c for c in watched if c.failed]
    head = [
        header_block("Watched in this channel"),
        section_block(
            f"*{_plural(total, 'connection', 'connections')}* · {len(failing)} with FAILED queues"
            if total
            else "Nothing is watched here yet. Add one with `/dliconn watch &lt;id-or-name&gt;`."
        ),
    ]
    lines = [_list_line(c) for c in sorted(watched, key=_list_rank)]
    lines += [
        f":white_circle: {code(name or connection_id, _LIST_LINE_NAME_MAX)} "
        f"{code(_short_id(connection_id), 12)} not found in DLI (deleted?)"
        for name, connection_id in missing
    ]
    lines += [
        f":grey_question: {code(name or connection_id, _LIST_LINE_NAME_MAX)} "
        f"{code(_short_id(connection_id), 12)} health unknown: DLI could not be asked just now"
        for name, connection_id in unknown
    ]
    context = [*notes, *_freshness(None, now=now, fetched_at=None, request_id=None,
                                   stale_reason=None, demo=demo)]  # fmt: skip
    return _listing(
        head,
        lines,
        context,
        more_hint="Stop one with `/dliconn unwatch &lt;id-or-name&gt;`.",
        sentence=f"{total} connections watched here",
        failing=failing,
    )


HOME_MAX_BLOCKS: Final = 100


def home_view(
    watched: Sequence[tuple[Connection, Sequence[str]]],
    *,
    now: datetime,
    note: str | None = None,
    demo: bool = False,
) -> dict[str, Any]:
    """The App Home dashboard: watched connections, FAILED first with how long they have failed.

    Each entry is a connection and the channels watching it; `note` is trusted mrkdwn.
    """
    ordered = sorted(watched, key=lambda item: _list_rank(item[0]))
    failing = sum(1 for c, _ in ordered if c.failed)
    blocks: list[dict[str, Any]] = [
        header_block("DLI connections you watch"),
        section_block(
            f"*{_plural(len(ordered), 'connection', 'connections')}* watched · "
            f"{failing} with FAILED queues"
            if ordered
            else "No connection is watched in your channels yet. In a channel, type "
            "`/dliconn watch &lt;id-or-name&gt;`."
        ),
    ]
    tail = [context_block([note])] if note else []
    if demo:
        tail.append(context_block([":test_tube: *Demo data* — not a real DLI project"]))
    room = HOME_MAX_BLOCKS - len(blocks) - len(tail) - 1  # 1: the closing "and N more"
    budget = TEXT_BUDGET - block_text_length(blocks + tail)
    for shown, (connection, channels) in enumerate(ordered):
        text = _home_entry(connection, channels, now)
        budget -= len(text)
        if shown >= room or budget < 0:
            blocks.append(section_block(f"… and {len(ordered) - shown} more"))
            break
        blocks.append(section_block(text))
    return {"type": "home", "blocks": blocks + tail}


def _home_entry(connection: Connection, channels: Sequence[str], now: datetime) -> str:
    text = _list_line(connection)
    for queue in connection.failed[:3]:
        since = f" for {humanize_age(now - queue.update_time)}" if queue.update_time else ""
        text += f"\n    :red_circle: {code(queue.name, 60)} FAILED{since}"
    if len(connection.failed) > 3:
        text += f"\n    … and {len(connection.failed) - 3} more FAILED"
    where = " ".join(f"<#{c}>" for c in channels[:5] if _CHANNEL_ID.fullmatch(c))
    if where:
        text += f"\n    watched in {where}"
    return text  # bounded: names and queues are cut by `code`, at most 3 queues and 5 channels


_CHANNEL_ID: Final = re.compile(r"[CGD][A-Z0-9]{2,20}")
