"""Block Kit for the watcher's posts: alerts, thread replies, the resolved update, notices."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from bot.blocks.actions import ACTION_ACK, ACTION_MUTE, ACTION_REFRESH, ALERT_ACTIONS
from bot.blocks.message import (
    BUTTON_VALUE_MAX,
    SECTION_TEXT_MAX,
    Message,
    button_element,
    context_block,
    fallback_text,
    header_block,
    section_block,
)
from bot.blocks.text import code, escape_mrkdwn, humanize_age, slack_date, truncate
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
_SLACK_USER: Final = re.compile(r"[UW][A-Z0-9]{2,20}")


def _at(moment: float) -> str:
    return slack_date(datetime.fromtimestamp(moment, tz=UTC))


def _duration(seconds: float) -> str:
    return humanize_age(timedelta(seconds=seconds))


def _binding(kind: str, name: str) -> str:
    return f"{'pool' if kind == 'pool' else 'queue'} {code(name, 60)}"


def _connection(name: str, connection_id: str) -> str:
    return f"{code(name or connection_id, 80)} ({code(connection_id, 64)})"


def mention(user: str) -> str:
    """A user mention when `user` looks like a Slack user id, else the escaped text."""
    return f"<@{user}>" if _SLACK_USER.fullmatch(user) else escape_mrkdwn(user)


def _queue_text(queue: IncidentQueue, err_cap: int) -> str:
    text = f":red_circle: {_binding(queue.kind, queue.name)} FAILED since {_at(queue.since)}"
    if queue.err_msg.strip():
        body = truncate(queue.err_msg, err_cap, style="code", multiline=True, marker=_ERR_MARKER)
        text += f"\n```{body}```"
    return text


def alert_message(incident: Incident, *, acknowledged_by: str | None = None) -> Message:
    """The alert for an incident; rendered again when it is acknowledged and when it resolves."""
    name = incident.connection_name or incident.connection_id
    queues = incident.queues[:_QUEUES_SHOWN]
    flapping = incident.kind == "flapping"
    if flapping:
        title = f"Flapping: {name}"
        what = f"{_binding(queues[0].kind, queues[0].name)} changed status {incident.flips} times"
    else:
        plural = "queues" if len(incident.queues) > 1 else "queue"
        title = f"{len(incident.queues)} {plural} FAILED: {name}"
        what = f"{len(incident.queues)} {plural} FAILED"
    where = _connection(incident.connection_name, incident.connection_id)
    blocks = [
        header_block(
            f":white_check_mark: Resolved: {title}"
            if incident.resolved_at is not None
            else f":rotating_light: {title}"
        ),
        section_block(f"*{what}* on connection {where}"),
    ]
    if not flapping:
        cap = min(SECTION_TEXT_MAX - 300, _ERR_BUDGET // max(1, len(queues)))
        blocks += [section_block(_queue_text(q, cap)) for q in queues]
        if len(incident.queues) > len(queues):
            blocks.append(section_block(f"… and {len(incident.queues) - len(queues)} more"))
    notes = [f"Detected {_at(incident.started_at)}"]
    if acknowledged_by:
        notes.append(f":eyes: Acknowledged by {mention(acknowledged_by)}")
    if incident.resolved_at is not None:
        down = incident.down_for or 0.0
        how = {
            "deleted": "the connection was deleted",
            "disappeared": "the connection disappeared from DLI",
            "stable": "stable again",
        }.get(incident.resolution, "recovered")
        blocks.append(
            section_block(
                f":white_check_mark: *Resolved* {_at(incident.resolved_at)} ({how}) "
                f"after {_duration(down)} down"
            )
        )
    blocks.append(context_block(notes))
    buttons = _alert_buttons(incident)
    if buttons:
        blocks.append({"type": "actions", "block_id": ALERT_ACTIONS, "elements": buttons})
    state = "resolved" if incident.resolved_at is not None else "FAILED"
    names = ", ".join(q.name for q in queues)
    verb = "is flapping" if flapping else state
    return Message(text=fallback_text(f"{name}: {names} {verb}"), blocks=blocks)


def _alert_buttons(incident: Incident) -> list[dict[str, Any]]:
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
    return buttons


def recovered_reply(event: Recovered) -> Message:
    what = _binding(event.kind, event.binding)
    if event.status == UNBOUND:
        change = "is no longer bound to the connection"
    elif event.status == "ACTIVE":
        change = "is ACTIVE again"
    else:
        change = f"left FAILED and is now {escape_mrkdwn(event.status)}"
    text = f":white_check_mark: {what} {change} after {_duration(event.down_for)}"
    return Message(text=fallback_text(f"{event.binding} recovered"), blocks=[section_block(text)])


def flipped_reply(event: Flipped) -> Message:
    text = f":repeat: {_binding(event.kind, event.binding)} is now *{escape_mrkdwn(event.status)}*"
    if event.err_msg.strip():
        text += f": {truncate(event.err_msg, 1500)}"
    return Message(
        text=fallback_text(f"{event.binding} is now {event.status}"), blocks=[section_block(text)]
    )


def stabilised_reply(event: Stabilised) -> Message:
    text = (
        f":large_green_circle: {_binding(event.kind, event.binding)} has been "
        f"*{escape_mrkdwn(event.status)}* for {_duration(event.stable_for)}: no longer flapping"
    )
    return Message(
        text=fallback_text(f"{event.binding} stopped flapping"), blocks=[section_block(text)]
    )


def gone_notice(event: Gone) -> Message:
    what = "was deleted" if event.deleted else "is no longer listed by DLI"
    text = (
        f":wastebasket: Connection {_connection(event.connection_name, event.connection_id)} {what}"
    )
    name = event.connection_name or event.connection_id
    return Message(text=fallback_text(f"{name} {what}"), blocks=[section_block(text)])


def stuck_notice(event: Stuck) -> Message:
    text = (
        f":hourglass: {_binding(event.kind, event.binding)} of connection "
        f"{_connection(event.connection_name, event.connection_id)} has been CREATING since "
        f"{_at(event.since)}"
    )
    fallback = f"{event.binding} of {event.connection_name} is stuck in CREATING"
    return Message(text=fallback_text(fallback), blocks=[section_block(text)])


def unreachable_notice(event: DliUnreachable) -> Message:
    text = (
        f":warning: *Cannot reach DLI* since {_at(event.since)}: watched connections are not "
        f"being checked. Last error: {truncate(event.reason, 500)}"
    )
    return Message(text=fallback_text("Cannot reach DLI"), blocks=[section_block(text)])


def reachable_notice(event: DliReachable) -> Message:
    text = f":white_check_mark: DLI is reachable again after {_duration(event.down_for)}"
    return Message(text=fallback_text("DLI is reachable again"), blocks=[section_block(text)])


_SUMMARY_SHOWN: Final = 15
_SUMMARY_QUEUES: Final = 5


def reset_summary(incidents: Sequence[Incident], *, noticed_at: float) -> Message:
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
    blocks = [header_block(":warning: The bot's memory was reset"), section_block(intro)]
    for incident in shown:
        queues = incident.queues[:_SUMMARY_QUEUES]
        names = ", ".join(_binding(q.kind, q.name) for q in queues)
        if len(incident.queues) > len(queues):
            names += f" and {len(incident.queues) - len(queues)} more"
        since = min(q.since for q in incident.queues) if incident.queues else incident.started_at
        where = _connection(incident.connection_name, incident.connection_id)
        blocks.append(section_block(f":red_circle: {where}: {names} FAILED since {_at(since)}"))
    if len(ordered) > len(shown):
        blocks.append(section_block(f"… and {len(ordered) - len(shown)} more"))
    blocks.append(
        context_block(
            [
                f"Noticed {_at(noticed_at)}",
                "Subscriptions made with `/dliconn watch` may be gone: `/dliconn watches` "
                "shows what this channel still watches",
            ]
        )
    )
    text = f"The bot's memory was reset: {len(ordered)} watched connection(s) FAILED now"
    return Message(text=fallback_text(text), blocks=blocks)
