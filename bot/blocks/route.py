"""The answer to `/dliconn route`: which channels a connection's alerts would reach, and why."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from bot.blocks.message import (
    Message,
    context_block,
    fallback_text,
    header_block,
    plain_text,
    rich_block,
)
from bot.blocks.replies import styled
from bot.blocks.status import project_label
from bot.blocks.text import (
    Element,
    Pieces,
    channel,
    code,
    date,
    icon_line,
    joined,
    person,
    phrase,
    words,
)
from bot.dli.models import Connection
from bot.i18n import _, ngettext
from bot.lookup.cache import ProjectRef

Why = Literal["watched", "watch_all", "tags", "hidden"]

_ICON = {"watched": "eyes", "watch_all": "satellite", "tags": "label", "hidden": "no_entry_sign"}
_SHOWN = 40


@dataclass(frozen=True)
class RouteLine:
    """One channel and the one reason it is (or is not) alerted."""

    channel: str
    why: Why
    by: str = ""  # who watched it (watched, hidden)
    since: float | None = None  # when (watched, hidden)
    tags: Sequence[tuple[str, str]] = ()  # which tag set routed it (tags)
    paused: bool = False
    muted_until: float | None = None


def route_message(
    connection: Connection, project: ProjectRef | None, lines: Sequence[RouteLine]
) -> Message:
    """Every reason a channel would (or would not) get this connection's alerts."""
    alerted = [line for line in lines if line.why != "hidden" and not line.paused]
    name = code(connection.name or connection.id, 80)
    count = len(alerted)
    intro = (
        phrase(
            ngettext("{name} would alert {n} channel", "{name} would alert {n} channels", count),
            name=name,
            n=str(count),
        )
        if alerted
        else phrase(
            _("{name} would alert no channel. Watch it here with {command}"),
            name=name,
            command=[words("/dliconn watch", code=True)],
        )
    )
    blocks = [
        header_block("🧭 " + _("Alert routes") + " · ", connection.name or connection.id),
        rich_block(intro),
    ]
    shown = [_line(line) for line in lines[:_SHOWN]]
    if len(lines) > _SHOWN:
        shown.append([words("… " + _("and {n} more").format(n=len(lines) - _SHOWN))])
    if shown:
        blocks.append(rich_block(joined(shown, "\n")))
    context: list[str | Element] = [
        _("Routes from dliconn.toml are configuration; watches live in Redis")
    ]
    if project is not None:
        context.insert(0, plain_text(_("Project {project}").format(project=project_label(project))))
    blocks.append(context_block(context))
    sentence = ngettext(
        "{name}: alerts reach {n} channel", "{name}: alerts reach {n} channels", count
    ).format(name=connection.name or connection.id, n=count)
    return Message(text=fallback_text(sentence), blocks=blocks)


def _line(line: RouteLine) -> Pieces:
    pieces = icon_line(_ICON[line.why], [channel(line.channel), words(" — ")])
    if line.why in ("watched", "hidden"):
        who = person(line.by)
        if line.since is not None:
            since = date(line.since)
            pieces += phrase(_("watched by {who} since {time}"), who=who, time=since)
        else:
            pieces += phrase(_("watched by {who}"), who=who)
        if line.why == "hidden":
            hidden = _("; gets nothing: its scope leaves this project out")
            pieces.append(words(hidden, bold=True))
    elif line.why == "watch_all":
        pieces.append(words(_("every connection of the project (watch_all)")))
    else:
        tags = joined([code(f"{k}={v}", 60) for k, v in line.tags], _(", "))
        pieces += phrase(_("connections tagged {tags} (watch_tags)"), tags=tags)
    if line.paused:
        pieces.append(words(_("; paused: the bot could not post there"), italic=True))
    if line.muted_until is not None:
        until = date(line.muted_until)
        pieces += styled(phrase(_("; muted until {time}"), time=until), italic=True)
    return pieces
