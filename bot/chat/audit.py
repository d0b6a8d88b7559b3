"""The audit trail in chat: a change recorded once with its outcome (`audited`), and
`/dliconn audit [N]`, the channel's last recorded changes (who watched, muted, acknowledged,
tested)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.audit import (
    FAILED_NOT_FOUND,
    FAILED_STORE,
    FAILED_UNEXPECTED,
    OK,
    AuditEntry,
    AuditLog,
    failed_dli,
    shown,
)
from bot.blocks.guardrails import audit_message
from bot.blocks.message import Message
from bot.chat.replies import Reply, guarded_privately
from bot.config import Verb
from bot.errors import DliError, NotFound, StoreUnavailable


@dataclass
class Note:
    """What a change did, filled in as it goes, for its audit entry."""

    connection: str
    project: str | None = None
    result: str = OK


async def audited(
    log: AuditLog,
    verb: Verb,
    action: str,
    target: str,
    channel: str,
    user: str,
    work: Callable[[Note], Awaitable[Message]],
) -> Message:
    """`work`, recorded once in the audit trail with its outcome, whatever it is."""
    note = Note(target)
    try:
        return await work(note)
    except BaseException as exc:  # cancelled too: a change cut off did not end "ok"
        note.result = failure(exc)
        raise
    finally:
        await log.record(
            AuditEntry(
                at=time.time(), user=user, channel=channel, verb=verb, action=action,
                connection=note.connection, project=note.project, result=note.result,
            )
        )  # fmt: skip


def failure(exc: BaseException) -> str:
    """An audit entry's result for a change that raised `exc` (or was cancelled)."""
    if isinstance(exc, NotFound):
        return FAILED_NOT_FOUND
    if isinstance(exc, DliError):
        return failed_dli(exc.kind)
    if isinstance(exc, StoreUnavailable):
        return FAILED_STORE
    return FAILED_UNEXPECTED


@dataclass(frozen=True)
class AuditTrail:
    log: AuditLog

    async def recent(self, channel: str, count: int) -> Reply:
        async def work() -> Message:
            entries = await self.log.recent(channel, count)
            return audit_message(channel, [shown(e) for e in entries], asked=count)

        return await guarded_privately(None, work)  # it names people
