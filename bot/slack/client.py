"""The Slack Web API client: configurable base URL, waits out 429s, counts and logs API errors."""

from __future__ import annotations

import functools
import logging
import ssl
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.blocks.message import Message
from bot.metrics import Metrics

log = logging.getLogger(__name__)


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One verifying TLS context for every Slack call of the process.

    Without one, each session slack_sdk opens (one per Web API call) loads the system's CA
    certificates again: tens of milliseconds of CPU during which nothing else on the event loop
    runs, so a burst of calls delays every ack behind it (bench/slack_commands).
    """
    return ssl.create_default_context()


def make_slack_client(
    token: str | None, base_url: str, *, retries: int = 3, retry_rate_limits: bool = True
) -> AsyncWebClient:
    """A Slack client that retries connection errors and, unless told not to, waits out 429s.

    slack_sdk only sleeps for Retry-After when asked. The watcher asks not to: it paces its
    posts per channel itself, and a client sleeping inside one channel's post would hold up
    every other channel's alerts.
    """
    handlers: list[AsyncRetryHandler] = [AsyncConnectionErrorRetryHandler(max_retry_count=retries)]
    if retry_rate_limits:
        handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=retries))
    return AsyncWebClient(
        token=token,
        base_url=base_url if base_url.endswith("/") else base_url + "/",
        timeout=10,
        ssl=tls_context(),
        retry_handlers=handlers,
    )


def message_kwargs(message: Message) -> dict[str, Any]:
    return {"text": message.text, "blocks": message.blocks}


async def call_slack(
    metrics: Metrics | None, method: str, call: Any, /, **kwargs: Any
) -> dict[str, Any] | None:
    """Run one Web API call; an API error is logged with its code and counted, not raised.

    Replies are best effort from the caller's point of view: a failed post must not take the
    listener (or the watcher loop) down with it.
    """
    try:
        response = await call(**kwargs)
    except SlackApiError as exc:
        error = str(exc.response.get("error", "unknown")) if exc.response is not None else "unknown"
        log.warning("Slack %s failed: %s", method, error)
        if metrics:
            metrics.slack_errors.labels(method, error).inc()
        return None
    data: dict[str, Any] = dict(response.data) if isinstance(response.data, dict) else {}
    return data


class Responder:
    """Posts replies to `response_url`s through one shared HTTP session.

    Bolt's `respond()` opens a new session (and TCP connection) per reply, which under load
    costs more CPU than building the reply; sharing one keeps acks fast (bench/slack_commands).
    A failed post is logged with its status and counted, never raised into a listener.
    """

    def __init__(self, metrics: Metrics | None = None, *, timeout: int = 10) -> None:
        self._metrics = metrics
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def __call__(
        self,
        response_url: str,
        message: Message | None = None,
        *,
        response_type: str | None = None,
        replace_original: bool | None = None,
        delete_original: bool | None = None,
    ) -> bool:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        client = AsyncWebhookClient(
            response_url,
            timeout=self._timeout,
            session=self._session,
            ssl=tls_context(),
            retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)],
        )
        body: dict[str, Any] = message_kwargs(message) if message else {}
        for key, value in (
            ("response_type", response_type),
            ("replace_original", replace_original),
            ("delete_original", delete_original),
        ):
            if value is not None:
                body[key] = value
        try:
            response = await client.send_dict(body)
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("response_url post failed: %s", type(exc).__name__)
            self._count_error(type(exc).__name__)
            return False
        if response.status_code != 200:
            # Slack answers 404 used_url / expired_url past 5 posts or 30 minutes.
            log.warning("response_url post failed: HTTP %s %s", response.status_code,
                        response.body[:100])  # fmt: skip
            self._count_error(str(response.status_code))
            return False
        return True

    def _count_error(self, error: str) -> None:
        if self._metrics:
            self._metrics.slack_errors.labels("response_url", error).inc()

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
