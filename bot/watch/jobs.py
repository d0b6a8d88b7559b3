"""Outbox jobs (what to post where) and the pure planning of jobs from transition events.

Job ids are derived from event ids, which are derived from the committed state, so the same
transition always plans the same jobs. Alerts and alert updates are rendered when they are sent,
from the stored incident, so an update always shows the latest acknowledgement and resolution.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from bot.blocks.message import Message
from bot.watch import messages
from bot.watch.transitions import (
    DliReachable,
    DliUnreachable,
    Event,
    Failed,
    Flapping,
    Flipped,
    Gone,
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
) -> list[Job]:
    """The posts these events mean, in order. Muted channels get no new posts for that
    connection, but a resolved alert is still updated (an edit notifies nobody)."""
    jobs: list[Job] = []
    for event in events:
        if isinstance(event, DliUnreachable | DliReachable):
            message = (
                messages.unreachable_notice(event)
                if isinstance(event, DliUnreachable)
                else messages.reachable_notice(event)
            )
            jobs += [
                Job.carrying(f"{event.event_id}:{c}", c, "notice", message)
                for c in sorted(set(every_channel))
            ]
            continue
        connection_id = (
            event.incident.connection_id
            if isinstance(event, Failed | Flapping | Resolved)
            else event.connection_id
        )
        for channel in sorted(set(subscribers(connection_id))):
            job = _job(event, channel)
            if job is not None and (job.kind == "refresh" or not muted(connection_id, channel)):
                jobs.append(job)
    return jobs


def _job(event: Event, channel: str) -> Job | None:
    job_id = f"{event.event_id}:{channel}"
    match event:
        case Failed() | Flapping():
            return Job(id=job_id, channel=channel, kind="alert", incident_id=event.incident.id)
        case Resolved():
            return Job(id=job_id, channel=channel, kind="refresh", incident_id=event.incident.id)
        case Recovered():
            reply = messages.recovered_reply(event)
            return Job.carrying(job_id, channel, "reply", reply, event.incident_id)
        case Flipped():
            reply = messages.flipped_reply(event)
            return Job.carrying(job_id, channel, "reply", reply, event.incident_id)
        case Stabilised():
            reply = messages.stabilised_reply(event)
            return Job.carrying(job_id, channel, "reply", reply, event.incident_id)
        case Gone():
            return Job.carrying(job_id, channel, "notice", messages.gone_notice(event))
        case Stuck():
            return Job.carrying(job_id, channel, "notice", messages.stuck_notice(event))
    return None
