"""`/dliconn test` and the "Test connectivity" button: DLI's test from a bound queue to an address.

Who may run it is the guardrails' decision (verb `test`), asked by the handlers first. Then the
connection is found within the channel's scope (one it cannot see is "not found", so a forged
button value tests nothing), the queue must be bound to it, and the test runs through that
connection's project's client: start, then poll while DLI answers CHECKING, within a bound.
Every run is recorded once in the audit trail.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from bot import audit as trail
from bot.audit import AuditLog, MemoryAuditStore
from bot.blocks.actions import TEST_ADDRESS_INPUT, TEST_QUEUE_INPUT
from bot.blocks.conntest import (
    VALUE_SEPARATOR,
    conntest_modal,
    conntest_result,
    dli_refused,
    not_bound,
)
from bot.blocks.diagnosis import diagnosed
from bot.blocks.lists import choose_connection
from bot.blocks.message import Message
from bot.blocks.replies import error_message
from bot.chat.audit import Note, audited
from bot.chat.context import ChatContext
from bot.chat.parsing import address_problem_text
from bot.chat.replies import Reply, guarded
from bot.dli.ids import is_id, normalise_id
from bot.dli.models import (
    CHECKING,
    REACHABLE,
    UNREACHABLE,
    ConnectivityResult,
    ConnectivityTask,
    Fetched,
)
from bot.dli.targets import MAX_QUEUE_CHARS, is_queue_name
from bot.errors import DliError, NotFound, StoreUnavailable, dli_detail
from bot.i18n import _
from bot.lookup.cache import Lookup
from bot.lookup.finder import Ambiguous

POLLS: Final = 10
POLL_INTERVAL: Final = 2.0


class Tester(Protocol):
    """What the feature needs of a project's DLI client (bot.dli.client.DliClient)."""

    async def create_connectivity_task(
        self, queue: str, address: str
    ) -> Fetched[ConnectivityTask]: ...

    async def show_connectivity_task(
        self, queue: str, task_id: str
    ) -> Fetched[ConnectivityResult]: ...


def input_problem(queue: str, address: str) -> str | None:
    """Why a queue and address cannot be tested (our words, never echoing them), or None."""
    if not is_queue_name(queue):
        return _("a queue name is letters, digits, _ and - (at most {max} characters)").format(
            max=MAX_QUEUE_CHARS
        )
    return address_problem_text(address)


def submission_errors(values: Mapping[str, Any]) -> dict[str, str] | None:
    """The modal's inputs' errors by block id, for Slack to show beside them; None when fine."""
    queue, address = submitted(values)
    errors = {}
    if not is_queue_name(queue):
        errors[TEST_QUEUE_INPUT] = _("Letters, digits, _ and - only (at most {max}).").format(
            max=MAX_QUEUE_CHARS
        )
    problem = address_problem_text(address)
    if problem is not None:
        errors[TEST_ADDRESS_INPUT] = _("{problem}.").format(
            problem=problem[:1].upper() + problem[1:]
        )
    return errors or None


def submitted(values: Mapping[str, Any]) -> tuple[str, str]:
    """(queue, address) as typed into the modal (`view.state.values`), stripped."""

    def typed(block: str) -> str:
        entry = (values.get(block) or {}).get(block) or {}
        return str(entry.get("value") or "").strip()

    return typed(TEST_QUEUE_INPUT), typed(TEST_ADDRESS_INPUT)


@dataclass(frozen=True)
class Origin:
    """Where a modal was opened from, carried in its private_metadata: the channel (whose scope
    the test runs in), the connection, and where the result goes (the alert's thread, else the
    card's response_url, privately)."""

    channel: str
    connection_id: str
    thread_ts: str | None = None
    response_url: str | None = None

    def dumps(self) -> str:
        fields = {"ch": self.channel, "c": self.connection_id}
        fields |= {"ts": self.thread_ts} if self.thread_ts else {}
        fields |= {"url": self.response_url} if self.response_url else {}
        return json.dumps(fields, separators=(",", ":"))

    @classmethod
    def loads(cls, raw: str) -> Origin | None:
        try:
            data = json.loads(raw)
            origin = cls(str(data["ch"]), str(data["c"]), data.get("ts"), data.get("url"))
        except (ValueError, KeyError, TypeError):
            return None
        return origin if origin.channel and origin.connection_id else None


@dataclass(frozen=True)
class Form:
    """The modal to open for a button press."""

    view: dict[str, Any]


@dataclass(frozen=True)
class ConnTest:
    context: ChatContext
    #: Each project's client, by alias (the first one serves a single-project deployment).
    clients: Mapping[str, Tester]
    #: Where every test run is recorded.
    audit: AuditLog = field(default_factory=lambda: AuditLog(MemoryAuditStore()))
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    polls: int = POLLS
    interval: float = POLL_INTERVAL

    async def test(
        self, target: str, queue: str, address: str, *, channel: str, user: str
    ) -> Reply:
        """The whole answer to `/dliconn test <id-or-name> <queue> <host:port>` (or a submitted
        modal), once the guardrails allowed it; a run is audited once, whatever its outcome."""
        problem = input_problem(queue, address)
        if problem is not None:  # nothing is run, so nothing is recorded
            return Reply(error_message("bad_input", subject=problem, hint=None), shareable=False)
        return await guarded(target, lambda: audited(
            self.audit, "test", trail.conntest_action(queue, address), target, channel, user,
            lambda note: self._test(target, queue, address, channel, user, note),
        ))  # fmt: skip

    async def form(self, value: str, *, origin: Origin) -> Form | Reply:
        """The modal for a button whose value is "<connection_id>|<queue>", or why not (the
        guardrails allowed the press already)."""
        connection_id, _sep, queue = value.partition(VALUE_SEPARATOR)
        if not is_id(connection_id):
            return Reply(error_message("not_found", subject=connection_id[:80]), shareable=False)
        try:
            # Within the channel's scope: a forged value naming a connection of a project the
            # channel cannot see is answered exactly like an unknown id.
            found = await self.context.find(connection_id, origin.channel)
        except (DliError, StoreUnavailable) as exc:  # explained as every lookup's failure is
            return await guarded(connection_id, _raise(exc))
        assert isinstance(found, Lookup)  # an id never gives a shortlist
        connection = found.connection
        cid = normalise_id(connection.id)
        with_id = Origin(origin.channel, cid, origin.thread_ts, origin.response_url)
        return Form(conntest_modal(connection, queue, metadata=with_id.dumps()))

    async def _test(
        self, target: str, queue: str, address: str, channel: str, user: str, note: Note
    ) -> Message:
        found = await self.context.find(target, channel)
        if isinstance(found, Ambiguous):
            note.result = trail.NOT_RUN_AMBIGUOUS
            return choose_connection(found.matches, found.query, project_of=found.project_of)
        connection = found.connection
        alias = found.project.alias if found.project else next(iter(self.clients))
        note.connection, note.project = normalise_id(connection.id), alias
        # Queues only: DLI's test runs from a queue; an elastic resource pool is not one.
        bound = {q.name: q for q in connection.available_queue_info}
        if queue not in bound:
            note.result = trail.NOT_BOUND
            return not_bound(connection, queue, list(bound))
        client = self.clients[alias]
        try:
            created = await client.create_connectivity_task(queue, address)
            task_id = created.value.task_id
            request_id, waited = created.request_id, 0.0
            connectivity = CHECKING
            for _poll in range(self.polls):
                # DLI has only just started: there is nothing to read before the first wait.
                await self.sleep(self.interval)
                waited += self.interval
                polled = await client.show_connectivity_task(queue, task_id)
                request_id, connectivity = polled.request_id, polled.value.connectivity
                if connectivity.upper() != CHECKING:
                    break
        except NotFound as exc:
            # The connection was found: what DLI does not know is the queue (or the task).
            note.result = trail.refused_by_dli(exc.code, not_found=True)
            return dli_refused(queue, dli_detail(exc), exc.code, exc.request_id)
        except DliError as exc:
            if exc.kind != DliError.kind:  # throttled, unreachable, …: explained as usual
                raise
            note.result = trail.refused_by_dli(exc.code, not_found=False)
            return dli_refused(queue, dli_detail(exc), exc.code, exc.request_id)
        note.result = _outcome(connectivity, task_id)
        return conntest_result(
            connection,
            found.project,
            queue=queue,
            address=address,
            connectivity=connectivity,
            task_id=task_id,
            request_id=request_id,
            user_id=user,
            waited=waited,
            queue_failed=bound[queue].is_failed,
            diagnosis=diagnosed(bound[queue].err_msg) if bound[queue].is_failed else None,
        )


def _outcome(connectivity: str, task_id: str) -> str:
    """A run's result in the audit trail: reachable, unreachable, or what DLI said."""
    word = connectivity.upper()
    if word == REACHABLE:
        return trail.REACHABLE
    if word == UNREACHABLE:
        return trail.UNREACHABLE
    if word == CHECKING:
        return trail.still_checking(task_id)
    return trail.dli_answered(connectivity)


def _raise(exc: DliError | StoreUnavailable) -> Callable[[], Awaitable[Message]]:
    """Work that fails with `exc`: so that `guarded` words a failure already caught."""

    async def work() -> Message:
        raise exc

    return work
