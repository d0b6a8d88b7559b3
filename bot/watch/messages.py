"""Block Kit for the watcher's posts: alerts, thread replies, the resolved update, notices.

Each is built in the language of the channel it goes to (`speaking`, chosen by the caller:
bot.watch.jobs, notifier and runner); DLI's words (names, statuses, err_msg) are slots, exact."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Final

from bot.blocks import message as kit
from bot.blocks import text as rich
from bot.blocks.actions import ACTION_ACK, ACTION_MUTE, ACTION_REFRESH, ALERT_ACTIONS
from bot.blocks.conntest import conntest_button
from bot.blocks.diagnosis import cause_block, cause_blocks
from bot.blocks.status import and_more, binding_named, connection_named, status_value
from bot.diagnosis.catalogue import default_catalogue
from bot.dli.models import ACTIVE, CREATING, FAILED
from bot.errors import dli_problem
from bot.i18n import _, ngettext
from bot.lookup.cache import ProjectRef
from bot.slack_ids import is_user_id
from bot.watch.transitions import (
    UNBOUND,
    BindingChange,
    DliReachable,
    DliUnreachable,
    Flipped,
    Gone,
    Incident,
    IncidentQueue,
    Recovered,
    Stabilised,
    Stuck,
)

MUTE_HOURS: Final = (1, 4, 24)

_QUEUES_SHOWN: Final = 10
_ERR_BUDGET: Final = 6000


def _duration(seconds: float) -> str:
    return rich.humanize_age(timedelta(seconds=seconds))


def project_label(project: ProjectRef) -> rich.Element:
    """A context part naming the project ("prod · cn-north-4"): configuration, shown exactly."""
    label = f"{project.alias} · {project.region}" if project.region else project.alias
    return kit.plain_text(rich.shortened(label, 150))


def _watcher_message(
    sentence: str, blocks: list[dict[str, Any]], project: ProjectRef | None
) -> kit.Message:
    """A watcher's message: `blocks`, then a context line naming its project (when there is
    one); `sentence` is its top-level text."""
    if project is not None:
        blocks = [*blocks, kit.context_block([project_label(project)])]
    return kit.Message(text=kit.fallback_text(sentence), blocks=blocks)


def _acknowledged(who: str) -> str | rich.Element:
    """A context part: a real user id becomes a mention (on purpose), anything else is shown."""
    if is_user_id(who):
        return _(":eyes: Acknowledged by {user}").format(user=f"<@{who}>")
    return kit.plain_text(_("👀 Acknowledged by {user}").format(user=rich.shortened(who, 80)))


def _queue_block(queue: IncidentQueue, err_cap: int) -> dict[str, Any]:
    line = rich.icon_line(
        "red_circle",
        rich.phrase(
            _("{binding} {status} since {time}"),
            binding=binding_named(queue.kind, queue.name),
            status=FAILED,
            time=rich.date(queue.since),
        ),
    )
    if queue.err_msg.strip():
        return kit.rich_block(line, rich.preformatted(queue.err_msg, err_cap))
    return kit.rich_block(line)


def _alert_title(incident: Incident) -> str:
    """The header's words before the connection's name."""
    resolved = incident.resolved_at is not None
    if incident.kind == "flapping":
        return _("✅ Resolved: Flapping: ") if resolved else _("🚨 Flapping: ")
    count = len(incident.queues)
    if resolved:
        title = ngettext(
            "✅ Resolved: {n} queue {status}: ", "✅ Resolved: {n} queues {status}: ", count
        )
    else:
        title = ngettext("🚨 {n} queue {status}: ", "🚨 {n} queues {status}: ", count)
    return title.format(n=count, status=FAILED)


def _alert_line(incident: Incident) -> rich.Pieces:
    """What failed (or flaps), and on which connection."""
    where = connection_named(incident.connection_name, incident.connection_id)
    if incident.kind == "flapping":
        first = incident.queues[0]
        flips = incident.flips
        changed = ngettext("changed status {n} time", "changed status {n} times", flips)
        return rich.phrase(
            _("{binding} {changed} on connection {connection}"),
            binding=binding_named(first.kind, first.name),
            changed=[rich.words(changed.format(n=flips), bold=True)],
            connection=where,
        )
    count = len(incident.queues)
    failed = ngettext("{n} queue {status}", "{n} queues {status}", count)
    return rich.phrase(
        _("{failed} on connection {connection}"),
        failed=[rich.words(failed.format(n=count, status=FAILED), bold=True)],
        connection=where,
    )


def _resolution(incident: Incident) -> str:
    if incident.resolution == "deleted":
        return _("the connection was deleted")
    if incident.resolution == "disappeared":
        return _("the connection disappeared from DLI")
    if incident.resolution == "stable":
        return _("stable again")
    return _("recovered")


def alert_message(
    incident: Incident,
    *,
    acknowledged_by: str | None = None,
    project: ProjectRef | None = None,
    can_test: bool = False,
) -> kit.Message:
    """The alert for an incident; rendered again when it is acknowledged and when it resolves.
    `can_test`: the channel may run connectivity tests (a button for the first FAILED queue)."""
    name = incident.connection_name or incident.connection_id
    queues = incident.queues[:_QUEUES_SHOWN]
    flapping = incident.kind == "flapping"
    blocks = [kit.header_block(_alert_title(incident), name), kit.rich_block(_alert_line(incident))]
    if not flapping:
        cap = min(kit.SECTION_TEXT_MAX - 300, _ERR_BUDGET // max(1, len(queues)))
        for queue in queues:
            blocks += [
                _queue_block(queue, cap),
                *cause_blocks(queue.err_msg, incident.connection_id),
            ]
        if len(incident.queues) > len(queues):
            blocks.append(kit.section_block(and_more(len(incident.queues) - len(queues))))
    detected = _("Detected {time}").format(time=rich.date_token(incident.started_at))
    notes: list[str | rich.Element] = [detected]
    if project is not None:
        notes.insert(0, project_label(project))
    if acknowledged_by:
        notes.append(_acknowledged(acknowledged_by))
    if incident.resolved_at is not None:
        blocks.append(
            kit.rich_block(
                rich.icon_line(
                    "white_check_mark",
                    rich.phrase(
                        _("{resolved} {time} ({how}) after {duration} down"),
                        resolved=[rich.words(_("Resolved"), bold=True)],
                        time=rich.date(incident.resolved_at),
                        how=_resolution(incident),
                        duration=_duration(incident.down_for or 0.0),
                    ),
                )
            )
        )
    blocks.append(kit.context_block(notes))
    buttons = _alert_buttons(incident, can_test=can_test)
    if buttons:
        blocks.append({"type": "actions", "block_id": ALERT_ACTIONS, "elements": buttons})
    return kit.Message(
        text=kit.fallback_text(_alert_fallback(incident, name, queues)), blocks=blocks
    )


def _alert_fallback(incident: Incident, name: str, queues: Sequence[IncidentQueue]) -> str:
    names = _(", ").join(q.name for q in queues)
    if incident.kind == "flapping":
        return _("{name}: {queues} is flapping").format(name=name, queues=names)
    if incident.resolved_at is not None:
        return _("{name}: {queues} resolved").format(name=name, queues=names)
    return _("{name}: {queues} {status}").format(name=name, queues=names, status=FAILED)


def _alert_buttons(incident: Incident, *, can_test: bool) -> list[dict[str, Any]]:
    connection_id = incident.connection_id
    if len(connection_id) + 4 > kit.BUTTON_VALUE_MAX:  # a cut id would act on the wrong connection
        return []
    buttons = [kit.button_element(_("Refresh"), ACTION_REFRESH, value=connection_id)]
    if incident.resolved_at is None:
        buttons += [
            kit.button_element(
                _("Mute {hours} h").format(hours=hours),
                f"{ACTION_MUTE}_{hours}h",
                value=f"{connection_id}|{hours}",
            )
            for hours in MUTE_HOURS
        ]
        buttons.append(kit.button_element(_("Acknowledge"), ACTION_ACK, value=connection_id))
        queues = [q for q in incident.queues if q.kind == "queue"] if can_test else []
        test = conntest_button(connection_id, queues[0].name) if queues else None
        buttons += [test] if test is not None else []
    return buttons


def _binding_line(
    icon: str, template: str, event: BindingChange, **slots: rich.Pieces | str
) -> rich.Pieces:
    """A reply in an alert's thread: `icon`, then `template` about the event's binding."""
    binding = binding_named(event.kind, event.binding)
    return rich.icon_line(icon, rich.phrase(template, binding=binding, **slots))


def recovered_reply(event: Recovered, project: ProjectRef | None = None) -> kit.Message:
    duration = _duration(event.down_for)
    if event.status == UNBOUND:
        template = _("{binding} is no longer bound to the connection after {duration}")
        line = _binding_line("white_check_mark", template, event, duration=duration)
    elif event.status == ACTIVE:
        template = _("{binding} is {status} again after {duration}")
        line = _binding_line("white_check_mark", template, event, status=ACTIVE, duration=duration)
    else:
        template = _("{binding} left {failed} and is now {status} after {duration}")
        status = status_value(event.status)
        line = _binding_line(
            "white_check_mark", template, event, failed=FAILED, status=status, duration=duration
        )
    return _watcher_message(
        _("{name} recovered").format(name=event.binding), [kit.rich_block(line)], project
    )


def flipped_reply(event: Flipped, project: ProjectRef | None = None) -> kit.Message:
    status = status_value(event.status, bold=True)
    line = _binding_line("repeat", _("{binding} is now {status}"), event, status=status)
    block = (
        kit.rich_block(line, rich.preformatted(event.err_msg, 1500))
        if event.err_msg.strip()
        else kit.rich_block(line)
    )
    text = _("{name} is now {status}").format(name=event.binding, status=event.status)
    return _watcher_message(text, [block], project)


def stabilised_reply(event: Stabilised, project: ProjectRef | None = None) -> kit.Message:
    template = _("{binding} has been {status} for {duration}: no longer flapping")
    status, duration = status_value(event.status, bold=True), _duration(event.stable_for)
    line = _binding_line("large_green_circle", template, event, status=status, duration=duration)
    text = _("{name} stopped flapping").format(name=event.binding)
    return _watcher_message(text, [kit.rich_block(line)], project)


def gone_notice(event: Gone, project: ProjectRef | None = None) -> kit.Message:
    if event.deleted:
        sentence, short = _("Connection {connection} was deleted"), _("{name} was deleted")
    else:
        sentence = _("Connection {connection} is no longer listed by DLI")
        short = _("{name} is no longer listed by DLI")
    where = connection_named(event.connection_name, event.connection_id)
    line = rich.icon_line("wastebasket", rich.phrase(sentence, connection=where))
    name = event.connection_name or event.connection_id
    return _watcher_message(short.format(name=name), [kit.rich_block(line)], project)


#: The catalogue entry (Huawei's dli_03_0257) for a binding that stays in CREATING.
STUCK_CREATING_ENTRY: Final = "queue-not-ready"


def stuck_notice(event: Stuck, project: ProjectRef | None = None) -> kit.Message:
    line = rich.icon_line(
        "hourglass",
        rich.phrase(
            _("{binding} of connection {connection} has been {status} since {time}"),
            binding=binding_named(event.kind, event.binding),
            connection=connection_named(event.connection_name, event.connection_id),
            status=CREATING,
            time=rich.date(event.since),
        ),
    )
    fallback = _("{name} of {connection} is stuck in {status}").format(
        name=event.binding, connection=event.connection_name, status=CREATING
    )
    blocks = [kit.rich_block(line)]
    # A binding stuck in CREATING has no err_msg to match; the catalogue's entry for it does.
    stuck = default_catalogue().get(STUCK_CREATING_ENTRY)
    if stuck is not None:
        blocks.append(cause_block(stuck, event.connection_id))
    return _watcher_message(fallback, blocks, project)


def _last_error(event: DliUnreachable) -> rich.Pieces:
    """What the last failure was, in the reader's words, then DLI's own detail of it, exact."""
    if not event.kind:  # nothing classified it: its reason is all there is
        return rich.value(event.reason, 500)
    problem = [rich.words(dli_problem(event.kind))]
    if not event.reason:
        return problem
    return rich.phrase(
        _("{problem} ({detail})"), problem=problem, detail=rich.value(event.reason, 500)
    )


def unreachable_notice(event: DliUnreachable, project: ProjectRef | None = None) -> kit.Message:
    line = rich.icon_line(
        "warning",
        rich.phrase(
            _(
                "{cannot_reach} since {time}: watched connections are not being checked. "
                "Last error: {error}"
            ),
            cannot_reach=[rich.words(_("Cannot reach DLI"), bold=True)],
            time=rich.date(event.since),
            error=_last_error(event),
        ),
    )
    name = (
        _("Cannot reach DLI ({project})").format(project=project.alias)
        if project
        else _("Cannot reach DLI")
    )
    return _watcher_message(name, [kit.rich_block(line)], project)


def reachable_notice(event: DliReachable, project: ProjectRef | None = None) -> kit.Message:
    text = _(":white_check_mark: DLI is reachable again after {duration}").format(
        duration=_duration(event.down_for)
    )
    name = (
        _("DLI is reachable again ({project})").format(project=project.alias)
        if project
        else _("DLI is reachable again")
    )
    return _watcher_message(name, [kit.section_block(text)], project)


_SUMMARY_SHOWN: Final = 15
_SUMMARY_QUEUES: Final = 5


def _reset_line(incident: Incident) -> rich.Pieces:
    """ "🔴 `orders` (`id`): queue `q1`, queue `q2` FAILED since <date>"."""
    queues = incident.queues[:_SUMMARY_QUEUES]
    names = rich.joined([binding_named(q.kind, q.name) for q in queues], _(", "))
    if len(incident.queues) > len(queues):
        names.append(
            rich.words(" " + _("and {n} more").format(n=len(incident.queues) - len(queues)))
        )
    since = min(q.since for q in incident.queues) if incident.queues else incident.started_at
    return rich.icon_line(
        "red_circle",
        rich.phrase(
            _("{connection}: {queues} {status} since {time}"),
            connection=connection_named(incident.connection_name, incident.connection_id),
            queues=names,
            status=FAILED,
            time=rich.date(since),
        ),
    )


def reset_summary(
    incidents: Sequence[Incident], *, noticed_at: float, project: ProjectRef | None = None
) -> kit.Message:
    """The one post a channel gets after the bot's memory was reset, instead of an alert for
    every failure that was open before: what is FAILED now (oldest first)."""
    ordered = sorted(incidents, key=lambda i: (i.started_at, i.connection_id))
    shown = ordered[:_SUMMARY_SHOWN]
    count = len(ordered)
    now = (
        ngettext(
            "This {n} connection was already failing; no separate alerts follow for it, only "
            "for what fails from now on.",
            "These {n} connections were already failing; no separate alerts follow for them, "
            "only for what fails from now on.",
            count,
        ).format(n=count)
        if ordered
        else _("Nothing watched from this channel is {status} right now.").format(status=FAILED)
    )
    intro = _(
        "*The bot's memory was reset*: Redis lost the watcher's state, so it cannot tell which "
        "failures were already alerted here. {now}"
    ).format(now=now)
    blocks = [kit.header_block(_("⚠️ The bot's memory was reset")), kit.section_block(intro)]
    blocks += [kit.rich_block(_reset_line(incident)) for incident in shown]
    if len(ordered) > len(shown):
        blocks.append(kit.section_block(and_more(len(ordered) - len(shown))))
    blocks.append(
        kit.context_block(
            [
                _("Noticed {time}").format(time=rich.date_token(noticed_at)),
                _(
                    "Subscriptions made with `/dliconn watch` may be gone: `/dliconn watches` "
                    "shows what this channel still watches"
                ),
            ]
        )
    )
    text = ngettext(
        "The bot's memory was reset: {n} watched connection {status} now",
        "The bot's memory was reset: {n} watched connections {status} now",
        count,
    ).format(n=count, status=FAILED)
    return _watcher_message(text, blocks, project)
