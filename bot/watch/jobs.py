"""Outbox jobs (what to post where) and the pure planning of jobs from transition events.

Job ids are derived from event ids, which are derived from the committed state, so the same
transition always plans the same jobs. Alerts and alert updates are rendered when they are sent,
from the stored incident, so an update always shows the latest acknowledgement and resolution.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from bot.blocks.message import Message
from bot.i18n import DEFAULT_LOCALE, Locale, speaking
from bot.lookup.cache import ProjectRef
from bot.watch import messages
from bot.watch.transitions import (
    ConnState,
    DliReachable,
    DliUnreachable,
    Event,
    Failed,
    Flapping,
    Flipped,
    Gone,
    Incident,
    Recovered,
    Resolved,
    Stabilised,
    Stuck,
)

JobKind = Literal["alert", "refresh", "reply", "notice"]


class Job(BaseModel):
    """One Slack call to make. `alert`/`refresh` render the incident at send time; `reply` goes
    in the thread of the incident's alert in that channel (dropped when it was never posted)."""

    model_config = ConfigDict(frozen=True)

    id: str
    channel: str
    kind: JobKind
    incident_id: str = ""
    text: str = ""
    blocks: list[dict[str, Any]] = []
    attempts: int = 0
    not_before: float = 0.0

    @classmethod
    def carrying(
        cls, job_id: str, channel: str, kind: JobKind, message: Message, incident_id: str = ""
    ) -> Job:
        return cls(
            id=job_id,
            channel=channel,
            kind=kind,
            incident_id=incident_id,
            text=message.text,
            blocks=message.blocks,
        )


def plan_jobs(
    events: Sequence[Event],
    *,
    subscribers: Callable[[str], Iterable[str]],
    every_channel: Iterable[str],
    muted: Callable[[str, str], bool],
    project: ProjectRef | None = None,
    locale_of: Callable[[str], Locale] = lambda channel: DEFAULT_LOCALE,
) -> list[Job]:
    """The posts these events mean, in order, each in its channel's language. Muted channels
    get no new posts for that connection, but a resolved alert is still updated (an edit
    notifies nobody)."""
    jobs: list[Job] = []
    for event in events:
        if isinstance(event, DliUnreachable | DliReachable):
            by_locale: dict[Locale, Message] = {}
            for c in sorted(set(every_channel)):
                locale = locale_of(c)
                if locale not in by_locale:
                    with speaking(locale):
                        by_locale[locale] = _outage_notice(event, project)
                jobs.append(Job.carrying(f"{event.event_id}:{c}", c, "notice", by_locale[locale]))
            continue
        connection_id = (
            event.incident.connection_id
            if isinstance(event, Failed | Flapping | Resolved)
            else event.connection_id
        )
        for channel in sorted(set(subscribers(connection_id))):
            with speaking(locale_of(channel)):
                job = _job(event, channel, project)
            if job is not None and (job.kind == "refresh" or not muted(connection_id, channel)):
                jobs.append(job)
    return jobs


def _outage_notice(event: DliUnreachable | DliReachable, project: ProjectRef | None) -> Message:
    if isinstance(event, DliUnreachable):
        return messages.unreachable_notice(event, project)
    return messages.reachable_notice(event, project)


def _job(event: Event, channel: str, project: ProjectRef | None) -> Job | None:
    job_id = f"{event.event_id}:{channel}"
    match event:
        case Failed() | Flapping():
            return Job(id=job_id, channel=channel, kind="alert", incident_id=event.incident.id)
        case Resolved():
            return Job(id=job_id, channel=channel, kind="refresh", incident_id=event.incident.id)
        case Recovered():
            reply = messages.recovered_reply(event, project)
            return Job.carrying(job_id, channel, "reply", reply, event.incident_id)
        case Flipped():
            reply = messages.flipped_reply(event, project)
            return Job.carrying(job_id, channel, "reply", reply, event.incident_id)
        case Stabilised():
            reply = messages.stabilised_reply(event, project)
            return Job.carrying(job_id, channel, "reply", reply, event.incident_id)
        case Gone():
            return Job.carrying(job_id, channel, "notice", messages.gone_notice(event, project))
        case Stuck():
            return Job.carrying(job_id, channel, "notice", messages.stuck_notice(event, project))
    return None


@dataclass
class LateAlerts:
    """Open incidents whose routed channels changed: the new states, incidents and jobs."""

    states: dict[str, ConnState] = field(default_factory=dict)
    incidents: dict[str, Incident] = field(default_factory=dict)
    jobs: list[Job] = field(default_factory=list)


def late_alerts(
    states: Mapping[str, ConnState],
    *,
    subscribers: Callable[[str], Iterable[str]],
) -> LateAlerts:
    """Alert the channels that started watching (or being routed) a connection while one of its
    incidents was already open, once each: every connection is tracked whether watched or not,
    so a queue already FAILED when a channel first watches it opened its incident earlier.

    An incident not settled yet (`alerted` None: opened this cycle, whose alerts `plan_jobs`
    made, or recorded before the field existed) takes its channels now as alerted, quietly.
    A channel stays alerted once it was (watching again re-alerts nothing). Mutes are not read
    here: the watcher drops a muted channel's job afterwards, and the channel still counts as
    alerted, as it would had it been watching when the incident opened.
    """
    found = LateAlerts()
    for connection_id, state in states.items():
        if not state.incidents:
            continue
        channels = frozenset(subscribers(connection_id))
        changed: dict[str, Incident] = {}
        for incident in state.incidents.values():
            before = frozenset(incident.alerted) if incident.alerted is not None else None
            if before is not None and channels <= before:
                continue
            late = sorted(channels - before) if before is not None else []
            found.jobs += [
                Job(id=f"{incident.id}:late:{c}", channel=c, kind="alert", incident_id=incident.id)
                for c in late
            ]
            alerted = tuple(sorted(channels | (before or frozenset())))
            changed[incident.id] = incident.model_copy(update={"alerted": alerted})
        if changed:
            found.incidents.update(changed)
            incidents = {**state.incidents, **changed}
            found.states[connection_id] = state.model_copy(update={"incidents": incidents})
    return found
