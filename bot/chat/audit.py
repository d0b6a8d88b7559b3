"""`/dliconn audit [N]`: the channel's last recorded changes (who watched, muted, acknowledged)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.audit import AuditLog
from bot.blocks.guardrails import audit_message
from bot.blocks.message import Message
from bot.chat.replies import Reply, guarded


@dataclass(frozen=True)
class AuditTrail:
    log: AuditLog

    async def recent(self, channel: str, count: int) -> Reply:
        async def work() -> Message:
            return audit_message(channel, await self.log.recent(channel, count), asked=count)

        reply = await guarded(None, work)
        # Never shared in the channel: it names people.
        return Reply(reply.message, shareable=False)
