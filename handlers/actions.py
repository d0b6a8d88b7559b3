"""Buttons on cards and alerts: Refresh, Show, Share, Watch/Unwatch, Mute, Acknowledge, console,
What to check, Test connectivity (which opens a modal; its submission is handlers/views.py)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.actions import (
    ACTION_ACK,
    ACTION_CONSOLE,
    ACTION_HISTORY,
    ACTION_REFRESH,
    ACTION_SHARE,
    ACTION_SHOW,
    ACTION_TEST,
    ACTION_UNWATCH,
    ACTION_WATCH,
    ACTION_WHAT_TO_CHECK,
    ACTION_WHAT_TO_CHECK_DOC,
    ALERT_ACTIONS,
    MUTE_ACTION_PATTERN,
)
from bot.blocks.guardrails import refusal
from bot.blocks.history import parse_cursor
from bot.chat.conntest import Origin
from bot.chat.diagnosis import what_to_check as what_to_check_view
from bot.chat.replies import Reply, for_everyone
from bot.policy import Request
from bot.slack.client import call_slack, message_kwargs
from bot.slack.facts import asking
from bot.slack.kit import Kit, ack_now, channel_of, user_of
from bot.watch.messages import MUTE_HOURS


def _is_ephemeral(body: dict[str, Any]) -> bool:
    return bool((body.get("container") or {}).get("is_ephemeral"))


def _is_alert(body: dict[str, Any]) -> bool:
    """A click on an alert (open or resolved): replacing it with a card would lose the alert."""
    return any(
        block.get("block_id") == ALERT_ACTIONS
        for block in (body.get("message") or {}).get("blocks", [])
    )


def _value(action: dict[str, Any]) -> str:
    return str(action.get("value", ""))


async def _tell(kit: Kit, body: dict[str, Any], reply: Reply) -> None:
    """A private answer to the person who clicked, leaving the message as it was."""
    await kit.responder(
        str(body.get("response_url", "")),
        reply.message,
        response_type="ephemeral",
        replace_original=False,
    )


async def _permitted(kit: Kit, body: dict[str, Any], request: Request) -> bool:
    """The policy as it is now, for the person pressing, in the channel the button is in: an
    old message cannot get round a newer rule. A refusal goes privately to the person."""
    checked = await kit.check(request, asking(body))
    if not checked.allowed:
        await _tell(kit, body, Reply(refusal(checked.decision), shareable=False))
    return checked.allowed


async def _tell_if_permitted(
    kit: Kit, body: dict[str, Any], request: Request, answer: Callable[[], Awaitable[Reply]]
) -> None:
    """`answer`'s reply, told privately, when the policy permits `request`; it is not asked
    at all otherwise."""
    if await _permitted(kit, body, request):
        await _tell(kit, body, await answer())


async def _replace(kit: Kit, body: dict[str, Any], reply: Reply) -> None:
    await kit.responder(str(body.get("response_url", "")), reply.message, replace_original=True)


async def refresh(
    kit: Kit, action: dict[str, Any], body: dict[str, Any], client: AsyncWebClient
) -> None:
    if not await _permitted(kit, body, "lookup"):
        return
    if not _is_alert(body):
        # In the clicker's language, even on a card everyone sees: they asked for it again.
        reply = await kit.chat.lookups.card(
            _value(action), ephemeral=_is_ephemeral(body), channel=channel_of(body), force=True
        )
        await _replace(kit, body, reply)
        return
    # On an alert, a fresh card goes into the alert's thread (for everyone; an error only to
    # the clicker).
    with for_everyone(kit.languages.of_channel(channel_of(body))):
        reply = await kit.chat.lookups.card(
            _value(action), ephemeral=False, channel=channel_of(body), force=True
        )
    if not reply.shareable:
        await _tell(kit, body, reply)
        return
    message = body.get("message") or {}
    await call_slack(
        kit.metrics, "chat.postMessage", client.chat_postMessage,
        channel=channel_of(body), thread_ts=message.get("thread_ts") or message.get("ts"),
        **message_kwargs(reply.message),
    )  # fmt: skip


async def show(kit: Kit, action: dict[str, Any], body: dict[str, Any]) -> None:
    if not await _permitted(kit, body, "lookup"):
        return
    reply = await kit.chat.lookups.card(
        _value(action), ephemeral=_is_ephemeral(body), channel=channel_of(body)
    )
    await _replace(kit, body, reply)


async def share(kit: Kit, action: dict[str, Any], body: dict[str, Any]) -> None:
    if not await _permitted(kit, body, "lookup"):
        return
    # The card is posted for everyone: in the channel's language (an error only to the clicker).
    with for_everyone(kit.languages.of_channel(channel_of(body))):
        reply = await kit.chat.lookups.card(
            _value(action), ephemeral=False, channel=channel_of(body)
        )
    if not reply.shareable:
        await _tell(kit, body, reply)
        return
    url = str(body.get("response_url", ""))
    if await kit.responder(url, reply.message, response_type="in_channel",
                           replace_original=False):  # fmt: skip
        # The private copy has done its job once the channel sees the card.
        await kit.responder(url, delete_original=True)


async def watch(kit: Kit, action: dict[str, Any], body: dict[str, Any]) -> None:
    await _tell_if_permitted(kit, body, "watch", lambda: kit.chat.watching.watch(
        _value(action), channel=channel_of(body), user=user_of(body)
    ))  # fmt: skip


async def unwatch(kit: Kit, action: dict[str, Any], body: dict[str, Any]) -> None:
    await _tell_if_permitted(kit, body, "watch", lambda: kit.chat.watching.unwatch(
        _value(action), channel=channel_of(body), user=user_of(body)
    ))  # fmt: skip


async def mute(kit: Kit, action: dict[str, Any], body: dict[str, Any]) -> None:
    connection_id, _, hours = _value(action).partition("|")
    # Only the durations the alert offers: an altered value cannot mute for a year.
    await _tell_if_permitted(kit, body, "mute", lambda: kit.chat.watching.mute(
        connection_id, int(hours) if hours in {str(h) for h in MUTE_HOURS} else 1,
        channel=channel_of(body), user=user_of(body),
    ))  # fmt: skip


async def acknowledge(kit: Kit, action: dict[str, Any], body: dict[str, Any]) -> None:
    await _tell_if_permitted(kit, body, "ack", lambda: kit.chat.watching.acknowledge(
        _value(action), channel=channel_of(body), user=user_of(body)
    ))  # fmt: skip


async def what_to_check(
    kit: Kit, action: dict[str, Any], body: dict[str, Any], client: AsyncWebClient
) -> None:
    """A modal with the likely cause's checklist, what the bot checked itself, and the link."""
    if not await _permitted(kit, body, "lookup"):
        return
    view = await what_to_check_view(kit.chat.lookups.context, _value(action), channel_of(body))
    await call_slack(kit.metrics, "views.open", client.views_open,
                     trigger_id=str(body.get("trigger_id", "")), view=view)  # fmt: skip


async def history(kit: Kit, action: dict[str, Any], body: dict[str, Any]) -> None:
    """A card's History (a private reply), or a history page's Older (that page replaced)."""
    if not await _permitted(kit, body, "history"):
        return
    connection_id, window, before = parse_cursor(_value(action))
    reply = await kit.chat.history.history(
        connection_id, window, channel=channel_of(body), before=before
    )
    await (_replace if before is not None else _tell)(kit, body, reply)


async def test_connectivity(
    kit: Kit, action: dict[str, Any], body: dict[str, Any], client: AsyncWebClient
) -> None:
    """Open the test's modal (the click's trigger_id lasts 3 s); the result goes to the alert's
    thread, or privately to the card's response_url."""
    if not await _permitted(kit, body, "test"):
        return
    message = body.get("message") or {}
    thread_ts = message.get("thread_ts") or message.get("ts") if _is_alert(body) else None
    origin = Origin(
        channel_of(body), "", thread_ts=thread_ts, response_url=body.get("response_url") or None
    )
    form = await kit.chat.conntest.form(_value(action), origin=origin)
    if isinstance(form, Reply):
        await _tell(kit, body, form)
        return
    await call_slack(
        kit.metrics, "views.open", client.views_open,
        trigger_id=str(body.get("trigger_id", "")), view=form.view,
    )  # fmt: skip


def register(app: AsyncApp, kit: Kit) -> None:
    kit.on(app.action(ACTION_REFRESH), refresh)
    kit.on(app.action(ACTION_SHOW), show)
    kit.on(app.action(ACTION_SHARE), share)
    kit.on(app.action(ACTION_WATCH), watch)
    kit.on(app.action(ACTION_UNWATCH), unwatch)
    kit.on(app.action(re.compile(MUTE_ACTION_PATTERN)), mute)
    kit.on(app.action(ACTION_ACK), acknowledge)
    kit.on(app.action(ACTION_HISTORY), history)
    kit.on(app.action(ACTION_TEST), test_connectivity)
    # A URL button still sends an action; Slack shows an error unless it is acknowledged.
    app.action(ACTION_CONSOLE)(ack_now)
    kit.on(app.action(ACTION_WHAT_TO_CHECK), what_to_check)
    app.action(ACTION_WHAT_TO_CHECK_DOC)(ack_now)
