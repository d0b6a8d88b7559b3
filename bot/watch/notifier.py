"""Drains the outbox into Slack: per-channel pacing, Retry-After, retries, pausing dead channels.

Jobs of one channel go out in order, one at a time (an alert before the replies in its thread),
at most one per `per_channel_gap` seconds (Slack allows about one message per second per
channel). A 429 holds the channel for Retry-After; transport and server errors retry the job
with capped backoff, forever: an alert is never dropped because Slack was briefly away. A channel
the bot cannot post in any more is paused and its pending jobs dropped, instead of retrying.
Anything else a job raises (a bug, a stored incident that no longer validates) is logged and
retried with the same backoff, and the job dropped after `MAX_UNEXPECTED_FAILURES` tries, so one
poisoned job never holds up the outbox. A post Slack accepted is never sent again by this sender:
recording it survives a short Redis blip, and an answer without a ts is not retried.

With `may_post` (the lease keeper's `valid`), nothing is sent unless it holds right before the
Slack call: a holder whose lease may have passed to another replica stops posting and leaves
the job, unclaimed, to the new holder.

The client must not retry 429s itself (slack_sdk's rate-limit retry handler sleeps Retry-After
inside the call, stalling every channel's drain behind one rate-limited channel).
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Final, Literal

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.message import Message
from bot.errors import StoreUnavailable
from bot.i18n import DEFAULT_LOCALE, Locale, speaking
from bot.lookup.cache import ProjectRef
from bot.metrics import Metrics
from bot.retry import RetryPolicy, parse_retry_after
from bot.watch import messages
from bot.watch.jobs import Job
from bot.watch.state import WatchStore
from bot.watch.subscriptions import SubscriptionStore

log = logging.getLogger(__name__)

#: Errors meaning the bot can no longer post in the channel at all.
CHANNEL_ERRORS: Final = frozenset(
    {"channel_not_found", "not_in_channel", "is_archived", "channel_is_archived"}
)
_TRANSIENT_ERRORS: Final = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"}
)
_DEFAULT_BACKOFF: Final = RetryPolicy(attempts=1_000_000, base=1.0, cap=300.0)
#: Why a post was given up on (the dliconn_watch_posts_dropped label): Slack refuses it for
#: good, a bug after the last try, a channel the bot cannot post in any more, or one the
#: guardrails keep its posts out of.
Dropped = Literal["refused", "unexpected", "channel", "guardrails"]
#: Tries at an unexpected failure before the job is dropped.
MAX_UNEXPECTED_FAILURES: Final = 5
#: Recording a post: up to 5 tries within about 3 s, to ride out a Redis failover or blip.
RECORD_RETRY: Final = RetryPolicy(attempts=5, base=0.2, cap=1.6)


class _Drop(Exception):
    """The job has nothing left to do (its alert was never posted, or is gone)."""


class _NotHolder(Exception):
    """This sender may no longer post: the job goes back to the outbox as it was."""


class ChannelPacing:
    """When each channel may get its next post. One per process, shared by every project's
    sender: Slack's one message per second per channel counts the bot's posts, not a project's.
    """

    def __init__(self) -> None:
        self.free_at: dict[str, float] = {}


class Notifier:
    def __init__(
        self,
        slack: AsyncWebClient,
        store: WatchStore,
        subscriptions: SubscriptionStore,
        *,
        per_channel_gap: float = 1.0,
        claim_ttl: float = 60.0,
        backoff: RetryPolicy | None = None,
        record_retry: RetryPolicy = RECORD_RETRY,
        metrics: Metrics | None = None,
        may_post: Callable[[], bool] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        pacing: ChannelPacing | None = None,
        project: ProjectRef | None = None,
        can_test: Callable[[str], bool] | None = None,
        locale_of: Callable[[str], Locale] | None = None,
        refuses: Callable[[str], Awaitable[str | None]] | None = None,
    ) -> None:
        self._slack = slack
        self._store = store
        self._subscriptions = subscriptions
        self._gap = per_channel_gap
        self._claim_ttl = claim_ttl
        self._backoff = backoff or _DEFAULT_BACKOFF
        self._record_retry = record_retry
        self._metrics = metrics
        self._may_post = may_post or (lambda: True)
        self._refuses = refuses
        self._clock = clock
        self._wall = wall_clock
        self._rng = rng or random.Random()
        self._token = uuid.uuid4().hex
        self._channel_free_at = (pacing or ChannelPacing()).free_at
        self._project = project
        self._can_test = can_test or (lambda channel: False)
        self._locale_of = locale_of or (lambda channel: DEFAULT_LOCALE)
        # In memory: a restart grants a poisoned job a few more tries, which is harmless.
        self._unexpected: dict[str, int] = {}

    async def drain(self) -> float:
        """Send every job that may go now (one per channel); seconds until the next may go."""
        jobs = await self._store.pending()
        paused = await self._subscriptions.paused()
        if self._unexpected:  # forget jobs finished elsewhere
            queued = {job.id for job in jobs}
            self._unexpected = {i: n for i, n in self._unexpected.items() if i in queued}
        wait = math.inf
        visited: set[str] = set()
        for job in jobs:
            if not self._may_post():
                return min(wait, self._gap)
            if job.channel in visited:
                continue  # head of line: a channel's later jobs wait for its first
            visited.add(job.channel)
            if job.channel in paused:
                dropped = await self._store.drop_channel(job.channel)
                log.info("dropped %d job(s) for paused channel %s", dropped, job.channel)
                self._dropped("channel", dropped)
                continue
            ready_in = max(
                job.not_before - self._wall(),
                self._channel_free_at.get(job.channel, 0.0) - self._clock(),
            )
            if ready_in > 0:
                wait = min(wait, ready_in)
                continue
            if not await self._store.claim(job.id, self._token, self._claim_ttl):
                wait = min(wait, self._gap)  # another sender has it; look again soon
                continue
            # Reserved before the post: another project's sender may look at this channel
            # while the post is under way (the pacing is shared).
            self._channel_free_at[job.channel] = self._clock() + self._gap
            rule = await self._refusing(job.channel)
            if rule is not None:
                # A channel that became shared with another organisation after it was watched:
                # no connection data goes there. Nothing is paused: when it is unshared, or the
                # guardrails change, its next alert goes out.
                log.warning("not posting in %s: %s refuses it", job.channel, rule)
                self._dropped("guardrails", await self._store.drop_channel(job.channel))
                continue
            try:
                await self._send(job)
            except StoreUnavailable:
                raise  # the outbox itself is unavailable: the send loop backs off
            except Exception:  # noqa: BLE001 - a bug in one job must not stop the others' sends
                await self._failed_unexpectedly(job)
            wait = min(wait, max(self._gap, 0.0))
        return wait

    async def _send(self, job: Job) -> None:
        try:
            ts = await self._deliver(job)
        except _Drop as reason:
            log.info("outbox job %s dropped: %s", job.id, reason)
            await self._store.finish(job)
        except _NotHolder:
            log.info("lease not surely held any more: job %s left for its next holder", job.id)
            await self._store.retry_later(job)
        except SlackApiError as exc:
            await self._api_error(job, exc)
        except (SlackClientError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.warning("Slack unreachable for job %s: %s", job.id, type(exc).__name__)
            self._count(job, "transport")
            await self._retry(job)
        else:
            self._channel_free_at[job.channel] = self._clock() + self._gap
            self._unexpected.pop(job.id, None)
            await self._record_posted(job, ts)

    async def _record_posted(self, job: Job, ts: str | None) -> None:
        """Finish a job Slack accepted. Left in the outbox, it would be posted again once its
        claim expires, so a store error here is retried before it is given up on."""
        for attempt in range(1, self._record_retry.attempts + 1):
            try:
                await self._store.finish(job, posted_ts=ts)
                return
            except StoreUnavailable as exc:
                if attempt == self._record_retry.attempts:
                    log.error(
                        "outbox job %s was posted (ts %s) but cannot be recorded (%s): "
                        "it will be posted again when its claim expires",
                        job.id,
                        ts,
                        exc,
                    )
                    raise
                await asyncio.sleep(self._record_retry.delay(attempt, None, self._rng))

    async def _failed_unexpectedly(self, job: Job) -> None:
        failures = self._unexpected.get(job.id, 0) + 1
        log.exception(
            "outbox job %s failed unexpectedly (try %d of %d)",
            job.id,
            failures,
            MAX_UNEXPECTED_FAILURES,
        )
        if failures < MAX_UNEXPECTED_FAILURES:
            self._unexpected[job.id] = failures
            await self._retry(job)
            return
        self._unexpected.pop(job.id, None)
        log.error("outbox job %s dropped after %d unexpected failures", job.id, failures)
        await self._store.finish(job)
        self._dropped("unexpected")

    async def _deliver(self, job: Job) -> str | None:
        match job.kind:
            case "alert":
                if await self._store.alert_ts(job.incident_id, job.channel) is not None:
                    raise _Drop("already posted")
                message = await self._render_alert(job)
                return await self._post(job, message)
            case "refresh":
                ts = await self._thread(job)
                message = await self._render_alert(job)
                self._fence()
                await self._slack.chat_update(
                    channel=job.channel, ts=ts, text=message.text, blocks=message.blocks
                )
                return None
            case "reply":
                ts = await self._thread(job)
                return await self._post(job, Message(job.text, job.blocks), thread_ts=ts)
            case "notice":
                return await self._post(job, Message(job.text, job.blocks))
        raise _Drop(f"unknown job kind {job.kind!r}")  # pragma: no cover - Literal-checked

    async def _thread(self, job: Job) -> str:
        ts = await self._store.alert_ts(job.incident_id, job.channel)
        if ts is None:  # muted, or never posted: nothing to reply to or update
            raise _Drop(f"no alert for incident {job.incident_id} in {job.channel}")
        return ts

    async def _render_alert(self, job: Job) -> Message:
        incident = await self._store.incident(job.incident_id)
        if incident is None:
            raise _Drop(f"incident {job.incident_id} is no longer stored")
        acked = await self._store.acknowledged_by(job.incident_id, job.channel)
        with speaking(self._locale_of(job.channel)):
            return messages.alert_message(
                incident,
                acknowledged_by=acked,
                project=self._project,
                can_test=self._can_test(job.channel),
            )

    def _fence(self) -> None:
        """Right before a Slack call: the reads before it may have outlasted the lease."""
        if not self._may_post():
            raise _NotHolder

    async def _post(
        self, job: Job, message: Message, *, thread_ts: str | None = None
    ) -> str | None:
        extra: dict[str, Any] = {"thread_ts": thread_ts} if thread_ts else {}
        self._fence()
        response = await self._slack.chat_postMessage(
            channel=job.channel,
            text=message.text,
            blocks=message.blocks,
            unfurl_links=False,
            unfurl_media=False,
            **extra,
        )
        ts = response.get("ts")
        if not isinstance(ts, str) or not ts:
            # Posted all the same: sending it again would duplicate it. An alert without a ts
            # gets no thread replies or updates.
            log.error("Slack accepted outbox job %s but answered without a ts", job.id)
            return None
        return ts

    async def _api_error(self, job: Job, exc: SlackApiError) -> None:
        response = exc.response
        error = str(response.get("error", "")) if isinstance(response.data, dict) else ""
        status = int(response.status_code)
        self._count(job, error or str(status))
        if status == 429 or error == "ratelimited":
            raw = response.headers.get("Retry-After") if response.headers else None
            retry_after = parse_retry_after(raw if isinstance(raw, str) else None)
            wait = retry_after if retry_after is not None else 1.0
            log.info("Slack rate-limited %s: waiting %.1fs", job.channel, wait)
            self._channel_free_at[job.channel] = self._clock() + wait
            await self._store.retry_later(job)
        elif error in CHANNEL_ERRORS:
            log.warning("cannot post in %s (%s): pausing its subscriptions", job.channel, error)
            await self._subscriptions.pause(job.channel, error)
            self._dropped("channel", await self._store.drop_channel(job.channel))
        elif error in _TRANSIENT_ERRORS or status >= 500:
            log.warning("Slack %s for job %s: will retry", error or status, job.id)
            await self._retry(job)
        else:
            # invalid_blocks, message_not_found, ...: sending it again would fail the same way.
            log.error("Slack refused job %s (%s): dropping it", job.id, error or status)
            await self._store.finish(job)
            self._dropped("refused")

    async def _retry(self, job: Job) -> None:
        attempts = job.attempts + 1
        delay = self._backoff.delay(attempts, None, self._rng)
        later = job.model_copy(update={"attempts": attempts, "not_before": self._wall() + delay})
        await self._store.retry_later(later)

    async def _refusing(self, channel: str) -> str | None:
        """The guardrails' rule that keeps posts out of `channel`, asked only for a job that is
        due and claimed; None when none refuses, or when asking fails (an alert is not
        swallowed by a bug in asking)."""
        if self._refuses is None:
            return None
        try:
            return await self._refuses(channel)
        except Exception:  # broad: one channel's check must not stop every channel's posts
            log.exception("could not ask the guardrails about %s: posting", channel)
            return None

    def _dropped(self, reason: Dropped, count: int = 1) -> None:
        if self._metrics is not None and count:
            self._metrics.watch_posts_dropped.labels(reason=reason).inc(count)

    def _count(self, job: Job, error: str) -> None:
        if self._metrics is not None:
            method = "chat.update" if job.kind == "refresh" else "chat.postMessage"
            self._metrics.slack_errors.labels(method=method, error=error).inc()


async def sleep_until(stop: asyncio.Event, wake: asyncio.Event | None, seconds: float) -> None:
    """Wait `seconds`, or less when `stop` (or `wake`) is set."""
    waiters = [asyncio.ensure_future(stop.wait())]
    if wake is not None:
        waiters.append(asyncio.ensure_future(wake.wait()))
    try:
        await asyncio.wait(waiters, timeout=max(0.0, seconds), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
