"""The answer to `/dliconn history`: a connection's transitions, newest first, with totals."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from bot.blocks import message as kit
from bot.blocks import text as rich
from bot.blocks.actions import ACTION_HISTORY
from bot.blocks.replies import notice
from bot.blocks.status import (
    binding_named,
    project_context,
    project_label,
    status_icon,
    status_value,
)
from bot.dli.models import FAILED, Connection
from bot.i18n import _, ngettext
from bot.lookup.cache import ProjectRef
from bot.watch.history import HISTORY_DAYS, HistoryPage, HistoryRecord
from bot.watch.transitions import UNBOUND, ConnState

_ERR_SHOWN: Final = 500
#: What the summary, context and button take at most, kept free of the timeline's budget.
_RESERVED: Final = 2500


def history_cursor(connection_id: str, window: str, before: str) -> str:
    """The Older button's value: which connection, window and record to page on from."""
    return f"{connection_id}|{window}|{before}"


def parse_cursor(raw: str) -> tuple[str, str, str | None]:
    """(connection id, window, record id or None) from a History or Older button's value."""
    connection_id, _sep, rest = raw.partition("|")
    window, _sep, before = rest.partition("|")
    return connection_id, window or "7d", before or None


def span(seconds: float) -> str:
    """A duration, to the minute, in the reader's language: "under a minute", "12 min",
    "3 h 5 min", "2 d 4 h"."""
    minutes = int(seconds // 60)
    if minutes < 1:
        return _("under a minute")
    hours, minutes = divmod(minutes, 60)
    if hours == 0:
        return _("{minutes} min").format(minutes=minutes)
    days, hours = divmod(hours, 24)
    if days == 0:
        if minutes:
            return _("{hours} h {minutes} min").format(hours=hours, minutes=minutes)
        return _("{hours} h").format(hours=hours)
    if hours:
        return _("{days} d {hours} h").format(days=days, hours=hours)
    return _("{days} d").format(days=days)


def shown_window(window: str) -> str:
    """A window as the grammar takes it (`24h`, `7d`) in the reader's language."""
    count, unit = window[:-1], window[-1:]
    if not count.isdigit():
        return window
    if unit == "d":
        return _("{n}d").format(n=int(count))
    if unit == "h":
        return _("{n}h").format(n=int(count))
    return window


def _status(status: str) -> rich.Pieces:
    return rich.icon_line(status_icon(status), status_value(status))


def not_recorded_message(connection: Connection, project: ProjectRef | None) -> kit.Message:
    """The watcher never committed anything for the connection's project."""
    return _no_history(
        connection,
        project,
        alone=_(
            "No history for {name}: the watcher has not run yet. It records every transition "
            "from its first poll on."
        ),
        in_project=_(
            "No history for {name}: the watcher has not run for project {project} yet. It "
            "records every transition from its first poll on."
        ),
        fallback=_("No history: the watcher has not run yet"),
        context=[_("Start it with `python -m bot watch` (the Procfile's `worker`).")],
    )


def never_seen_message(connection: Connection, project: ProjectRef | None) -> kit.Message:
    """The watcher runs for the project but has never listed this connection."""
    seen = _(
        "The watcher has never seen {name} in project {project}, so it has no history yet: "
        "it is recorded from the first poll that lists it (made since the watcher's last poll?)."
    )
    unseen = _(
        "The watcher has never seen {name}, so it has no history yet: it is recorded from "
        "the first poll that lists it (made since the watcher's last poll?)."
    )
    fallback = _("No history: the watcher has never seen that connection")
    return _no_history(connection, project, alone=unseen, in_project=seen, fallback=fallback)


def _no_history(
    connection: Connection,
    project: ProjectRef | None,
    *,
    alone: str,
    in_project: str,
    fallback: str,
    context: Sequence[str] = (),
) -> kit.Message:
    """Why there is no history: `alone` for a single-project deployment, else `in_project`."""
    said = alone if project is None else in_project
    shown = rich.code(connection.name or connection.id, 80)
    body = rich.icon_line(
        "information_source", rich.phrase(said, name=shown, project=project_label(project))
    )
    return notice(body, fallback=fallback, context=context)


def history_message(
    connection: Connection,
    project: ProjectRef | None,
    page: HistoryPage,
    *,
    window: str,
    now: datetime,
) -> kit.Message:
    """One page of the connection's timeline over `window`, newest first, with the window's
    totals; an Older button when more of the window is left."""
    name = connection.name or connection.id
    shown = shown_window(window)
    head = [kit.header_block(_("📜 History · "), name), kit.rich_block(_summary(page, shown, now))]
    tail = [kit.context_block(_context(page, project))]
    rooms, budget = kit.room_left(head, tail)
    lines, count = _timeline(page, now, budget=budget - _RESERVED)
    body = [kit.rich_block(*lines)] if lines else []
    if not page.records:
        none = _("No transitions recorded in the last {window}.").format(window=shown)
        body = [kit.rich_block([rich.words(none, italic=True)])]
    more = count < len(page.records) or page.more
    if more and count and rooms > len(body) + 1:
        cursor = history_cursor(connection.id, window, page.records[count - 1].id)
        button = kit.value_button(_("Older"), ACTION_HISTORY, cursor)
        if button is not None:
            tail.append({"type": "actions", "elements": [button]})
    sentence = _("{name}: {failures} in the last {window}").format(
        name=name, failures=_failures(page.totals.failures), window=shown
    )
    return kit.Message(text=kit.fallback_text(sentence), blocks=head + body + tail)


def _summary(page: HistoryPage, window: str, now: datetime) -> rich.Pieces:
    totals = page.totals
    pieces: rich.Pieces = [
        rich.words(_("Last {window}: ").format(window=window), bold=True),
        rich.words(_failures(totals.failures)),
    ]
    ongoing = _ongoing(page.state, now.timestamp())
    # A failure still going on counts from the window's start at the earliest, so "down … in
    # all" never exceeds the window however long ago the queue failed.
    in_window = now.timestamp() - page.since
    downtime = totals.downtime + sum(min(seconds, in_window) for _key, seconds in ongoing)
    if totals.failures or ongoing:
        pieces.append(rich.words(" · " + _("down {span} in all").format(span=span(downtime))))
    mttr = totals.mean_time_to_recover
    if mttr is not None:
        recoveries = ngettext("{n} recovery", "{n} recoveries", totals.recoveries).format(
            n=totals.recoveries
        )
        mean = _("mean time to recover {span} ({recoveries})")
        pieces.append(rich.words(" · " + mean.format(span=span(mttr), recoveries=recoveries)))
    for key, seconds in ongoing:
        kind, _sep, binding = key.partition(":")
        still = rich.phrase(
            _("{binding} is still {status}, for {span} so far"),
            binding=binding_named(kind, binding),
            status=FAILED,
            span=span(seconds),
        )
        pieces += [rich.words("\n"), *rich.icon_line(status_icon(FAILED), still)]
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
    elements: list[rich.Pieces | rich.Element] = []
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
                line.append(rich.words(" · " + _("down {span}").format(span=span(down))))
            elif entry.binding not in seen and _still_failed(page.state, entry.binding):
                still = _("still {status}").format(status=FAILED)
                line += [rich.words(" · "), rich.words(still, bold=True)]
        if entry.down is not None:
            ended[entry.binding] = entry.down
        seen.add(entry.binding)
        err = rich.preformatted(entry.err_msg, _ERR_SHOWN) if entry.err_msg else None
        cost = rich.pieces_length(line) + (rich.pieces_length(err["elements"]) if err else 0) + 2
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


def _line(record: HistoryRecord) -> rich.Pieces:
    entry = record.entry
    pieces: rich.Pieces = [rich.date(entry.at), rich.words("  ")]
    if entry.kind == "deleted":
        deleted = rich.phrase(_("connection {status}"), status="DELETED")
        return pieces + rich.icon_line(status_icon("DELETED"), deleted)
    if entry.kind == "gone":
        gone = _("connection gone from DLI's list")
        return pieces + rich.icon_line("grey_question", [rich.words(gone)])
    binding = binding_named(entry.binding_kind, entry.binding_name)
    if entry.kind == "stuck":
        if entry.since is None:
            return pieces + rich.phrase(
                _("{binding} stuck {status}"), binding=binding, status=_status(entry.status)
            )
        return pieces + rich.phrase(
            _("{binding} stuck {status} since {time}"),
            binding=binding,
            status=_status(entry.status),
            time=rich.date(entry.since),
        )
    if entry.status == UNBOUND:
        pieces += rich.phrase(
            _("{binding} unbound (was {old})"),
            binding=binding,
            old=status_value(entry.old),
        )
    elif not entry.old:
        pieces += rich.phrase(
            _("{binding} first seen {status}"), binding=binding, status=_status(entry.status)
        )
    else:
        pieces += rich.phrase(
            _("{binding} {old} → {status}"),
            binding=binding,
            old=status_value(entry.old),
            status=_status(entry.status),
        )
    if entry.down is not None:
        pieces.append(rich.words(" · " + _("recovered after {span}").format(span=span(entry.down))))
    return pieces


def _context(page: HistoryPage, project: ProjectRef | None) -> Sequence[str | rich.Element]:
    parts: list[str | rich.Element] = []
    if project is not None:
        parts.append(project_context(project))
    total = page.totals.entries
    transitions = ngettext("{n} transition", "{n} transitions", total).format(n=total)
    parts.append(
        _(
            "{transitions} in this window · recorded by the watcher, kept {days} days · times "
            "in your time zone"
        ).format(transitions=transitions, days=HISTORY_DAYS)
    )
    return parts


def _failures(count: int) -> str:
    return ngettext("{n} failure", "{n} failures", count).format(n=count)
