"""The App Home tab: a dashboard of the connections watched in the user's channels."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.home import refused_home_view
from bot.policy import Decision
from bot.slack.client import call_slack
from bot.slack.facts import Asking, asking
from bot.slack.kit import Kit

log = logging.getLogger(__name__)

_MAX_CHANNEL_PAGES = 10


async def _user_channels(client: AsyncWebClient, user: str) -> set[str] | None:
    """The channels `user` is in, or None when Slack will not say (e.g. a missing scope)."""
    channels: set[str] = set()
    cursor: str | None = None
    try:
        for _ in range(_MAX_CHANNEL_PAGES):
            page = await client.users_conversations(
                user=user, types="public_channel,private_channel,im", exclude_archived=True,
                limit=200, cursor=cursor,
            )  # fmt: skip
            listed: list[dict[str, Any]] = page.get("channels") or []
            channels.update(str(c["id"]) for c in listed if "id" in c)
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                break
    except SlackApiError as exc:
        log.info("users.conversations failed (%s); the Home tab shows nothing",
                 (exc.response or {}).get("error"))  # fmt: skip
        return None
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.info("users.conversations failed (%s); the Home tab shows nothing",
                 type(exc).__name__)  # fmt: skip
        return None
    return channels


async def on_home_opened(
    kit: Kit, event: dict[str, Any], client: AsyncWebClient, body: dict[str, Any] | None = None
) -> None:
    if event.get("tab", "home") != "home":
        return
    user = str(event.get("user", ""))
    asked = asking(body or {}, event)
    checked = await kit.check("list", asked)
    if not checked.allowed:
        view = refused_home_view(checked.decision)
    else:

        async def permitted(channel: str) -> Decision:
            here = Asking(channel, user, asked.user_team)
            return (await kit.check("list", here, quiet=True)).decision

        view = await kit.chat.home.view(await _user_channels(client, user), permitted=permitted)
    await call_slack(kit.metrics, "views.publish", client.views_publish, user_id=user, view=view)


def register(app: AsyncApp, kit: Kit) -> None:
    kit.on(app.event("app_home_opened"), on_home_opened)
