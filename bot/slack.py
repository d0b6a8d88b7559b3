"""The Slack Web API client: configurable base URL, waits out 429s, counts and logs API errors."""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks import Message
from bot.metrics import Metrics

log = logging.getLogger(__name__)


def make_slack_client(token: str | None, base_url: str, *, retries: int = 3) -> AsyncWebClient:
    """A client that sleeps for Retry-After on 429 (slack_sdk only does this when asked)."""
    return AsyncWebClient(
        token=token,
        base_url=base_url if base_url.endswith("/") else base_url + "/",
        timeout=10,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=retries),
            AsyncRateLimitErrorRetryHandler(max_retry_count=retries),
        ],
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
