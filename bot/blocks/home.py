"""The App Home tab: the connections watched in the reader's channels, or why it shows none."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from bot.blocks import message as kit
from bot.blocks import text as rich
from bot.blocks.guardrails import refusal
from bot.blocks.lists import list_line, list_rank, with_failed
from bot.blocks.status import and_more, connections_count, project_label
from bot.dli.ids import normalise_id
from bot.dli.models import FAILED, Connection
from bot.i18n import _
from bot.lookup.cache import ProjectRef
from bot.policy import Decision
from bot.slack_ids import is_channel_id

HOME_MAX_BLOCKS: Final = 100


def home_view(
    watched: Sequence[tuple[Connection, Sequence[str]]],
    *,
    project_of: Mapping[str, ProjectRef] | None = None,
    now: datetime,
    note: str | None = None,
    demo: bool = False,
) -> dict[str, Any]:
    """The App Home dashboard: watched connections, FAILED first with how long they have failed.

    Each entry is a connection and the channels watching it; `note` is trusted mrkdwn. With
    several projects (`project_of`, by lower-case id), each entry names its project.
    """
    several = len(set((project_of or {}).values())) > 1
    ordered = sorted(watched, key=lambda item: list_rank(item[0]))
    failing = sum(1 for c, _ in ordered if c.failed)
    if ordered:
        headline = _("*{connections}* watched · {failing}").format(
            connections=connections_count(len(ordered)), failing=with_failed(failing)
        )
    elif note:
        # A note says something was left out or could not be read: "nothing is watched" would
        # be false.
        headline = _("Nothing can be shown here (see below).")
    else:
        headline = rich.escape_entities(
            _(
                "No connection is watched in your channels yet. In a channel, type "
                "`/dliconn watch <id-or-name>`."
            )
        )
    blocks: list[dict[str, Any]] = [_title(), kit.section_block(headline)]
    tail = [kit.context_block([note])] if note else []
    if demo:
        tail.append(kit.context_block([_(":test_tube: *Demo data* — not a real DLI project")]))
    # One block less: the closing "and N more".
    room, budget = kit.room_left(blocks, tail, max_blocks=HOME_MAX_BLOCKS - 1)
    for shown, (connection, channels) in enumerate(ordered):
        project = (project_of or {}).get(normalise_id(connection.id)) if several else None
        entry = _home_entry(connection, channels, now, project)
        budget -= rich.pieces_length(entry)
        if shown >= room or budget < 0:
            blocks.append(kit.section_block(and_more(len(ordered) - shown)))
            break
        blocks.append(kit.rich_block(entry))
    return {"type": "home", "blocks": blocks + tail}


def refused_home_view(decision: Decision) -> dict[str, Any]:
    """The Home tab of a person the guardrails refuse: the refusal every surface shows (the
    same words, the same rule), under the tab's title."""
    return {"type": "home", "blocks": [_title(), *refusal(decision).blocks]}


def _title() -> dict[str, Any]:
    return kit.header_block(_("DLI connections you watch"))


def _home_entry(
    connection: Connection, channels: Sequence[str], now: datetime, project: ProjectRef | None
) -> rich.Pieces:
    lines = [list_line(connection)]
    if project is not None:
        label = [rich.words(project_label(project), bold=True)]
        lines.append([rich.words("    "), *rich.phrase(_("in {project}"), project=label)])
    for queue in connection.failed[:3]:
        since = (
            _("{status} for {age}").format(
                status=FAILED, age=rich.humanize_age(now - queue.update_time)
            )
            if queue.update_time
            else FAILED
        )
        failed = rich.icon_line("red_circle", [*rich.code(queue.name, 60), rich.words(f" {since}")])
        lines.append([rich.words("    "), *failed])
    if len(connection.failed) > 3:
        more = _("and {n} more {status}").format(n=len(connection.failed) - 3, status=FAILED)
        lines.append([rich.words(f"    … {more}")])
    where = [[rich.channel(c)] for c in channels[:5] if is_channel_id(c)]
    if where:
        lines.append(
            [
                rich.words("    "),
                *rich.phrase(_("watched in {channels}"), channels=rich.joined(where, " ")),
            ]
        )
    return rich.joined(lines, "\n")  # bounded: names cut by `code`, at most 3 queues and 5 channels
