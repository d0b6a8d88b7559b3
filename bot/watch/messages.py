"""Block Kit for the watcher's posts: alerts, thread replies, the resolved update, notices."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from bot.blocks.actions import ACTION_ACK, ACTION_MUTE, ACTION_REFRESH, ALERT_ACTIONS
from bot.blocks.conntest import conntest_button
from bot.blocks.diagnosis import cause_block, cause_blocks
from bot.blocks.message import (
    BUTTON_VALUE_MAX,
    SECTION_TEXT_MAX,
    Message,
    button_element,
    context_block,
    fallback_text,
    header_block,
    plain_text,
    rich_block,
    section_block,
)
from bot.blocks.text import (
    Element,
    Pieces,
    code,
    date,
    date_token,
    emoji,
    humanize_age,
    is_user_id,
    joined,
    preformatted,
    shortened,
    value,
    words,
)
from bot.diagnosis.catalogue import default_catalogue
from bot.lookup.cache import ProjectRef
from bot.watch.transitions import (
    UNBOUND,
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
_ERR_MARKER: Final = "… ({n} more chars)"


def _moment(moment: float) -> datetime:
    return datetime.fromtimestamp(moment, tz=UTC)


def _at(moment: float) -> Element:
    return date(_moment(moment))


def _duration(seconds: float) -> str:
    return humanize_age(timedelta(seconds=seconds))


def _binding(kind: str, name: str) -> Pieces:
    return [words("pool " if kind == "pool" else "queue "), *code(name, 60)]


def _connection(name: str, connection_id: str) -> Pieces:
    return [*code(name or connection_id, 80), words(" ("), *code(connection_id, 64), words(")")]


def project_label(project: ProjectRef) -> Element:
    """A context part naming the project ("prod · cn-north-4"): configuration, shown exactly."""
    label = f"{project.alias} · {project.region}" if project.region else project.alias
    return plain_text(shortened(label, 150))


def _labelled(message: Message, project: ProjectRef | None) -> Message:
    """The message with a last context line naming its project (when there is one)."""
    if project is None:
        return message
    return Message(message.text, [*message.blocks, context_block([project_label(project)])])


def _acknowledged(who: str) -> str | Element:
    """A context part: a real user id becomes a mention (on purpose), anything else is shown."""
    if is_user_id(who):
        return f":eyes: Acknowledged by <@{who}>"
    return plain_text(f"👀 Acknowledged by {shortened(who, 80)}")


def _queue_block(queue: IncidentQueue, err_cap: int) -> dict[str, Any]:
    line = [
        emoji("red_circle"),
        words(" "),
        *_binding(queue.kind, queue.name),
        words(" FAILED since "),
        _at(queue.since),
    ]
    if queue.err_msg.strip():
        return rich_block(line, preformatted(queue.err_msg, err_cap))
    return rich_block(line)


def alert_message(
    incident: Incident,
    *,
    acknowledged_by: str | None = None,
    project: ProjectRef | None = None,
    can_test: bool = False,
) -> Message:
    """The alert for an incident; rendered again when it is acknowledged and when it resolves.
    `can_test`: the channel may run connectivity tests (a button for the first FAILED queue)."""
    name = incident.connection_name or incident.connection_id
    queues = incident.queues[:_QUEUES_SHOWN]
    flapping = incident.kind == "flapping"
    if flapping:
        title = "Flapping: "
        what = [
            *_binding(queues[0].kind, queues[0].name),
            words(f" changed status {incident.flips} times", bold=True),
        ]
    else:
        plural = "queues" if len(incident.queues) > 1 else "queue"
        title = f"{len(incident.queues)} {plural} FAILED: "
        what = [words(f"{len(incident.queues)} {plural} FAILED", bold=True)]
    where = _connection(incident.connection_name, incident.connection_id)
    resolved = incident.resolved_at is not None
    blocks = [
        header_block(f"✅ Resolved: {title}" if resolved else f"🚨 {title}", name),
        rich_block([*what, words(" on connection "), *where]),
    ]
    if not flapping:
        cap = min(SECTION_TEXT_MAX - 300, _ERR_BUDGET // max(1, len(queues)))
        for queue in queues:
            blocks += [
                _queue_block(queue, cap),
                *cause_blocks(queue.err_msg, incident.connection_id),
            ]
        if len(incident.queues) > len(queues):
            blocks.append(section_block(f"… and {len(incident.queues) - len(queues)} more"))
    notes: list[str | Element] = [f"Detected {date_token(_moment(incident.started_at))}"]
    if project is not None:
        notes.insert(0, project_label(project))
    if acknowledged_by:
        notes.append(_acknowledged(acknowledged_by))
    if incident.resolved_at is not None:
        down = incident.down_for or 0.0
        how = {
            "deleted": "the connection was deleted",
            "disappeared": "the connection disappeared from DLI",
            "stable": "stable again",
        }.get(incident.resolution, "recovered")
        blocks.append(
            rich_block(
                [
                    emoji("white_check_mark"),
                    words(" "),
                    words("Resolved", bold=True),
                    words(" "),
                    _at(incident.resolved_at),
                    words(f" ({how}) after {_duration(down)} down"),
                ]
            )
        )
    blocks.append(context_block(notes))
    buttons = _alert_buttons(incident, can_test=can_test)
    if buttons:
        blocks.append({"type": "actions", "block_id": ALERT_ACTIONS, "elements": buttons})
    state = "resolved" if resolved else "FAILED"
    names = ", ".join(q.name for q in queues)
    verb = "is flapping" if flapping else state
    return Message(text=fallback_text(f"{name}: {names} {verb}"), blocks=blocks)


def _alert_buttons(incident: Incident, *, can_test: bool) -> list[dict[str, Any]]:
    connection_id = incident.connection_id
    if len(connection_id) + 4 > BUTTON_VALUE_MAX:  # a cut id would act on the wrong connection
        return []
    buttons = [button_element("Refresh", ACTION_REFRESH, value=connection_id)]
    if incident.resolved_at is None:
        buttons += [
            button_element(
                f"Mute {hours} h", f"{ACTION_MUTE}_{hours}h", value=f"{connection_id}|{hours}"
            )
            for hours in MUTE_HOURS
        ]
        buttons.append(button_element("Acknowledge", ACTION_ACK, value=connection_id))
        queues = [q for q in incident.queues if q.kind == "queue"] if can_test else []
        test = conntest_button(connection_id, queues[0].name) if queues else None
        buttons += [test] if test is not None else []
    return buttons


def recovered_reply(event: Recovered, project: ProjectRef | None = None) -> Message:
    if event.status == UNBOUND:
        change = [words(" is no longer bound to the connection")]
    elif event.status == "ACTIVE":
        change = [words(" is ACTIVE again")]
    else:
        change = [words(" left FAILED and is now "), *value(event.status or "(no status)", 40)]
    line = [
        emoji("white_check_mark"),
        words(" "),
        *_binding(event.kind, event.binding),
        *change,
        words(f" after {_duration(event.down_for)}"),
    ]
    return _labelled(
        Message(text=fallback_text(f"{event.binding} recovered"), blocks=[rich_block(line)]),
        project,
    )


def flipped_reply(event: Flipped, project: ProjectRef | None = None) -> Message:
    line = [
        emoji("repeat"),
        words(" "),
        *_binding(event.kind, event.binding),
        words(" is now "),
        *value(event.status or "(no status)", 40, bold=True),
    ]
    block = (
        rich_block(line, preformatted(event.err_msg, 1500))
        if event.err_msg.strip()
        else rich_block(line)
    )
    return _labelled(
        Message(text=fallback_text(f"{event.binding} is now {event.status}"), blocks=[block]),
        project,
    )


def stabilised_reply(event: Stabilised, project: ProjectRef | None = None) -> Message:
    line = [
        emoji("large_green_circle"),
        words(" "),
        *_binding(event.kind, event.binding),
        words(" has been "),
        *value(event.status or "(no status)", 40, bold=True),
        words(f" for {_duration(event.stable_for)}: no longer flapping"),
    ]
    return _labelled(
        Message(text=fallback_text(f"{event.binding} stopped flapping"), blocks=[rich_block(line)]),
        project,
    )


def gone_notice(event: Gone, project: ProjectRef | None = None) -> Message:
    what = "was deleted" if event.deleted else "is no longer listed by DLI"
    line = [
        emoji("wastebasket"),
        words(" Connection "),
        *_connection(event.connection_name, event.connection_id),
        words(f" {what}"),
    ]
    name = event.connection_name or event.connection_id
    return _labelled(
        Message(text=fallback_text(f"{name} {what}"), blocks=[rich_block(line)]), project
    )


#: The catalogue entry (Huawei's dli_03_0257) for a binding that stays in CREATING.
STUCK_CREATING_ENTRY: Final = "queue-not-ready"


def stuck_notice(event: Stuck, project: ProjectRef | None = None) -> Message:
    line = [
        emoji("hourglass"),
        words(" "),
        *_binding(event.kind, event.binding),
        words(" of connection "),
        *_connection(event.connection_name, event.connection_id),
        words(" has been CREATING since "),
        _at(event.since),
    ]
    fallback = f"{event.binding} of {event.connection_name} is stuck in CREATING"
    blocks = [rich_block(line)]
    # A binding stuck in CREATING has no err_msg to match; the catalogue's entry for it does.
    stuck = default_catalogue().get(STUCK_CREATING_ENTRY)
    if stuck is not None:
        blocks.append(cause_block(stuck, event.connection_id))
    return _labelled(Message(text=fallback_text(fallback), blocks=blocks), project)


def unreachable_notice(event: DliUnreachable, project: ProjectRef | None = None) -> Message:
    line = [
        emoji("warning"),
        words(" "),
        words("Cannot reach DLI", bold=True),
        words(" since "),
        _at(event.since),
        words(": watched connections are not being checked. Last error: "),
        *value(event.reason, 500),
    ]
    name = f"Cannot reach DLI ({project.alias})" if project else "Cannot reach DLI"
    return _labelled(Message(text=fallback_text(name), blocks=[rich_block(line)]), project)


def reachable_notice(event: DliReachable, project: ProjectRef | None = None) -> Message:
    text = f":white_check_mark: DLI is reachable again after {_duration(event.down_for)}"
    name = f"DLI is reachable again ({project.alias})" if project else "DLI is reachable again"
    return _labelled(Message(text=fallback_text(name), blocks=[section_block(text)]), project)


_SUMMARY_SHOWN: Final = 15
_SUMMARY_QUEUES: Final = 5


def reset_summary(
    incidents: Sequence[Incident], *, noticed_at: float, project: ProjectRef | None = None
) -> Message:
    """The one post a channel gets after the bot's memory was reset, instead of an alert for
    every failure that was open before: what is FAILED now (oldest first)."""
    ordered = sorted(incidents, key=lambda i: (i.started_at, i.connection_id))
    shown = ordered[:_SUMMARY_SHOWN]
    intro = (
        "*The bot's memory was reset*: Redis lost the watcher's state, so it cannot tell which "
        "failures were already alerted here. "
        + (
            f"These {len(ordered)} connection(s) were already failing; no separate alerts follow "
            "for them, only for what fails from now on."
            if ordered
            else "Nothing watched from this channel is FAILED right now."
        )
    )
    blocks = [header_block("⚠️ The bot's memory was reset"), section_block(intro)]
    for incident in shown:
        queues = incident.queues[:_SUMMARY_QUEUES]
        names = joined([_binding(q.kind, q.name) for q in queues], ", ")
        if len(incident.queues) > len(queues):
            names.append(words(f" and {len(incident.queues) - len(queues)} more"))
        since = min(q.since for q in incident.queues) if incident.queues else incident.started_at
        where = _connection(incident.connection_name, incident.connection_id)
        blocks.append(
            rich_block(
                [
                    emoji("red_circle"),
                    words(" "),
                    *where,
                    words(": "),
                    *names,
                    words(" FAILED since "),
                    _at(since),
                ]
            )
        )
    if len(ordered) > len(shown):
        blocks.append(section_block(f"… and {len(ordered) - len(shown)} more"))
    blocks.append(
        context_block(
            [
                f"Noticed {date_token(_moment(noticed_at))}",
                "Subscriptions made with `/dliconn watch` may be gone: `/dliconn watches` "
                "shows what this channel still watches",
            ]
        )
    )
    text = f"The bot's memory was reset: {len(ordered)} watched connection(s) FAILED now"
    return _labelled(Message(text=fallback_text(text), blocks=blocks), project)
