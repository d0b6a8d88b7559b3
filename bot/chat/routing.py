"""`/dliconn route`: a dry run of where one connection's alerts would go, and why."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace

from bot.blocks.lists import choose_connection
from bot.blocks.message import Message
from bot.blocks.route import RouteLine, Why, route_message
from bot.chat.context import ChatContext
from bot.chat.replies import Reply, guarded_privately
from bot.dli.ids import normalise_id
from bot.errors import DliError, dli_problem
from bot.lookup.finder import Ambiguous
from bot.watch.routes import ProjectRoutes, TagSet, each_tag_set
from bot.watch.state import WatchStore

log = logging.getLogger(__name__)

#: The ids of one project's connections that carry every tag of a tag set (a list call).
Tagged = Callable[[TagSet], Awaitable[frozenset[str]]]


@dataclass(frozen=True)
class ProjectAlerts:
    """What one project's alerts follow: its configured routes, tag lookups, its mutes."""

    routes: ProjectRoutes
    tagged: Tagged
    state: WatchStore


@dataclass(frozen=True)
class Routing:
    """`/dliconn route`: a dry run of which channels a connection's alerts would reach, and why
    (explicit watches, `watch_all`, tag routes, scopes, pauses and mutes)."""

    context: ChatContext
    projects: Mapping[str, ProjectAlerts]

    async def route(self, target: str, *, channel: str) -> Reply:
        # It names who watched and the operators' routes: for the asker only.
        return await guarded_privately(target, lambda: self._route(target, channel))

    async def _route(self, target: str, channel: str) -> Message:
        found = await self.context.find(target, channel)
        if isinstance(found, Ambiguous):
            return choose_connection(found.matches, found.query, project_of=found.project_of)
        cid = normalise_id(found.connection.id)
        alias = found.project.alias if found.project else next(iter(self.projects))
        alerts = self.projects[alias]
        routes = alerts.routes
        paused = await self.context.subscriptions.paused()
        mutes = await alerts.state.mutes(time.time())
        lines: list[RouteLine] = []
        for sub in await self.context.subscriptions.subscriptions_to(cid):
            why: Why = "watched" if routes.sees(sub.channel) else "hidden"
            lines.append(RouteLine(sub.channel, why, by=sub.user, since=sub.since))
        lines += [RouteLine(c, "watch_all") for c in sorted(routes.watch_all) if routes.sees(c)]
        unchecked: list[RouteLine] = []

        async def members(tags: TagSet) -> frozenset[str] | DliError:
            try:
                return await alerts.tagged(tags)
            except DliError as exc:
                return exc

        for tags, listed in (await each_tag_set(routes.by_tags, members)).items():
            channels = routes.by_tags[tags]
            if isinstance(listed, DliError):
                # The other routes are known without DLI's list: answer with them, and mark the
                # tag route's channels as not checked rather than answer nothing. (The watcher's
                # last listed members live in its own process, not where this answer is made.)
                log.warning("route: connections tagged %s not listed: %s", tags, listed)
                problem = dli_problem(listed.kind)
                unchecked += [
                    RouteLine(c, "unchecked", tags=tags, problem=problem) for c in sorted(channels)
                ]
            elif cid in listed:
                lines += [RouteLine(c, "tags", tags=tags) for c in sorted(channels)]
        lines += unchecked
        # One line per channel, as the watcher posts one alert to a channel however many routes
        # lead there: the first reason found (an explicit watch, then watch_all, then tags); a
        # channel some known route leads to is alerted whatever an unchecked tag route says.
        first: dict[str, RouteLine] = {}
        for line in lines:
            first.setdefault(line.channel, line)
        lines = [
            replace(
                line,
                paused=line.channel in paused,
                muted_until=(m.until if (m := mutes.get((cid, line.channel))) else None),
            )
            for line in first.values()
        ]
        return route_message(found.connection, found.project, lines)
