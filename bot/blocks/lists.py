"""Paged listings: the connection list, the shortlist for an ambiguous name, the watches list."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from bot.blocks.actions import ACTION_SHOW
from bot.blocks.message import (
    CONTEXT_MAX,
    MAX_BLOCKS,
    SECTION_TEXT_MAX,
    TEXT_BUDGET,
    Message,
    block_text_length,
    button_element,
    context_block,
    fallback_text,
    fits_value,
    header_block,
    section_block,
)
from bot.blocks.status import (
    connection_icon,
    counted,
    freshness_line,
    short_id,
    shown_status,
    status_rank,
)
from bot.blocks.text import clean_plain, code, escape_mrkdwn, short_marker_cut
from bot.dli.models import Connection
from bot.lookup.cache import Source

# --------------------------------------------------------------------------- connection list


_LIST_LINE_NAME_MAX: Final = 60


def list_rank(connection: Connection) -> tuple[int, str]:
    if connection.failed:
        rank = 0
    elif connection.is_deleted:
        rank = 5
    else:
        rank = 1 + min(status_rank(s) for s in [connection.status, *_statuses(connection)])
    return rank, connection.name.casefold()


def _statuses(connection: Connection) -> list[str]:
    return [b.status for b in connection.bindings]


def list_line(connection: Connection) -> str:
    line = (
        f"{connection_icon(connection)} {code(connection.name, _LIST_LINE_NAME_MAX)}"
        f" {code(short_id(connection.id), 12)} {escape_mrkdwn(shown_status(connection))}"
    )
    bindings = connection.bindings
    if connection.failed:
        line += f" · *{len(connection.failed)} of {len(bindings)} FAILED*"
    elif bindings:
        line += f" · {counted(len(bindings), 'queue/pool', 'queues/pools')}"
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
    ordered = sorted(connections, key=list_rank)
    with_failed = [c for c in ordered if c.failed]
    deleted = sum(c.is_deleted for c in ordered)
    counts = [counted(len(ordered), "connection", "connections")]
    counts.append(f"{len(with_failed)} with FAILED queues")
    if deleted:
        counts.append(f"{deleted} deleted")
    label = short_marker_cut(filter_label, 100)
    head = [
        header_block(f"DLI connections · {clean_plain(filter_label)}"),
        section_block(
            f"*{counts[0]}* · " + " · ".join(counts[1:])
            if ordered
            else f"No connections match *{label}*."
        ),
    ]
    context = freshness_line(
        source,
        now=now,
        fetched_at=fetched_at,
        request_id=request_id,
        stale_reason=stale_reason,
        demo=demo,
    )
    return _listing(
        head,
        [list_line(c) for c in ordered],
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
    shown = sorted(matches, key=list_rank)[:_CHOICES_SHOWN]
    intro = (
        f":mag: {code(query, 100)} matches {counted(len(matches), 'connection', 'connections')}."
        " Which one?"
    )
    blocks = [section_block(intro)]
    budget = TEXT_BUDGET - len(intro) - 100  # 100: the closing "and N more" line
    for connection in shown:
        line = f"{list_line(connection)}\n{code(connection.id, 100)}"
        budget -= len(line) + len("Show")
        if budget < 0:
            break
        button = (
            button_element("Show", ACTION_SHOW, value=connection.id)
            if fits_value(connection.id)
            else None
        )
        blocks.append(section_block(line, accessory=button))
    listed = len(blocks) - 1
    if len(matches) > listed:
        blocks.append(section_block(f"… and {len(matches) - listed} more: look one up by its id."))
    options = ", ".join(f"{clean_plain(c.name)[:40]} ({short_id(c.id)})" for c in shown[:5])
    sentence = f"'{clean_plain(query)[:100]}' matches {len(matches)} connections: {options}"
    return Message(text=fallback_text(sentence), blocks=blocks)


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
            f"*{counted(total, 'connection', 'connections')}* · {len(failing)} with FAILED queues"
            if total
            else "Nothing is watched here yet. Add one with `/dliconn watch &lt;id-or-name&gt;`."
        ),
    ]
    lines = [list_line(c) for c in sorted(watched, key=list_rank)]
    lines += [
        f":white_circle: {code(name or connection_id, _LIST_LINE_NAME_MAX)} "
        f"{code(short_id(connection_id), 12)} not found in DLI (deleted?)"
        for name, connection_id in missing
    ]
    lines += [
        f":grey_question: {code(name or connection_id, _LIST_LINE_NAME_MAX)} "
        f"{code(short_id(connection_id), 12)} health unknown: DLI could not be asked just now"
        for name, connection_id in unknown
    ]
    context = [*notes, *freshness_line(None, now=now, fetched_at=None, request_id=None,
                                   stale_reason=None, demo=demo)]  # fmt: skip
    return _listing(
        head,
        lines,
        context,
        more_hint="Stop one with `/dliconn unwatch &lt;id-or-name&gt;`.",
        sentence=f"{total} connections watched here",
        failing=failing,
    )
