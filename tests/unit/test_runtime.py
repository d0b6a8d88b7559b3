"""Process lifecycles: a failed embedded watcher never blocks shutdown; watcher posts are paced;
no HTTP server without the signing secret."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler

from bot import runtime
from bot.errors import ConfigError
from bot.slack.client import make_slack_client
from tests.fakes.chat import chat_parts, chat_settings


async def test_a_crashed_embedded_watcher_is_reported_and_shutdown_goes_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def crashing(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("watcher bug")

    monkeypatch.setattr(runtime, "run_watcher", crashing)
    # None for both: the patched run_watcher never reads them.
    watcher = runtime.EmbeddedWatcher(services=None, slack=None)  # type: ignore[arg-type]
    await asyncio.sleep(0)  # let it crash

    await watcher.stop()  # does not raise

    assert any("embedded watcher" in r.getMessage() and r.exc_info for r in caplog.records)


def test_the_watchers_slack_client_leaves_429s_to_the_notifier() -> None:
    def waits_out_429s(retry_rate_limits: bool) -> bool:
        client = make_slack_client(
            "xoxb-1", "http://127.0.0.1:9/api", retry_rate_limits=retry_rate_limits
        )
        return any(isinstance(h, AsyncRateLimitErrorRetryHandler) for h in client.retry_handlers)

    assert waits_out_429s(True)
    assert not waits_out_429s(False)


async def test_no_http_server_is_built_without_the_signing_secret() -> None:
    # The web layer is the only one that verifies Slack's signature (Bolt's own is off).
    async with chat_parts(settings=chat_settings(slack_bot_token="xoxb-1")) as parts:
        with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET"):
            runtime.HttpServer(parts.settings, parts.services)
