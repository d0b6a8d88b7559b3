"""The answer to `/dliconn history`: a connection's transitions, newest first, with totals."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

from bot.blocks.actions import ACTION_HISTORY
from bot.blocks.message import (
    Message,
    button_element,
    context_block,
    fallback_text,
    fits_value,
    header_block,
    plain_text,
    rich_block,
    room_left,
)
from bot.blocks.replies import about, notice
from bot.blocks.status import project_label, status_icon
from bot.blocks.text import (
    Element,
    Pieces,
    code,
    date,
    emoji,
    pieces_length,
    preformatted,
    value,
    words,
)
from bot.dli.models import FAILED, Connection
from bot.i18n import ngettext
from bot.lookup.cache import ProjectRef
from bot.watch.history import HISTORY_DAYS, HistoryPage, HistoryRecord
from bot.watch.transitions import UNBOUND, ConnState

_ERR_SHOWN: Final = 500
_STATUS_SHOWN: Final = 40
_NAME_SHOWN: Final = 60
#: What the summary, context and button take at most, kept free of the timeline's budget.
_RESERVED: Final = 2500


def history_cursor(connection_id: str, window: str, before: str) -> str:
    """The Older button's value: which connection, window and record to page on from."""
    return f"{connection_id}|{window}|{before}"


def parse_cursor(raw: str) -> tuple[str, str, str | None]:
    """(connection id, window, record id or None) from a History or Older button's value."""
    connection_id, _, rest = raw.partition("|")
    window, _, before = rest.partition("|")
    return connection_id, window or "7d", before or None


def span(seconds: float) -> str:
    """A duration, to the minute: "under a minute", "12 min", "3 h 5 min", "2 d 4 h"."""
    minutes = int(seconds // 60)
    if minutes < 1:
        return "under a minute"
    hours, minutes = divmod(minutes, 60)
    if hours == 0:
        return f"{minutes} min"
    days, hours = divmod(hours, 24)
    if days == 0:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{days} d {hours} h" if hours else f"{days} d"


def _at(moment: float) -> Element:
    return date(datetime.fromtimestamp(moment, UTC))


def _status(status: str) -> Pieces:
    return [emoji(status_icon(status)), words(" "), *value(status or "(no status)", _STATUS_SHOWN)]


def _binding(record: HistoryRecord) -> Pieces:
    entry = record.entry
    noun = "pool " if entry.binding_kind == "pool" else "queue "
    return [words(noun), *code(entry.binding_name, _NAME_SHOWN)]


def not_recorded_message(connection: Connection, project: ProjectRef | None) -> Message:
    """The watcher never committed anything for the connection's project."""
    return _no_history(
        " No history for ",
        connection,
        f": the watcher has not run{_in_project(' for', project)} yet. It records every "
        "transition from its first poll on.",
        fallback="No history: the watcher has not run yet",
        context=["Start it with `python -m bot watch` (the Procfile's `worker`)."],
    )


def never_seen_message(connection: Connection, project: ProjectRef | None) -> Message:
    """The watcher runs for the project but has never listed this connection."""
    return _no_history(
        " The watcher has never seen ",
        connection,
        f"{_in_project(' in', project)}, so it has no history yet: it is recorded from the "
        "first poll that lists it (made since the watcher's last poll?).",
        fallback="No history: the watcher has never seen that connection",
    )


def _in_project(preposition: str, project: ProjectRef | None) -> str:
    return f"{preposition} project {project_label(project)}" if project is not None else ""


def _no_history(
    before: str, connection: Connection, after: str, *, fallback: str, context: Sequence[str] = ()
) -> Message:
    shown = code(connection.name or connection.id, 80)
    return notice(
        about("information_source", before, shown, after), fallback=fallback, context=context
    )


def history_message(
    connection: Connection,
    project: ProjectRef | None,
    page: HistoryPage,
    *,
    window: str,
    now: datetime,
) -> Message:
    """One page of the connection's timeline over `window`, newest first, with the window's
    totals; an Older button when more of the window is left."""
    name = connection.name or connection.id
    head = [header_block("📜 History · ", name), rich_block(_summary(page, window, now))]
    tail = [context_block(_context(page, project))]
    rooms, budget = room_left(head, tail)
    lines, shown = _timeline(page, now, budget=budget - _RESERVED)
    body = [rich_block(*lines)] if lines else []
    if not page.records:
        body = [rich_block([words(f"No transitions recorded in the last {window}.",
                                  italic=True)])]  # fmt: skip
    more = shown < len(page.records) or page.more
    if more and shown and rooms > len(body) + 1:
        cursor = history_cursor(connection.id, window, page.records[shown - 1].id)
        if fits_value(cursor):
            button = button_element("Older", ACTION_HISTORY, value=cursor)
            tail.append({"type": "actions", "elements": [button]})
    sentence = f"{name}: {_failures(page.totals.failures)} in the last {window}"
    return Message(text=fallback_text(sentence), blocks=head + body + tail)


def _summary(page: HistoryPage, window: str, now: datetime) -> Pieces:
    totals = page.totals
    pieces: Pieces = [
        words(f"Last {window}: ", bold=True),
        words(_failures(totals.failures)),
    ]
    ongoing = _ongoing(page.state, now.timestamp())
    downtime = totals.downtime + sum(seconds for _, seconds in ongoing)
    if totals.failures or ongoing:
        pieces.append(words(f" · down {span(downtime)} in all"))
    mttr = totals.mean_time_to_recover
    if mttr is not None:
        recoveries = ngettext("{n} recovery", "{n} recoveries", totals.recoveries).format(
            n=totals.recoveries
        )
        pieces.append(words(f" · mean time to recover {span(mttr)} ({recoveries})"))
    for key, seconds in ongoing:
        kind, _, binding = key.partition(":")
        pieces += [
            words("\n"),
            emoji(status_icon(FAILED)),
            words(f" {'pool' if kind == 'pool' else 'queue'} "),
            *code(binding, _NAME_SHOWN),
            words(f" is still FAILED, for {span(seconds)} so far"),
        ]
    return pieces


def _ongoing(state: ConnState | None, now: float) -> list[tuple[str, float]]:
    """The connection's bindings FAILED at the last poll, and for how long."""
    if state is None:
        return []
    return [
        (key, max(0.0, now - b.since)) for key, b in state.bindings.items() if b.status == FAILED
    ]


def _timeline(page: HistoryPage, now: datetime, *, budget: int) -> tuple[list[Any], int]:
    """Rich text elements for as many records as fit `budget` characters; how many did."""
    elements: list[Pieces | Element] = []
    used = 0
    # Newest first: a recovery is met before the failure it ended, which then shows its span.
    ended: dict[str, float] = {}
    seen: set[str] = set()
    shown = 0
    for record in page.records:
        entry = record.entry
        line = _line(record)
        if entry.failed:
            down = ended.pop(entry.binding, None)
            if down is not None:
                line.append(words(f" · down {span(down)}"))
            elif entry.binding not in seen and _still_failed(page.state, entry.binding):
                line.append(words(" · still FAILED", bold=True))
        if entry.down is not None:
            ended[entry.binding] = entry.down
        seen.add(entry.binding)
        err = preformatted(entry.err_msg, _ERR_SHOWN) if entry.err_msg else None
        cost = pieces_length(line) + (pieces_length(err["elements"]) if err else 0) + 2
        if used + cost > budget:
            break
        used += cost
        elements.append(line)
        if err is not None:
            elements.append(err)
        shown += 1
    return elements, shown


def _still_failed(state: ConnState | None, binding: str) -> bool:
    found = state.bindings.get(binding) if state is not None else None
    return found is not None and found.status == FAILED


def _line(record: HistoryRecord) -> Pieces:
    entry = record.entry
    pieces: Pieces = [_at(entry.at), words("  ")]
    if entry.kind == "deleted":
        return [*pieces, emoji(status_icon("DELETED")), words(" connection DELETED")]
    if entry.kind == "gone":
        return [*pieces, emoji("grey_question"), words(" connection gone from DLI's list")]
    pieces += _binding(record)
    if entry.kind == "stuck":
        pieces += [words(" stuck "), *_status(entry.status)]
        if entry.since is not None:
            pieces += [words(" since "), _at(entry.since)]
        return pieces
    if entry.status == UNBOUND:
        pieces += [words(" unbound (was "), *value(entry.old, _STATUS_SHOWN), words(")")]
    elif not entry.old:
        pieces += [words(" first seen "), *_status(entry.status)]
    else:
        pieces += [words(" "), *value(entry.old, _STATUS_SHOWN), words(" → "),
                   *_status(entry.status)]  # fmt: skip
    if entry.down is not None:
        pieces.append(words(f" · recovered after {span(entry.down)}"))
    return pieces


def _context(page: HistoryPage, project: ProjectRef | None) -> Sequence[str | Element]:
    parts: list[str | Element] = []
    if project is not None:
        parts.append(plain_text(f"Project {project_label(project)}"))
    total = page.totals.entries
    parts.append(
        ngettext("{n} transition", "{n} transitions", total).format(n=total)
        + " in this window · recorded by the "
        f"watcher, kept {HISTORY_DAYS} days · times in your time zone"
    )
    return parts


def _failures(count: int) -> str:
    return ngettext("{n} failure", "{n} failures", count).format(n=count)
