"""The requests Slack sends to an app (commands, events, clicks), for the console and tests."""

from __future__ import annotations

import hmac
import itertools
import json
import time
from hashlib import sha256
from typing import Any, Literal
from urllib.parse import urlencode
from uuid import uuid4

import httpx
from slack_sdk.signature import SignatureVerifier

from bot.lifecycle import Closing
from bot.local.fake_slack import APP_ID, BOT_ID, BOT_USER_ID, TEAM_ID

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
JSON_CONTENT_TYPE = "application/json"
# Nothing listens on the discard port: an app that posts to a response_url a test did not mint
# from FakeSlackApi.response_url() fails fast and locally instead of reaching the internet.
UNSET_RESPONSE_URL = "http://127.0.0.1:9/response_url/unset"
# The deprecated verification token Slack still sends; Bolt checks signatures, not this.
VERIFICATION_TOKEN = "verification-token-unused"  # noqa: S105 - a placeholder, not a secret
TEAM_DOMAIN = "fake-workspace"

_sequence = itertools.count(1)
Event = dict[str, Any]


def new_ts() -> str:
    """A unique message timestamp in Slack's "seconds.micros" form."""
    return f"{int(time.time())}.{next(_sequence):06d}"


def _trigger_id() -> str:
    return f"{next(_sequence)}.{uuid4().int % 10**12}.{uuid4().hex}"


def _user_name(user_id: str) -> str:
    return f"user-{user_id.lower()}"


def _channel_name(channel_id: str) -> str:
    return f"channel-{channel_id.lower()}"


def slash_command_body(
    text: str,
    *,
    command: str = "/dliconn",
    user_id: str = "U1",
    channel_id: str = "C1",
    team_id: str = TEAM_ID,
    response_url: str = UNSET_RESPONSE_URL,
    trigger_id: str | None = None,
) -> str:
    """The form body of a slash command, with exactly the fields Slack sends."""
    return urlencode(
        {
            "token": VERIFICATION_TOKEN,
            "team_id": team_id,
            "team_domain": TEAM_DOMAIN,
            "channel_id": channel_id,
            "channel_name": _channel_name(channel_id),
            "user_id": user_id,
            "user_name": _user_name(user_id),
            "command": command,
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": trigger_id or _trigger_id(),
        }
    )


def event_body(
    event: Event,
    *,
    event_id: str | None = None,
    team_id: str = TEAM_ID,
    api_app_id: str = APP_ID,
    ext_shared: bool = False,
) -> str:
    """The JSON envelope (`event_callback`) Slack wraps every Events API event in;
    `ext_shared` says the channel is shared with another organisation (Slack Connect)."""
    return json.dumps(
        {
            "token": VERIFICATION_TOKEN,
            "team_id": team_id,
            "api_app_id": api_app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{uuid4().hex[:10].upper()}",
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": team_id,
                    "user_id": BOT_USER_ID,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": ext_shared,
            "event_context": f"4-{uuid4().hex}",
        }
    )


def _channel_type(channel: str) -> str:
    return {"G": "group", "D": "im"}.get(channel[:1], "channel")


def app_mention_event(
    text: str,
    *,
    user: str = "U1",
    channel: str = "C1",
    ts: str | None = None,
    thread_ts: str | None = None,
) -> Event:
    """An app_mention; `text` gets the leading `<@UBOT>` Slack puts there unless it has one."""
    mention = f"<@{BOT_USER_ID}>"
    ts = ts or new_ts()
    event: Event = {
        "type": "app_mention",
        "client_msg_id": str(uuid4()),
        "user": user,
        "team": TEAM_ID,
        "text": text if mention in text else f"{mention} {text}",
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
    }
    if thread_ts is not None:
        event["thread_ts"] = thread_ts
    return event


def message_event(
    text: str,
    *,
    user: str | None = "U1",
    channel: str = "C1",
    ts: str | None = None,
    thread_ts: str | None = None,
    bot_id: str | None = None,
    subtype: str | None = None,
) -> Event:
    """A `message` event as delivered for message.channels / message.groups subscriptions.

    Pass `bot_id` (e.g. BOT_ID for the bot's own posts) and/or `subtype` ("bot_message",
    "message_changed", ...) for the variants a handler must ignore.
    """
    ts = ts or new_ts()
    event: Event = {
        "type": "message",
        "text": text,
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
        "channel_type": _channel_type(channel),
        "team": TEAM_ID,
    }
    if user is not None:
        event["user"] = user
    if bot_id is not None:
        event["bot_id"] = bot_id
        event["app_id"] = APP_ID if bot_id == BOT_ID else f"A{bot_id}"
    if subtype is not None:
        event["subtype"] = subtype
    if thread_ts is not None:
        event["thread_ts"] = thread_ts
    return event


def app_home_opened_event(user: str, *, channel: str = "D1", tab: str = "home") -> Event:
    return {
        "type": "app_home_opened",
        "user": user,
        "channel": channel,
        "tab": tab,
        "event_ts": new_ts(),
    }


def block_action_body(
    action_id: str,
    value: str,
    *,
    user_id: str = "U1",
    channel_id: str = "C1",
    message_ts: str | None = None,
    response_url: str = UNSET_RESPONSE_URL,
    container: Literal["message", "view"] = "message",
    ephemeral: bool = False,
    block_id: str = "actions",
    message: Event | None = None,
    user_team: str = TEAM_ID,
    trigger_id: str | None = None,
) -> str:
    """The form body (`payload=<JSON>`) of a button click, as Slack posts it.

    `container="view"` is a click in the App Home tab: no channel, message or response_url.
    Ephemeral messages are not echoed back by Slack, so `message` is left out for them.
    `message` is the message the button sits on (default: a bare bot message at `message_ts`).
    """
    action_ts = new_ts()
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {
            "id": user_id,
            "username": _user_name(user_id),
            "name": _user_name(user_id),
            "team_id": user_team,
        },
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id or _trigger_id(),
        "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
        "enterprise": None,
        "is_enterprise_install": False,
        "state": {"values": {}},
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": block_id,
                "text": {"type": "plain_text", "text": action_id, "emoji": True},
                "value": value,
                "action_ts": action_ts,
            }
        ],
    }
    if container == "view":
        view_id = f"V{uuid4().hex[:10].upper()}"
        payload["container"] = {"type": "view", "view_id": view_id}
        payload["view"] = {"id": view_id, "type": "home", "team_id": TEAM_ID, "blocks": []}
    else:
        ts = message_ts or (message or {}).get("ts") or new_ts()
        payload["container"] = {
            "type": "message",
            "message_ts": ts,
            "channel_id": channel_id,
            "is_ephemeral": ephemeral,
        }
        payload["channel"] = {"id": channel_id, "name": _channel_name(channel_id)}
        payload["response_url"] = response_url
        if not ephemeral:
            payload["message"] = message or {
                "type": "message",
                "user": BOT_USER_ID,
                "bot_id": BOT_ID,
                "text": "",
                "ts": ts,
                "blocks": [],
            }
    return urlencode({"payload": json.dumps(payload)})


def view_submission_body(
    view: Event, typed: dict[str, str], *, user_id: str = "U1", trigger_id: str | None = None
) -> str:
    """The form body of a modal's submission, as Slack posts it: `view` as views.open stored
    it, with `typed` (input block id -> text) as the state of its plain_text_inputs (each
    input's action id, as the bot's modals give them, is its block id)."""
    values = {
        block["block_id"]: {
            block["element"]["action_id"]: {
                "type": "plain_text_input",
                "value": typed.get(block["block_id"], block["element"].get("initial_value")),
            }
        }
        for block in view.get("blocks", [])
        if block.get("type") == "input"
    }
    state = {"values": values}
    payload = {
        "type": "view_submission",
        "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
        "user": {
            "id": user_id,
            "username": _user_name(user_id),
            "name": _user_name(user_id),
            "team_id": TEAM_ID,
        },
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id or _trigger_id(),
        # The stand-in's stored view also names the trigger that opened it; Slack's does not.
        "view": {**{k: v for k, v in view.items() if k != "trigger_id"}, "state": state},
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }
    return urlencode({"payload": json.dumps(payload)})


def body_content_type(body: str | bytes) -> str:
    """The content type Slack sends `body` with: JSON for an event, a form for the rest."""
    starts_json = (body if isinstance(body, bytes) else body.encode()).startswith(b"{")
    return JSON_CONTENT_TYPE if starts_json else FORM_CONTENT_TYPE


def signed_headers(
    body: str | bytes,
    secret: str,
    *,
    timestamp: int | None = None,
    content_type: str | None = None,
) -> dict[str, str]:
    """Slack's signature headers for `body`; the content type follows the body unless given.

    Bytes are signed as they are, as Slack signs the raw body: that is how a test sends a
    correctly signed body that is not UTF-8 (slack_sdk's signer decodes it first).
    """
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    if isinstance(body, bytes):
        if not secret:
            raise ValueError("signing needs a non-empty secret")
        base = b"v0:" + stamp.encode() + b":" + body
        signature: str | None = "v0=" + hmac.new(secret.encode(), base, sha256).hexdigest()
    else:
        signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
    if signature is None:  # only for an empty secret, which is a test bug
        raise ValueError("signing needs a non-empty secret")
    return {
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature,
        "Content-Type": content_type or body_content_type(body),
    }


class SlackSender(Closing):
    """Posts signed requests to a running app the way Slack does, including its mistakes.

    `retry_num`/`retry_reason` mark an Events API redelivery; `age` backdates the timestamp
    (360 is a 6-minute-old request Slack's verifier must refuse); `secret` overrides the
    signing secret (a wrong one must be refused).
    """

    def __init__(self, secret: str, *, timeout: float = 5.0) -> None:
        self._secret = secret
        # trust_env=False: a proxy from the environment must not intercept local test servers.
        self._client = httpx.AsyncClient(timeout=timeout, trust_env=False)

    async def post(
        self,
        url: str,
        body: str | bytes,
        *,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
        age: float = 0.0,
        secret: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        all_headers = signed_headers(body, secret or self._secret, timestamp=int(time.time() - age))
        if retry_num is not None:
            all_headers["X-Slack-Retry-Num"] = str(retry_num)
            all_headers["X-Slack-Retry-Reason"] = retry_reason
        all_headers.update(headers or {})
        content = body.encode() if isinstance(body, str) else body
        return await self._client.post(url, content=content, headers=all_headers)

    async def aclose(self) -> None:
        await self._client.aclose()
