"""Watching from Slack: watch, unwatch, a channel's watches, muting and acknowledging alerts."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from bot import audit as trail
from bot.audit import AuditLog, MemoryAuditStore
from bot.blocks import message as kit
from bot.blocks import text as rich
from bot.blocks.lists import choose_connection, watches_message
from bot.blocks.replies import notice
from bot.chat.audit import Note, audited
from bot.chat.context import ChatContext
from bot.chat.lookups import lookup_many
from bot.chat.replies import Reply, guarded
from bot.dli.ids import is_id, normalise_id
from bot.dli.models import DELETED, FAILED
from bot.errors import DliError, NotFound
from bot.i18n import _
from bot.lookup.cache import Lookup
from bot.lookup.finder import Ambiguous
from bot.watch.state import WatchStore
from bot.watch.subscriptions import Subscription


@dataclass(frozen=True)
class Watching:
    """What a channel watches, and what people do with the alerts it gets."""

    context: ChatContext
    #: Each project's watcher state, by alias.
    states: Mapping[str, WatchStore]
    #: The projects whose every connection a channel gets alerts for.
    watch_all: Callable[[str], Sequence[str]]
    #: Where every change made here is recorded.
    audit: AuditLog = field(default_factory=lambda: AuditLog(MemoryAuditStore()))

    async def watch(self, target: str, *, channel: str, user: str) -> Reply:
        return await guarded(target, lambda: audited(
            self.audit, "watch", trail.WATCH, target, channel, user,
            lambda note: self._watch(target, channel, user, note),
        ))  # fmt: skip

    async def unwatch(self, target: str, *, channel: str, user: str = "") -> Reply:
        return await guarded(target, lambda: audited(
            self.audit, "watch", trail.UNWATCH, target, channel, user,
            lambda note: self._unwatch(target, channel, note),
        ))  # fmt: skip

    async def watches(self, *, channel: str) -> Reply:
        return await guarded(None, lambda: self._watches(channel))

    async def mute(self, connection_id: str, hours: int, *, channel: str, user: str) -> Reply:
        async def work(note: Note) -> kit.Message:
            note.project, state = await self._state_of(connection_id, channel)
            await state.mute(connection_id, channel, time.time() + hours * 3600, user)
            muted = _("Alerts for {connection} are muted here for {hours} h (by {who}).")
            return notice(
                _line("mute", muted, connection=rich.code(connection_id, 60), hours=str(hours),
                      who=rich.person(user)),
                fallback=_("Muted for {hours} h").format(hours=hours),
            )  # fmt: skip

        return await guarded(connection_id, lambda: audited(
            self.audit, "mute", trail.mute_action(hours), connection_id, channel, user, work
        ))  # fmt: skip

    async def acknowledge(self, connection_id: str, *, channel: str, user: str) -> Reply:
        async def work(note: Note) -> kit.Message:
            note.project, state = await self._state_of(connection_id, channel)
            incidents = await state.acknowledge(connection_id, channel, user)
            if not incidents:
                note.result = trail.NOTHING_OPEN
                return notice(
                    _line(
                        "information_source",
                        _("Nothing is open for that connection here any more."),
                    ),
                    fallback=_("Nothing to acknowledge"),
                )
            return notice(
                _line(
                    "eyes",
                    _("Acknowledged by {who}; the alert now shows it."),
                    who=rich.person(user),
                ),
                fallback=_("Acknowledged"),
            )

        return await guarded(connection_id, lambda: audited(
            self.audit, "ack", trail.ACK, connection_id, channel, user, work
        ))  # fmt: skip

    async def _state_of(self, connection_id: str, channel: str) -> tuple[str, WatchStore]:
        """The project the connection is in and its watcher state, among those the channel sees.

        A connection no visible project has is NotFound, as any lookup of it would be: a button
        whose value was altered can touch nothing the pressing channel cannot see."""
        visible = self.context.scope(channel)
        if not is_id(connection_id):
            raise NotFound(f"{connection_id!r} is not a connection id")
        if len(self.states) == 1:
            only, state = next(iter(self.states.items()))
            if visible is not None and only not in visible:
                raise NotFound(f"connection {connection_id!r} is in no project this channel sees")
            return only, state
        alias = await self.context.directory.where(connection_id)
        if alias is None or (visible is not None and alias not in visible):
            found = await self.context.directory.lookup(connection_id, visible=visible)
            alias = found.project.alias if found.project else None
        if alias is None or alias not in self.states:
            raise NotFound(f"connection {connection_id!r} is in no project this channel sees")
        return alias, self.states[alias]

    async def _watch(self, target: str, channel: str, user: str, note: Note) -> kit.Message:
        found = await self.context.find(target, channel)
        if isinstance(found, Ambiguous):
            note.result = trail.AMBIGUOUS
            return choose_connection(found.matches, found.query, project_of=found.project_of)
        connection = found.connection
        note.connection = normalise_id(connection.id)
        note.project = found.project.alias if found.project else None
        name = rich.code(connection.name or connection.id, 80)
        if connection.is_deleted:
            note.result = trail.DELETED
            deleted = _("{name} is {status}; there is nothing left to watch.")
            return notice(
                _line("black_circle", deleted, name=name, status=[rich.shown_value(DELETED)]),
                fallback=_("That connection is deleted"),
            )
        new = await self.context.subscriptions.subscribe(
            channel, normalise_id(connection.id), connection.name, user
        )
        if not new:
            note.result = trail.ALREADY_WATCHED
            return notice(
                _line("eyes", _("{name} is already watched in this channel."), name=name),
                fallback=_("Already watched here"),
            )
        failing = len(connection.failed)
        watching = (
            _("Watching {name} in this channel (by {who}). I will post here when one of its "
              "queues or elastic resource pools turns {status}, and in the alert's thread when it "
              "recovers. {count} of its queues and pools are {status} right now; the alert "
              "follows shortly.")
            if failing
            else _("Watching {name} in this channel (by {who}). I will post here when one of its "
                   "queues or elastic resource pools turns {status}, and in the alert's thread "
                   "when it recovers.")
        )  # fmt: skip
        status = [rich.shown_value(FAILED)]
        body = _line(
            "eyes", watching, name=name, who=rich.person(user), status=status, count=str(failing)
        )
        return notice(
            body,
            fallback=_("Watching it in this channel"),
            context=[
                _(
                    "Alerts need @dliconn in this channel (`/invite @dliconn` if it is not). "
                    "Stop with `/dliconn unwatch`; see all with `/dliconn watches`."
                )
            ],
        )

    async def _unwatch(self, target: str, channel: str, note: Note) -> kit.Message:
        # No DLI call: unwatching must work while DLI is down and for deleted connections.
        subscriptions = await self.context.subscriptions.channel_subscriptions(channel)
        wanted = target.strip().lower()
        matches = [
            s
            for s in subscriptions
            if s.connection_id.lower() == wanted or s.connection_name.lower() == wanted
        ]
        if not matches:
            note.result = trail.NOT_WATCHED
            return notice(
                _line(
                    "information_source",
                    _("{name} is not watched in this channel."),
                    name=rich.code(target, 80),
                ),
                fallback=_("Not watched here"),
                context=[_("`/dliconn watches` lists what is.")],
            )
        note.connection = ", ".join(s.connection_id for s in matches)
        note.project = await self.context.directory.where(matches[0].connection_id)
        for subscription in matches:
            await self.context.subscriptions.unsubscribe(channel, subscription.connection_id)
        names = rich.joined(
            [rich.code(s.connection_name or s.connection_id, 80) for s in matches], _(", ")
        )
        return notice(
            _line("no_bell", _("Stopped watching {names} here."), names=names),
            fallback=_("Stopped watching"),
        )

    async def _watches(self, channel: str) -> kit.Message:
        # The subscriptions are ours: they are listed even while DLI cannot say how they are.
        subscriptions = await self.context.subscriptions.channel_subscriptions(channel)
        found = await lookup_many(
            self.context.directory,
            [s.connection_id for s in subscriptions],
            visible=self.context.scope(channel),
        )
        watched = [c.connection for c in found.values() if isinstance(c, Lookup)]
        missing, unknown = [], []
        for s in subscriptions:
            result = found.get(s.connection_id)
            if result is None:
                missing.append((s.connection_name, s.connection_id))
            elif isinstance(result, DliError):
                unknown.append((s.connection_name, s.connection_id))
        notes = await self._channel_notes(channel, subscriptions)
        return watches_message(
            watched,
            missing,
            unknown=unknown,
            now=self.context.clock(),
            notes=notes,
            demo=self.context.demo,
        )

    async def _channel_notes(self, channel: str, subscriptions: list[Subscription]) -> list[str]:
        notes = []
        every = self.watch_all(channel)
        if every and len(self.context.directory.projects) == 1:
            notes.append(_(":satellite: This channel receives alerts for *every* connection."))
        elif every:
            notes.append(
                _(":satellite: This channel receives alerts for *every* connection of {projects}.")
                # As code: an alias may hold `_`, which mrkdwn would read as italics.
                .format(projects=_(", ").join(f"`{alias}`" for alias in every))
            )  # fmt: skip
        if await self.context.subscriptions.is_paused(channel):
            notes.append(
                _(
                    ":pause_button: Alerts here are paused: the bot could not post (was it "
                    "removed from the channel?). Watching again resumes them."
                )
            )
        return notes


def _line(icon: str, template: str, /, **slots: rich.Pieces | str) -> rich.Pieces:
    """A notice's line: `icon`, then our (translated) sentence with its values in place."""
    return rich.icon_line(icon, rich.phrase(template, **slots))
