"""`/dliconn test` and the "Test connectivity" button: DLI's test from a bound queue to an address.

The connection is found within the channel's scope first (one it cannot see is "not found", so
a forged button value tests nothing), the queue must be bound to it, and the test runs through
that connection's project's client: start, then poll while DLI answers CHECKING, within a bound.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from bot.blocks.actions import TEST_ADDRESS_INPUT, TEST_QUEUE_INPUT
from bot.blocks.conntest import (
    VALUE_SEPARATOR,
    conntest_modal,
    conntest_result,
    dli_refused,
    not_allowed,
    not_bound,
)
from bot.blocks.lists import choose_connection
from bot.blocks.message import Message
from bot.blocks.replies import error_message
from bot.chat.context import ChatContext
from bot.chat.replies import Reply, guarded
from bot.dli.ids import is_id, normalise_id
from bot.dli.models import CHECKING, ConnectivityResult, ConnectivityTask, Fetched
from bot.dli.targets import address_problem, is_queue_name
from bot.errors import DliError, NotFound, StoreUnavailable
from bot.lookup.cache import Lookup
from bot.lookup.finder import Ambiguous

#: The verb a channel's `allow` must name (bot.config.Verb).
VERB: Final = "test"
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
        return "a queue name is letters, digits, _ and - (at most 128 characters)"
    return address_problem(address)


def submission_errors(values: Mapping[str, Any]) -> dict[str, str] | None:
    """The modal's inputs' errors by block id, for Slack to show beside them; None when fine."""
    queue, address = submitted(values)
    errors = {}
    if not is_queue_name(queue):
        errors[TEST_QUEUE_INPUT] = "Letters, digits, _ and - only (at most 128)."
    problem = address_problem(address)
    if problem is not None:
        errors[TEST_ADDRESS_INPUT] = problem[0].upper() + problem[1:] + "."
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
    #: The verbs a channel may use (its `allow`, or the defaults, which leave `test` out).
    allowed_verbs: Callable[[str], Sequence[str]]
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    polls: int = POLLS
    interval: float = POLL_INTERVAL

    def refusal(self, channel: str) -> Reply | None:
        """The refusal when the channel may not run tests; None when it may.

        MERGE: the guardrails' policy decision (bot/policy.py) replaces this check: one call.
        """
        if VERB in self.allowed_verbs(channel):
            return None
        return Reply(not_allowed(channel), shareable=False)

    async def test(
        self, target: str, queue: str, address: str, *, channel: str, user: str
    ) -> Reply:
        """The whole answer to `/dliconn test <id-or-name> <queue> <host:port>`."""
        refused = self.refusal(channel)
        if refused is not None:
            return refused
        problem = input_problem(queue, address)
        if problem is not None:
            return Reply(error_message("bad_input", subject=problem, hint=None), shareable=False)
        return await guarded(target, lambda: self._test(target, queue, address, channel, user))

    async def form(self, value: str, *, origin: Origin) -> Form | Reply:
        """The modal for a button whose value is "<connection_id>|<queue>", or why not."""
        refused = self.refusal(origin.channel)
        if refused is not None:
            return refused
        connection_id, _, queue = value.partition(VALUE_SEPARATOR)
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
        self, target: str, queue: str, address: str, channel: str, user: str
    ) -> Message:
        found = await self.context.find(target, channel)
        if isinstance(found, Ambiguous):
            return choose_connection(found.matches, found.query, project_of=found.project_of)
        connection = found.connection
        # Queues only: DLI's test runs from a queue; an elastic resource pool is not one.
        bound = {q.name: q for q in connection.available_queue_info}
        if queue not in bound:
            return not_bound(connection, queue, list(bound))
        alias = found.project.alias if found.project else next(iter(self.clients))
        client = self.clients[alias]
        try:
            created = await client.create_connectivity_task(queue, address)
            task_id = created.value.task_id
            request_id, waited = created.request_id, 0.0
            connectivity = CHECKING
            for _ in range(self.polls):
                # DLI has only just started: there is nothing to read before the first wait.
                await self.sleep(self.interval)
                waited += self.interval
                polled = await client.show_connectivity_task(queue, task_id)
                request_id, connectivity = polled.request_id, polled.value.connectivity
                if connectivity.upper() != CHECKING:
                    break
        except NotFound as exc:
            # The connection was found: what DLI does not know is the queue (or the task).
            return dli_refused(queue, _reason(exc), exc.code, exc.request_id)
        except DliError as exc:
            if exc.kind != DliError.kind:  # throttled, unreachable, …: explained as usual
                raise
            return dli_refused(queue, _reason(exc), exc.code, exc.request_id)
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
        )


def _reason(exc: DliError) -> str:
    """DLI's own message from the error (the part after our summary)."""
    summary, colon, detail = exc.message.partition(": ")
    return detail if colon else summary


def _raise(exc: DliError | StoreUnavailable) -> Callable[[], Awaitable[Message]]:
    """Work that fails with `exc`: so that `guarded` words a failure already caught."""

    async def work() -> Message:
        raise exc

    return work
