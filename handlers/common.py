"""What every listener shares: ack at once, compose the reply in the background, tracked."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

from slack_bolt.async_app import AsyncAck
from slack_bolt.kwargs_injection.async_args import AsyncArgs
from slack_bolt.util.utils import get_arg_names_of_callable

from bot.blocks import error_message
from bot.chatops import ChatOps, correlation_id
from bot.config import Settings
from bot.dedupe import EventDedupe
from bot.inflight import InFlight
from bot.metrics import Metrics
from bot.slack import Responder

log = logging.getLogger(__name__)

# What Bolt can hand a listener: AsyncArgs' attributes (plus the long names of req and resp).
_INJECTABLE: Final = frozenset(inspect.signature(AsyncArgs).parameters) - {"kwargs"} | {
    "request",
    "response",
}


@dataclass(frozen=True)
class Kit:
    """The engine parts a listener may call; nothing in handlers/ builds its own."""

    chatops: ChatOps
    settings: Settings
    responder: Responder
    inflight: InFlight
    dedupe: EventDedupe
    metrics: Metrics
    # Strong references: the event loop keeps only weak ones to running tasks.
    _running: set[asyncio.Task[None]] = field(default_factory=set, repr=False, compare=False)

    def on(self, register: Callable[..., Any], work: Callable[..., Awaitable[None]]) -> None:
        """Register `work` as background work behind an immediate, empty ack.

        The ack answers Slack at once; `work` (given the same arguments Bolt would inject into a
        listener) composes and sends the reply after. The reply is counted in flight from the
        ack until `work` ends, so a graceful stop, or the console, can wait for it.

        This is what Bolt's lazy listeners do, minus their deep copy of every request and their
        second round of argument injection (together a tenth of a slash command's CPU under
        load, bench/slack_commands): with process_before_response the request is finished with
        once the ack is sent, so the work can share it.
        """
        inflight, running, responder = self.inflight, self._running, self.responder
        arg_names = get_arg_names_of_callable(work)
        unknown = set(arg_names) - _INJECTABLE
        if unknown:
            raise TypeError(f"{work.__name__} asks for {sorted(unknown)}, which Bolt never injects")

        async def run(kwargs: dict[str, Any], response_url: str | None) -> None:
            try:
                await work(**kwargs)
            except Exception:  # broad: the net for a bug in background work (see below)
                # ChatOps answers every expected failure itself; this is the net for a bug. The
                # person still hears that something broke, with the reference in the log.
                ref = correlation_id()
                log.exception("unexpected error [ref %s] in %s", ref, work.__name__)
                if response_url:
                    try:
                        await responder(
                            response_url, error_message("unexpected", correlation_id=ref),
                            response_type="ephemeral", replace_original=False,
                        )  # fmt: skip
                    except Exception:  # broad: the bug is logged; nothing may escape the task
                        log.exception("could not tell the user about error [ref %s]", ref)
            finally:
                inflight.end()

        async def ack_and_start(args: AsyncArgs) -> None:
            kwargs = {name: getattr(args, name) for name in arg_names}
            response_url = args.body.get("response_url") if isinstance(args.body, dict) else None
            inflight.begin()
            try:
                await args.ack()
            finally:
                # Started whatever happens in ack(), as a lazy listener would be.
                task = asyncio.create_task(
                    run(kwargs, response_url if isinstance(response_url, str) else None),
                    name=f"dliconn-{work.__name__}",
                )
                running.add(task)
                task.add_done_callback(running.discard)

        register(ack_and_start)


async def ack_now(ack: AsyncAck) -> None:
    """An empty ack, for buttons that need no work (a URL button)."""
    await ack()


def channel_of(body: dict[str, Any]) -> str:
    return str((body.get("channel") or {}).get("id") or body.get("channel_id") or "")


def user_of(body: dict[str, Any]) -> str:
    return str((body.get("user") or {}).get("id") or body.get("user_id") or "")
