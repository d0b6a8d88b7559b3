"""Lookups across DLI projects: ask every project a channel can see at once, first answer wins.

An id is asked of every visible project concurrently; the first project that has it answers
and the other requests are cancelled. "Not found" comes only when every project said so, and
names the projects that could not be asked. The project an id was found in is remembered, so
the next lookup asks only that one. A project the caller cannot see is never asked: what it
holds is, for that caller, exactly an unknown id.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from bot.dli.ids import is_id, normalise_id
from bot.errors import DliError, NotFound
from bot.lookup.cache import ConnectionLookup, Lookup, ProjectRef
from bot.lookup.finder import Ambiguous, ConnectionFinder, NameMatches, Snapshot
from bot.store import KeyValueStore, make_safe

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Where an id was last found: connection id -> project alias.
_WHERE_KEY = "where:v1:"
#: `prod/<name>` names the project; the alias rule (config.py) has no `/` in it.
QUALIFIER = "/"


@dataclass(frozen=True)
class ProjectLookups:
    """One project's read side: its cached lookup by id and its finder by name."""

    ref: ProjectRef
    lookup: ConnectionLookup
    finder: ConnectionFinder

    @property
    def alias(self) -> str:
        return self.ref.alias


class NotFoundAnywhere(NotFound):
    """No visible project has it, and some projects could not be asked (named in the text):
    `problems` maps each of those to why, a DliError kind; `unreachable` lists them."""

    def __init__(self, subject: str, searched: Sequence[str], problems: Mapping[str, str]) -> None:
        where = ", ".join(a for a in searched if a not in problems) or "no project"
        text = f"{subject} not found in {where}"
        if problems:
            text += f"; {', '.join(problems)} could not be reached"
        super().__init__(text)
        self.searched = tuple(searched)
        self.problems = dict(problems)

    @property
    def unreachable(self) -> tuple[str, ...]:
        return tuple(self.problems)


@dataclass(frozen=True)
class ProjectFailure:
    """A project whose listing could not be read just now."""

    project: ProjectRef
    error: DliError


class Directory:
    """Every configured project's lookups, asked together within what a caller may see."""

    def __init__(
        self,
        projects: Sequence[ProjectLookups],
        store: KeyValueStore,
        *,
        remember_for: float = 30 * 86400.0,
    ) -> None:
        if not projects:
            raise ValueError("at least one project is needed")
        self.projects = tuple(projects)
        self._by_alias = {p.alias: p for p in self.projects}
        self._store = make_safe(store)
        self._remember_for = remember_for

    @property
    def aliases(self) -> tuple[str, ...]:
        return tuple(self._by_alias)

    def project(self, alias: str) -> ProjectLookups | None:
        return self._by_alias.get(alias)

    def within(self, visible: Sequence[str] | None) -> list[ProjectLookups]:
        """The projects among `visible` (None: every project), in configuration order."""
        if visible is None:
            return list(self.projects)
        allowed = set(visible)
        return [p for p in self.projects if p.alias in allowed]

    # ------------------------------------------------------------------ by id

    async def lookup(
        self, connection_id: str, *, visible: Sequence[str] | None = None, force: bool = False
    ) -> Lookup:
        """One connection by id, from whichever visible project has it."""
        candidates = self.within(visible)
        key = normalise_id(connection_id)
        known = await self._remembered(key)
        if known is not None and known in {p.alias for p in candidates}:
            project = self._by_alias[known]
            try:
                return await project.lookup.lookup(key, force=force)
            except NotFound:
                # Deleted since, or the memory is older than a re-created project: ask the rest.
                candidates = [p for p in candidates if p.alias != known]
                if not candidates:
                    raise
        found = await _first(
            candidates,
            lambda p: p.lookup.lookup(key, force=force),
            subject=f"connection {connection_id.strip()[:80]!r}",
        )
        await self._remember(key, found.project)
        return found

    async def where(self, connection_id: str) -> str | None:
        """The alias of the project the id was last found in, if it is remembered."""
        if len(self.projects) == 1:
            return self.projects[0].alias
        return await self._remembered(normalise_id(connection_id))

    async def _remembered(self, key: str) -> str | None:
        if len(self.projects) == 1:
            return None
        raw = await self._store.get(_WHERE_KEY + key)
        return raw.decode() if raw else None

    async def _remember(self, key: str, project: ProjectRef | None) -> None:
        if project is not None and len(self.projects) > 1:
            await self._store.set(_WHERE_KEY + key, project.alias.encode(), ttl=self._remember_for)

    # ------------------------------------------------------------------ by name

    async def find(
        self, target: str, *, visible: Sequence[str] | None = None, force: bool = False
    ) -> Lookup | Ambiguous:
        """An id, a name, or `alias/name`: the connection, or a shortlist across projects."""
        target = target.strip()
        if is_id(target):
            return await self.lookup(target, visible=visible, force=force)
        candidates = self.within(visible)
        alias, slash, name = target.partition(QUALIFIER)
        if slash and name:
            named = [p for p in candidates if p.alias == alias.lower()]
            if not named:
                # An alias this caller cannot see reads exactly like an unknown name.
                raise NotFound(f"no connection is named {target!r}")
            return await named[0].finder.find(name, force=force)
        if len(candidates) == 1:
            return await candidates[0].finder.find(target, force=force)
        return await self._by_name(target, candidates, force=force)

    async def _by_name(
        self, name: str, candidates: Sequence[ProjectLookups], *, force: bool
    ) -> Lookup | Ambiguous:
        outcomes = await asyncio.gather(
            *(p.finder.by_name(name, force=force) for p in candidates), return_exceptions=True
        )
        exact: list[Lookup] = []
        partial: list[tuple[ProjectRef, NameMatches]] = []
        unreachable: dict[str, str] = {}  # alias -> why (a DliError kind)
        for project, outcome in zip(candidates, outcomes, strict=True):
            if isinstance(outcome, Lookup):
                exact.append(outcome)
            elif isinstance(outcome, NameMatches):
                partial.append((project.ref, outcome))
            elif isinstance(outcome, NotFound):
                continue
            elif isinstance(outcome, DliError):
                log.info("project %s could not be asked about %r: %s", project.alias, name, outcome)
                unreachable[project.alias] = outcome.kind
            else:
                raise outcome
        several = [(p, c) for p, m in partial for c in m.exact]
        if len(exact) == 1 and not several:
            return exact[0]
        choices = [(f.project or candidates[0].ref, f.connection) for f in exact] + several
        if not choices:
            choices = [(p, c) for p, m in partial for c in m.partial]
        if choices:
            return Ambiguous(
                name,
                [c for _, c in choices],
                project_of={normalise_id(c.id): p for p, c in choices},
            )
        if unreachable and len(unreachable) == len(candidates):
            raise _first_error(outcomes)
        raise NotFoundAnywhere(
            f"no connection named {name!r}", [p.alias for p in candidates], unreachable
        )

    # ------------------------------------------------------------------ listings

    async def snapshots(
        self, *, visible: Sequence[str] | None = None
    ) -> list[Snapshot | ProjectFailure]:
        """Every visible project's listing (one list call each, concurrently), or its failure."""
        candidates = self.within(visible)

        async def one(project: ProjectLookups) -> Snapshot | ProjectFailure:
            try:
                return await project.finder.snapshot()
            except DliError as exc:
                log.info("project %s could not be listed: %s", project.alias, exc)
                return ProjectFailure(project.ref, exc)

        return list(await asyncio.gather(*(one(p) for p in candidates)))


async def _first(
    candidates: Sequence[ProjectLookups],
    ask: Callable[[ProjectLookups], Awaitable[T]],
    *,
    subject: str,
) -> T:
    """The first answer among the candidates; the others are cancelled once it is in."""
    if not candidates:
        raise NotFound(f"{subject} not found")
    if len(candidates) == 1:
        return await ask(candidates[0])

    async def attempt(project: ProjectLookups) -> tuple[ProjectLookups, T | DliError]:
        try:
            return project, await ask(project)
        except DliError as exc:
            return project, exc

    pending = [asyncio.ensure_future(attempt(p)) for p in candidates]
    failures: dict[str, DliError] = {}
    try:
        for next_done in asyncio.as_completed(pending):
            project, outcome = await next_done
            if not isinstance(outcome, DliError):
                return outcome
            failures[project.alias] = outcome
    finally:
        for task in pending:
            task.cancel()
    unreachable = {
        p.alias: failures[p.alias].kind
        for p in candidates
        if not isinstance(failures[p.alias], NotFound)
    }
    if len(unreachable) == len(candidates):
        raise failures[candidates[0].alias]
    raise NotFoundAnywhere(subject, [p.alias for p in candidates], unreachable)


def _first_error(outcomes: Sequence[object]) -> BaseException:
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            return outcome
    return NotFound("not found")  # pragma: no cover - only called when every project failed
