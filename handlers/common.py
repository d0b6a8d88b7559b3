"""What every listener shares: ack at once, compose the reply in the background, tracked."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ParamSpec

from slack_bolt.async_app import AsyncAck

from bot.chatops import ChatOps
from bot.config import Settings
from bot.dedupe import EventDedupe
from bot.inflight import InFlight
from bot.metrics import Metrics
from bot.slack import Responder

P = ParamSpec("P")


@dataclass(frozen=True)
class Kit:
    """The engine parts a listener may call; nothing in handlers/ builds its own."""

    chatops: ChatOps
    settings: Settings
    responder: Responder
    inflight: InFlight
    dedupe: EventDedupe
    metrics: Metrics

    def on(self, register: Callable[..., Any], work: Callable[P, Awaitable[None]]) -> None:
        """Register `work` as a lazy listener behind an immediate, empty ack.

        The ack answers Slack at once; `work` composes and sends the reply after. The reply is
        counted in flight from the ack (before `work` is even scheduled) until `work` ends, so a
        graceful stop, or the console, can wait for it.
        """
        inflight = self.inflight

        async def ack_and_hold(ack: AsyncAck) -> None:
            # Bolt starts the lazy work right after this returns, whatever happens in it.
            inflight.begin()
            await ack()

        # functools.wraps keeps the signature Bolt reads to inject arguments.
        @functools.wraps(work)
        async def release_after(*args: P.args, **kwargs: P.kwargs) -> None:
            try:
                await work(*args, **kwargs)
            finally:
                inflight.end()

        register(ack=ack_and_hold, lazy=[release_after])


async def ack_now(ack: AsyncAck) -> None:
    """An empty ack, for buttons that need no work (a URL button)."""
    await ack()


def channel_of(body: dict[str, Any]) -> str:
    return str((body.get("channel") or {}).get("id") or body.get("channel_id") or "")


def user_of(body: dict[str, Any]) -> str:
    return str((body.get("user") or {}).get("id") or body.get("user_id") or "")
