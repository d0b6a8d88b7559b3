"""Modal submissions: the connectivity test's modal (its inputs checked in the ack itself)."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import replace
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.actions import VIEW_TEST
from bot.blocks.guardrails import refusal
from bot.chat.conntest import Origin, submission_errors, submitted
from bot.chat.replies import Reply, for_everyone
from bot.slack.client import call_slack, message_kwargs
from bot.slack.facts import asking
from bot.slack.kit import Kit, user_of


def _values(body: dict[str, Any]) -> dict[str, Any]:
    return dict(((body.get("view") or {}).get("state") or {}).get("values") or {})


def refuse_bad_input(body: dict[str, Any]) -> dict[str, Any] | None:
    """The ack that keeps the modal open with each bad input's error beside it, or None."""
    errors = submission_errors(_values(body))
    return None if errors is None else {"response_action": "errors", "errors": errors}


async def test_submitted(kit: Kit, body: dict[str, Any], client: AsyncWebClient) -> None:
    """Run the test the modal asks for, in the channel it was opened from; post the result in
    the alert's thread, or privately where the card was."""
    view = body.get("view") or {}
    origin = Origin.loads(str(view.get("private_metadata", "")))
    if origin is None:  # only a modal we did not build has no origin
        return
    # Asked again on submission, in the channel the modal came from (a submission names none):
    # the rules, or the person's groups, may have changed while the modal was open.
    checked = await kit.check("test", replace(asking(body), channel=origin.channel))
    if checked.allowed:
        queue, address = submitted(_values(body))
        # A result for the alert's thread is for everyone there: in the channel's language.
        public = bool(origin.thread_ts)
        with for_everyone(kit.languages.of_channel(origin.channel)) if public else nullcontext():
            reply = await kit.chat.conntest.test(
                origin.connection_id, queue, address, channel=origin.channel, user=user_of(body)
            )
    else:
        reply = Reply(refusal(checked.decision), shareable=False)
    if reply.shareable and origin.thread_ts:
        await call_slack(
            kit.metrics, "chat.postMessage", client.chat_postMessage,
            channel=origin.channel, thread_ts=origin.thread_ts, **message_kwargs(reply.message),
        )  # fmt: skip
    elif origin.response_url:
        await kit.responder(
            origin.response_url, reply.message, response_type="ephemeral", replace_original=False
        )
    else:  # no response_url to answer on (it was not given): privately in the channel
        await call_slack(
            kit.metrics, "chat.postEphemeral", client.chat_postEphemeral,
            channel=origin.channel, user=user_of(body), **message_kwargs(reply.message),
        )  # fmt: skip


def register(app: AsyncApp, kit: Kit) -> None:
    kit.on(app.view(VIEW_TEST), test_submitted, refuse=refuse_bad_input)
