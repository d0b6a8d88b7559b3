"""What every listener shares: an ack at once, tracked background work, events deduplicated."""

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

from bot.blocks.replies import error_message
from bot.chat.chatops import ChatOps
from bot.chat.replies import correlation_id
from bot.config import Settings
from bot.i18n import Locale, speaking
from bot.metrics import Metrics
from bot.policy import Request
from bot.slack.client import Responder
from bot.slack.dedupe import EventDedupe
from bot.slack.facts import Asking, Checked, Guard, asking
from bot.slack.inflight import InFlight
from bot.slack.languages import Languages

log = logging.getLogger(__name__)

#: How long an ack that carries words (a modal's input errors) waits for the reader's language.
ACK_LANGUAGE_WAIT: Final = 0.5
#: How long a reply waits for it (users.info; the answer is still cached when it comes later).
READER_LANGUAGE_WAIT: Final = 2.0

# What Bolt can hand a listener: AsyncArgs' attributes (plus the long names of req and resp).
_INJECTABLE: Final = frozenset(inspect.signature(AsyncArgs).parameters) - {"kwargs"} | {
    "request",
    "response",
}


@dataclass(frozen=True)
class Kit:
    """The engine parts a listener may call; nothing in handlers/ builds its own."""

    chat: ChatOps
    settings: Settings
    responder: Responder
    inflight: InFlight
    dedupe: EventDedupe
    metrics: Metrics
    #: The guardrails; without Slack's facts a channel's sharing is unknown (bot.policy.decide).
    guard: Guard = field(default_factory=Guard)
    #: The language of each reply (the reader's); without one, the channel's or English.
    languages: Languages = field(default_factory=Languages)
    # Strong references: the event loop keeps only weak ones to running tasks.
    _running: set[asyncio.Task[None]] = field(default_factory=set, repr=False, compare=False)

    async def check(self, request: Request, asked: Asking, *, quiet: bool = False) -> Checked:
        """The guardrails' decision; every handler asks before it looks up or changes anything."""
        return await self.guard.check(request, asked, quiet=quiet)

    async def reader_language(self, asked: Asking, wait: float = READER_LANGUAGE_WAIT) -> Locale:
        """The reader's language if Slack says it within `wait` seconds, else the channel's: a
        reply must not wait long on users.info (rate-limited, it is retried after a pause)."""
        try:
            async with asyncio.timeout(wait):
                return await self.languages.of_reader(asked)
        except TimeoutError:
            return self.languages.of_channel(asked.channel)

    def on(
        self,
        register: Callable[..., Any],
        work: Callable[..., Awaitable[None]],
        *,
        refuse: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None,
        for_reader: bool = True,
        ignore: Callable[[dict[str, Any]], bool] | None = None,
    ) -> None:
        """Register `work(kit, ...)` as background work behind an immediate, empty ack.

        `refuse(body)`, when given, runs first: the arguments it returns are the ack itself
        (a modal's `response_action="errors"`), and then no work starts. `for_reader=False`:
        `work` writes for the channel, not for who sent the event (an incident channel's
        messages, most of them never answered), so nobody's language is asked for.
        `ignore(body)`: a delivery that gets no answer at all, told apart from the payload alone;
        it is acked and nothing else is done (no dedupe claim, no task).

        The ack answers Slack at once; `work` (given this kit, then the arguments Bolt would
        inject into a listener, by name) composes and sends the reply after, in the language of
        the person who asked (`bot.slack.languages`; a post to a channel chooses its own). The
        reply is counted in flight from the ack until `work` ends, so a graceful stop, or the
        console, can wait for it.

        An Events API delivery is claimed on its `event_id` before the ack and marked done
        when `work` ends, here for every event kind: a retried delivery never answers twice,
        and one whose first attempt died is answered by Slack's later retry (bot.slack.dedupe).

        This is what Bolt's lazy listeners do, minus their deep copy of every request and their
        second round of argument injection (together a tenth of a slash command's CPU under
        load, bench/slack_commands): with process_before_response the request is finished with
        once the ack is sent, so the work can share it.
        """
        kit, inflight, running, responder = self, self.inflight, self._running, self.responder
        arg_names = get_arg_names_of_callable(work)[1:]
        unknown = set(arg_names) - _INJECTABLE
        if unknown:
            raise TypeError(f"{work.__name__} asks for {sorted(unknown)}, which Bolt never injects")

        async def run(
            kwargs: dict[str, Any], asked: Asking, response_url: str | None, event_id: str | None
        ) -> None:
            # Until Slack says the reader's language, the channel's (for an error about that).
            locale = kit.languages.of_channel(asked.channel)
            try:
                # The channel's facts are asked for meanwhile: the work's first step is the
                # guardrails' check, and the two Slack calls must not wait one for the other
                # (a button opening a modal has 3 s for both and the lookup).
                warming = kit.guard.warming(asked)
                if for_reader:
                    locale = await kit.reader_language(asked, READER_LANGUAGE_WAIT)
                if warming is not None:
                    await warming
                with speaking(locale):
                    await work(kit, **kwargs)
                if event_id is not None:
                    await kit.dedupe.finish(event_id)
            except Exception:  # broad: the net for a bug in background work
                # The features answer every expected failure themselves. The person still hears
                # that something broke, with the reference in the log.
                ref = correlation_id()
                log.exception("unexpected error [ref %s] in %s", ref, work.__name__)
                if response_url:
                    try:
                        with speaking(locale):  # it goes to the person only: in their language
                            message = error_message("unexpected", correlation_id=ref)
                        await responder(
                            response_url, message, response_type="ephemeral",
                            replace_original=False,
                        )  # fmt: skip
                    except Exception:  # broad: the bug is logged; nothing may escape the task
                        log.exception("could not tell the user about error [ref %s]", ref)
            finally:
                inflight.end()

        async def ack_and_start(args: AsyncArgs) -> None:
            body = args.body if isinstance(args.body, dict) else {}
            if ignore is not None and ignore(body):
                await args.ack()
                return
            event_id = event_id_of(body)
            if event_id is not None and not await kit.dedupe.claim(event_id):
                # 200, not an error: anything else makes Slack deliver the duplicate again.
                await args.ack()
                return
            refusal = None
            if refuse is not None:
                # The errors beside a modal's inputs, in the reader's language (cached since the
                # click that opened it), if Slack says it soon enough for the ack.
                with speaking(await kit.reader_language(asking(body), ACK_LANGUAGE_WAIT)):
                    refusal = refuse(body)
            if refusal is not None:
                await args.ack(**refusal)
                return
            kwargs = {name: getattr(args, name) for name in arg_names}
            response_url = body.get("response_url")
            inflight.begin()
            try:
                await args.ack()
            finally:
                # Started whatever happens in ack(), as a lazy listener would be.
                url = response_url if isinstance(response_url, str) else None
                task = asyncio.create_task(
                    run(kwargs, asking(body), url, event_id), name=f"dliconn-{work.__name__}"
                )
                running.add(task)
                task.add_done_callback(running.discard)

        register(ack_and_start)


def event_id_of(body: dict[str, Any]) -> str | None:
    """The Events API envelope's globally unique id; None for commands and interactions."""
    event_id = body.get("event_id") if body.get("type") == "event_callback" else None
    return event_id if isinstance(event_id, str) else None


async def ack_now(ack: AsyncAck) -> None:
    """An empty ack, for buttons that need no work (a URL button)."""
    await ack()


def channel_of(body: dict[str, Any]) -> str:
    return str((body.get("channel") or {}).get("id") or body.get("channel_id") or "")


def user_of(body: dict[str, Any]) -> str:
    return str((body.get("user") or {}).get("id") or body.get("user_id") or "")
