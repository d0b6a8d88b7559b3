"""Paged listings: the connection list, the shortlist for an ambiguous name, the watches list."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from bot.blocks import message as kit
from bot.blocks import text as rich
from bot.blocks.actions import ACTION_SHOW
from bot.blocks.replies import ours
from bot.blocks.status import (
    connection_icon,
    connections_count,
    freshness_line,
    project_label,
    short_id,
    shown_status,
    status_rank,
)
from bot.dli.ids import normalise_id
from bot.dli.models import FAILED, Connection
from bot.i18n import N_, _, ngettext
from bot.lookup.cache import Freshness, ProjectRef

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


def with_failed(count: int) -> str:
    """ "3 with FAILED queues", in the reader's language (FAILED is DLI's word)."""
    return _("{count} with {status} queues").format(count=count, status=FAILED)


def list_line(connection: Connection) -> rich.Pieces:
    line = rich.icon_line(
        connection_icon(connection),
        [
            *rich.code(connection.name, _LIST_LINE_NAME_MAX),
            rich.words(" "),
            *rich.code(short_id(connection.id), 12),
            rich.words(" "),
            rich.shown_value(shown_status(connection)),
        ],
    )
    bindings = connection.bindings
    if connection.failed:
        line += [
            rich.words(" · "),
            rich.words(
                _("{count} of {total} {status}").format(
                    count=len(connection.failed), total=len(bindings), status=FAILED
                ),
                bold=True,
            ),
        ]
    elif bindings:
        count = len(bindings)
        counted = ngettext("{n} queue/pool", "{n} queues/pools", count).format(n=count)
        line.append(rich.words(f" · {counted}"))
    return line


def _paged_lines(
    lines: Sequence[rich.Pieces], *, room: int, budget: int, more_hint: rich.Pieces
) -> list[dict[str, Any]]:
    """Lines packed into rich_text blocks of at most 3000 chars; past the room, "and N more"."""
    blocks: list[list[rich.Pieces]] = [[]]
    size = spent = 0
    hint = rich.pieces_length(more_hint)
    for shown, line in enumerate(lines):
        more = [rich.words(_("… and {n} more.").format(n=len(lines) - shown) + " "), *more_hint]
        closing_room = rich.pieces_length(more[:1]) + hint + 1
        length = rich.pieces_length(line)
        starts_block = size + length + 1 > kit.SECTION_TEXT_MAX - closing_room
        blocks_after = len(blocks) + (1 if starts_block else 0)
        if spent + length + closing_room > budget or blocks_after > room:
            blocks[-1].append(more)
            break
        if starts_block:
            blocks.append([])
            size = 0
        blocks[-1].append(line)
        size += length + 1
        spent += length + 1
    return [kit.rich_block(rich.joined(lines, "\n")) for lines in blocks if lines]


def connection_list(
    connections: Sequence[Connection],
    *,
    filter_label: str,
    now: datetime,
    freshness: Freshness | None = None,
    demo: bool = False,
    project_of: Mapping[str, ProjectRef] | None = None,
    unlisted: Sequence[tuple[ProjectRef, str]] = (),
) -> kit.Message:
    """One compact line per connection, those with FAILED queues first, with counts on top.

    With `project_of` (lower-case id -> project) naming more than one project, or projects that
    could not be listed (`unlisted`: project, why), the lines are grouped by project, in the
    order the projects first appear, each group FAILED first under a line naming the project.
    """
    ordered = sorted(connections, key=list_rank)
    lines = _grouped_lines(ordered, project_of or {}, unlisted)
    failing = [c for c in ordered if c.failed]
    deleted = sum(c.is_deleted for c in ordered)
    counts = [connections_count(len(ordered)), with_failed(len(failing))]
    if deleted:
        counts.append(_("{count} deleted").format(count=deleted))
    head = [
        kit.header_block(_("DLI connections") + " · ", filter_label),
        kit.section_block(f"*{counts[0]}* · " + " · ".join(counts[1:]))
        if ordered
        else kit.rich_block(
            rich.phrase(
                _("No connections match {filter}."), filter=rich.value(filter_label, 100, bold=True)
            )
        ),
    ]
    context = freshness_line(freshness, now=now, demo=demo)
    return _listing(
        head,
        lines,
        context,
        more_hint=ours(
            _("Look one up with `/dliconn <id>`, or narrow with `/dliconn list failed`.")
        ),
        sentence=ngettext(
            "{n} DLI connection ({filter})", "{n} DLI connections ({filter})", len(ordered)
        ).format(n=len(ordered), filter=rich.shortened(filter_label, 60, marker="…")),
        failing=failing,
    )


def _grouped_lines(
    ordered: Sequence[Connection],
    project_of: Mapping[str, ProjectRef],
    unlisted: Sequence[tuple[ProjectRef, str]],
) -> list[rich.Pieces]:
    # The projects in the order they were configured (project_of's), those with FAILED first.
    present = {project_of.get(normalise_id(c.id)) for c in ordered}
    projects = [p for p in dict.fromkeys([*project_of.values(), None]) if p in present]
    failing = {project_of.get(normalise_id(c.id)) for c in ordered if c.failed}
    projects.sort(key=lambda p: p not in failing)
    if len(projects) <= 1 and not unlisted:
        return [list_line(c) for c in ordered]
    lines: list[rich.Pieces] = []
    for project in projects:
        members = [c for c in ordered if project_of.get(normalise_id(c.id)) == project]
        failed = sum(1 for c in members if c.failed)
        lines.append(
            [
                rich.words(project_label(project) or _("other"), bold=True),
                rich.words(f" · {connections_count(len(members))}"),
                rich.words(_(", ") + with_failed(failed) if failed else ""),
            ]
        )
        lines += [list_line(c) for c in members]
    for project, why in unlisted:
        lines.append(
            rich.icon_line(
                "warning",
                rich.phrase(
                    _("{project} could not be listed: {why}"),
                    project=[rich.words(project_label(project), bold=True)],
                    why=rich.value(why, 200),
                ),
            )
        )
    return lines


def _listing(
    head: list[dict[str, Any]],
    lines: Sequence[rich.Pieces],
    context: Sequence[str | rich.Element],
    *,
    more_hint: rich.Pieces,
    sentence: str,
    failing: Sequence[Connection],
) -> kit.Message:
    """Header blocks, then one line per item paged within Slack's limits, then a context line."""
    tail = [kit.context_block(context[: kit.CONTEXT_MAX])] if context else []
    room, budget = kit.room_left(head, tail)
    body = _paged_lines(lines, room=room, budget=budget, more_hint=more_hint)
    if failing:
        names = _(", ").join(
            rich.shortened(c.name, 40, marker="…") or rich.shortened(c.id, 40, marker="…")
            for c in failing[:5]
        )
        sentence = _("{sentence}; {failing}: {names}").format(
            sentence=sentence, failing=with_failed(len(failing)), names=names
        )
    return kit.Message(text=kit.fallback_text(sentence), blocks=head + body + tail)


# --------------------------------------------------------------------------- disambiguation


_CHOICES_SHOWN: Final = 40
_CHOICES_MORE: Final = N_("… and {n} more: look one up by its id.")


def choose_connection(
    matches: Sequence[Connection],
    query: str,
    *,
    project_of: Mapping[str, ProjectRef] | None = None,
) -> kit.Message:
    """Several connections share a name: list them, each with a Show button (and, across
    projects, the project it is in)."""
    badges = project_of or {}
    shown = sorted(matches, key=list_rank)[:_CHOICES_SHOWN]
    intro = rich.icon_line(
        "mag",
        rich.phrase(
            _("{query} matches {connections}. Which one?"),
            query=rich.code(query, 100),
            connections=connections_count(len(matches)),
        ),
    )
    blocks = [kit.rich_block(intro)]
    # The closing "and N more" line, measured in the reader's language at its widest.
    closing = _(_CHOICES_MORE).format(n=len(matches))
    budget = kit.TEXT_BUDGET - rich.pieces_length(intro) - len(closing)
    show = _("Show")
    for connection in shown:
        # A section, for its button: plain_text, so the values in it stay inert.
        badge = project_label(badges.get(normalise_id(connection.id)))
        line = f"{rich.as_plain(list_line(connection))}\n{rich.shortened(connection.id, 100)}"
        if badge:
            line += f" · {badge}"
        budget -= len(line) + len(show)
        if budget < 0:
            break
        button = kit.value_button(show, ACTION_SHOW, connection.id)
        blocks.append(kit.plain_section(line, accessory=button))
    listed = len(blocks) - 1
    if len(matches) > listed:
        blocks.append(kit.section_block(_(_CHOICES_MORE).format(n=len(matches) - listed)))
    options = _(", ").join(
        f"{rich.shortened(c.name, 40, marker='…')} ({short_id(c.id)})" for c in shown[:5]
    )
    sentence = ngettext(
        "'{query}' matches {n} connection: {options}",
        "'{query}' matches {n} connections: {options}",
        len(matches),
    ).format(query=rich.shortened(query, 100, marker="…"), n=len(matches), options=options)
    return kit.Message(text=kit.fallback_text(sentence), blocks=blocks)


def watches_message(
    watched: Sequence[Connection],
    missing: Sequence[tuple[str, str]],
    *,
    unknown: Sequence[tuple[str, str]] = (),
    now: datetime,
    notes: Sequence[str] = (),
    demo: bool = False,
) -> kit.Message:
    """The channel's subscriptions with each connection's health, FAILED first.

    `missing` are (name, id) pairs DLI no longer knows (deleted, or not visible any more);
    `unknown` are ones DLI could not be asked about just now (listed, health unknown).
    `notes` are trusted mrkdwn lines (a watch-everything channel, a paused channel).
    """
    total = len(watched) + len(missing) + len(unknown)
    failing = [c for c in watched if c.failed]
    head = [
        kit.header_block(_("Watched in this channel")),
        kit.section_block(
            f"*{connections_count(total)}* · {with_failed(len(failing))}"
            if total
            else rich.escape_entities(
                _("Nothing is watched here yet. Add one with `/dliconn watch <id-or-name>`.")
            )
        ),
    ]
    gone, unasked = (
        _("not found in DLI (deleted?)"),
        _("health unknown: DLI could not be asked just now"),
    )
    lines = [list_line(c) for c in sorted(watched, key=list_rank)]
    lines += [_subscription_line("white_circle", n, i, gone) for n, i in missing]
    lines += [_subscription_line("grey_question", n, i, unasked) for n, i in unknown]
    context = [*notes, *freshness_line(None, now=now, demo=demo)]
    return _listing(
        head,
        lines,
        context,
        more_hint=ours(_("Stop one with `/dliconn unwatch <id-or-name>`.")),
        sentence=ngettext(
            "{n} connection watched here", "{n} connections watched here", total
        ).format(n=total),
        failing=failing,
    )


def _subscription_line(icon: str, name: str, connection_id: str, state: str) -> rich.Pieces:
    return rich.icon_line(
        icon,
        [
            *rich.code(name or connection_id, _LIST_LINE_NAME_MAX),
            rich.words(" "),
            *rich.code(short_id(connection_id), 12),
            rich.words(f" {state}"),
        ],
    )
