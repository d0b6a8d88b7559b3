"""The answer to `/dliconn route`: which channels a connection's alerts would reach, and why."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from bot.blocks import message as kit
from bot.blocks import text as rich
from bot.blocks.replies import styled
from bot.blocks.status import and_more, project_context
from bot.dli.models import Connection
from bot.i18n import _, ngettext
from bot.lookup.cache import ProjectRef

#: "unchecked": a tag route whose members DLI could not list just now (it may or may not lead
#: the connection's alerts to the channel).
Why = Literal["watched", "watch_all", "tags", "hidden", "unchecked"]

_ICON = {
    "watched": "eyes",
    "watch_all": "satellite",
    "tags": "label",
    "hidden": "no_entry_sign",
    "unchecked": "grey_question",
}
_SHOWN = 40
#: The reasons that do lead alerts to a channel (unless it is paused).
_ALERTED: frozenset[Why] = frozenset({"watched", "watch_all", "tags"})


@dataclass(frozen=True)
class RouteLine:
    """One channel and the one reason it is (or is not) alerted."""

    channel: str
    why: Why
    by: str = ""  # who watched it (watched, hidden)
    since: float | None = None  # when (watched, hidden)
    tags: Sequence[tuple[str, str]] = ()  # which tag set routed it (tags, unchecked)
    problem: str = ""  # why that tag set could not be listed, in the reader's words (unchecked)
    paused: bool = False
    muted_until: float | None = None


def route_message(
    connection: Connection, project: ProjectRef | None, lines: Sequence[RouteLine]
) -> kit.Message:
    """Every reason a channel would (or would not) get this connection's alerts; with lines
    "unchecked" (tag routes DLI could not list), the count is a lower bound and says so."""
    alerted = [line for line in lines if line.why in _ALERTED and not line.paused]
    unsure = any(line.why == "unchecked" for line in lines)
    intro, sentence = _summary(connection.name or connection.id, len(alerted), unsure=unsure)
    blocks = [
        kit.header_block("🧭 " + _("Alert routes") + " · ", connection.name or connection.id),
        kit.rich_block(intro),
    ]
    shown = [_line(line) for line in lines[:_SHOWN]]
    if len(lines) > _SHOWN:
        shown.append([rich.words(and_more(len(lines) - _SHOWN))])
    if shown:
        blocks.append(kit.rich_block(rich.joined(shown, "\n")))
    context: list[str | rich.Element] = [
        _("Routes from dliconn.toml are configuration; watches live in Redis")
    ]
    if project is not None:
        context.insert(0, project_context(project))
    blocks.append(kit.context_block(context))
    return kit.Message(text=kit.fallback_text(sentence), blocks=blocks)


def _summary(label: str, count: int, *, unsure: bool) -> tuple[rich.Pieces, str]:
    """The opening line and the notification's sentence: how many channels would be alerted
    (at least, when some tag routes could not be checked)."""
    name = rich.code(label, 80)
    if unsure and count:
        at_least = ngettext(
            "{name} would alert at least {n} channel; some tag routes could not be checked "
            "(below), try again soon",
            "{name} would alert at least {n} channels; some tag routes could not be checked "
            "(below), try again soon",
            count,
        )
        sentence = ngettext(
            "{name}: alerts reach at least {n} channel",
            "{name}: alerts reach at least {n} channels",
            count,
        )
        return rich.phrase(at_least, name=name, n=str(count)), sentence.format(name=label, n=count)
    if unsure:
        none_for_sure = _(
            "{name} would alert no channel for sure; some tag routes could not be checked "
            "(below), try again soon"
        )
        sentence = _("{name}: alerts reach no channel for sure")
        return rich.phrase(none_for_sure, name=name), sentence.format(name=label)
    sentence = ngettext(
        "{name}: alerts reach {n} channel", "{name}: alerts reach {n} channels", count
    ).format(name=label, n=count)
    if count:
        some = ngettext("{name} would alert {n} channel", "{name} would alert {n} channels", count)
        return rich.phrase(some, name=name, n=str(count)), sentence
    none = _("{name} would alert no channel. Watch it here with {command}")
    command = [rich.words("/dliconn watch", code=True)]
    return rich.phrase(none, name=name, command=command), sentence


def _line(line: RouteLine) -> rich.Pieces:
    pieces = rich.icon_line(_ICON[line.why], [rich.channel(line.channel), rich.words(" — ")])
    if line.why in ("watched", "hidden"):
        who = rich.person(line.by)
        if line.since is not None:
            since = rich.date(line.since)
            pieces += rich.phrase(_("watched by {who} since {time}"), who=who, time=since)
        else:
            pieces += rich.phrase(_("watched by {who}"), who=who)
        if line.why == "hidden":
            hidden = _("; gets nothing: its scope leaves this project out")
            pieces.append(rich.words(hidden, bold=True))
    elif line.why == "watch_all":
        pieces.append(rich.words(_("every connection of the project (watch_all)")))
    else:
        tags = rich.joined([rich.code(f"{k}={v}", 60) for k, v in line.tags], _(", "))
        pieces += rich.phrase(_("connections tagged {tags} (watch_tags)"), tags=tags)
        if line.why == "unchecked":
            unchecked = _("; not checked: {problem}").format(problem=line.problem)
            pieces.append(rich.words(unchecked, bold=True))
    if line.paused:
        pieces.append(rich.words(_("; paused: the bot could not post there"), italic=True))
    if line.muted_until is not None:
        until = rich.date(line.muted_until)
        pieces += styled(rich.phrase(_("; muted until {time}"), time=until), italic=True)
    return pieces
