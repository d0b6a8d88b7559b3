"""Watching from Slack: watch, unwatch, a channel's watches, muting and acknowledging alerts."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from bot.audit import AuditLog, MemoryAuditStore
from bot.blocks.lists import choose_connection, watches_message
from bot.blocks.message import Message
from bot.blocks.replies import about, notice
from bot.blocks.text import Pieces, code, emoji, is_user_id, joined, user, words
from bot.chat.audit import Note, audited
from bot.chat.context import ChatContext
from bot.chat.lookups import lookup_many
from bot.chat.replies import Reply, guarded
from bot.config import Verb
from bot.dli.ids import is_id, normalise_id
from bot.errors import DliError, NotFound
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
        return await guarded(target, lambda: self._audited(
            "watch", "watch", target, channel, user,
            lambda note: self._watch(target, channel, user, note),
        ))  # fmt: skip

    async def unwatch(self, target: str, *, channel: str, user: str = "") -> Reply:
        return await guarded(target, lambda: self._audited(
            "watch", "unwatch", target, channel, user,
            lambda note: self._unwatch(target, channel, note),
        ))  # fmt: skip

    async def watches(self, *, channel: str) -> Reply:
        return await guarded(None, lambda: self._watches(channel))

    async def mute(self, connection_id: str, hours: int, *, channel: str, user: str) -> Reply:
        async def work(note: Note) -> Message:
            note.project, state = await self._state_of(connection_id, channel)
            await state.mute(connection_id, channel, time.time() + hours * 3600, user)
            return notice(
                [
                    emoji("mute"),
                    words(" Alerts for "),
                    *code(connection_id, 60),
                    words(f" are muted here for {hours} h (by "),
                    *_who(user),
                    words(")."),
                ],
                fallback=f"Muted for {hours} h",
            )

        return await guarded(connection_id, lambda: self._audited(
            "mute", f"mute {hours} h", connection_id, channel, user, work
        ))  # fmt: skip

    async def acknowledge(self, connection_id: str, *, channel: str, user: str) -> Reply:
        async def work(note: Note) -> Message:
            note.project, state = await self._state_of(connection_id, channel)
            incidents = await state.acknowledge(connection_id, channel, user)
            if not incidents:
                note.result = "unchanged: nothing open"
                return notice(
                    [
                        emoji("information_source"),
                        words(" Nothing is open for that connection here any more."),
                    ],
                    fallback="Nothing to acknowledge",
                )
            return notice(
                [
                    emoji("eyes"),
                    words(" Acknowledged by "),
                    *_who(user),
                    words("; the alert now shows it."),
                ],
                fallback="Acknowledged",
            )

        return await guarded(connection_id, lambda: self._audited(
            "ack", "ack", connection_id, channel, user, work
        ))  # fmt: skip

    async def _audited(
        self,
        verb: Verb,
        action: str,
        target: str,
        channel: str,
        user: str,
        work: Callable[[Note], Awaitable[Message]],
    ) -> Message:
        return await audited(self.audit, verb, action, target, channel, user, work)

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

    async def _watch(self, target: str, channel: str, user: str, note: Note) -> Message:
        found = await self.context.find(target, channel)
        if isinstance(found, Ambiguous):
            note.result = "unchanged: the name matches several connections"
            return choose_connection(found.matches, found.query, project_of=found.project_of)
        connection = found.connection
        note.connection = normalise_id(connection.id)
        note.project = found.project.alias if found.project else None
        name = code(connection.name or connection.id, 80)
        if connection.is_deleted:
            note.result = "unchanged: deleted"
            return notice(
                about("black_circle", " ", name, " is DELETED; there is nothing left to watch."),
                fallback="That connection is deleted",
            )
        new = await self.context.subscriptions.subscribe(
            channel, normalise_id(connection.id), connection.name, user
        )
        if not new:
            note.result = "unchanged: already watched"
            return notice(
                about("eyes", " ", name, " is already watched in this channel."),
                fallback="Already watched here",
            )
        failing = len(connection.failed)
        now_line = (
            f" {failing} of its queues and pools are FAILED right now; the alert follows shortly."
            if failing
            else ""
        )
        return notice(
            [
                emoji("eyes"),
                words(" Watching "),
                *name,
                words(" in this channel (by "),
                *_who(user),
                words(
                    "). I will post here when one of its queues or elastic resource pools turns "
                    f"FAILED, and in the alert's thread when it recovers.{now_line}"
                ),
            ],
            fallback="Watching it in this channel",
            context=[
                "Alerts need @dliconn in this channel (`/invite @dliconn` if it is not). "
                "Stop with `/dliconn unwatch`; see all with `/dliconn watches`."
            ],
        )

    async def _unwatch(self, target: str, channel: str, note: Note) -> Message:
        # No DLI call: unwatching must work while DLI is down and for deleted connections.
        subscriptions = await self.context.subscriptions.channel_subscriptions(channel)
        wanted = target.strip().lower()
        matches = [
            s
            for s in subscriptions
            if s.connection_id.lower() == wanted or s.connection_name.lower() == wanted
        ]
        if not matches:
            note.result = "unchanged: not watched here"
            return notice(
                about(
                    "information_source", " ", code(target, 80), " is not watched in this channel."
                ),
                fallback="Not watched here",
                context=["`/dliconn watches` lists what is."],
            )
        note.connection = ", ".join(s.connection_id for s in matches)
        note.project = await self.context.directory.where(matches[0].connection_id)
        for subscription in matches:
            await self.context.subscriptions.unsubscribe(channel, subscription.connection_id)
        names = joined([code(s.connection_name or s.connection_id, 80) for s in matches], ", ")
        return notice(
            about("no_bell", " Stopped watching ", names, " here."),
            fallback="Stopped watching",
        )

    async def _watches(self, channel: str) -> Message:
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
        if every:
            of = "" if len(self.context.directory.projects) == 1 else " of " + ", ".join(every)
            notes.append(f":satellite: This channel receives alerts for *every* connection{of}.")
        if await self.context.subscriptions.is_paused(channel):
            notes.append(
                ":pause_button: Alerts here are paused: the bot could not post (was it removed "
                "from the channel?). Watching again resumes them."
            )
        return notes


def _who(user_id: str) -> Pieces:
    """The person who clicked or typed: Slack gives their user id, mentioned on purpose."""
    return [user(user_id)] if is_user_id(user_id) else code(user_id, 40)
