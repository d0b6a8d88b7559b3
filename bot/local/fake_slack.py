"""A local aiohttp server playing the Slack Web API and response_url (console and tests)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import uuid4

from aiohttp import web

from bot.lifecycle import LocalServer

BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
BOT_NAME = "dliconn"
TEAM_ID = "T1"
APP_ID = "A1"
RESPONSE_URL = "response_url"
# Slack lets a response_url be used five times (within 30 minutes).
RESPONSE_URL_MAX_USES = 5

# Form-encoded Web API calls carry structured arguments as JSON strings.
_JSON_FORM_FIELDS = frozenset({"blocks", "attachments", "view", "metadata", "unfurls"})
_MESSAGE_MAX_BLOCKS = 50
_VIEW_MAX_BLOCKS = 100
_FIRST_TS_SECONDS = 1_700_000_000

Payload = dict[str, Any]
CallPredicate = Callable[["SlackCall"], bool]


@dataclass(frozen=True)
class SlackCall:
    """One request the fake received and what it answered.

    `method` is the Web API method name, or "response_url" (then `url_name` names the URL).
    `body` merges query string and body; JSON strings in form fields are decoded.
    Header names are lower-cased. `time` is `time.monotonic()` when the answer was ready.
    """

    method: str
    body: Payload
    headers: dict[str, str]
    time: float
    status: int
    response: Payload | str
    url_name: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200 and (
            not isinstance(self.response, dict) or self.response.get("ok") is True
        )

    @property
    def channel(self) -> str | None:
        value = self.body.get("channel")
        return value if isinstance(value, str) else None


@dataclass
class _Fault:
    kind: Literal["fail", "rate_limit", "latency"]
    method: str
    channel: str | None
    remaining: int | None  # None: every matching call
    error: str = ""
    #: More of a failed answer, as Slack adds `needed` to a `missing_scope`.
    fields: Payload = field(default_factory=dict)
    retry_after: int = 0
    seconds: float = 0.0
    # rate_limit(enforce=True): until this monotonic time, every matching call is refused.
    refused_until: float | None = None

    def matches(self, kind: str, method: str, channel: str | None) -> bool:
        return (
            self.kind == kind
            and self.method == method
            and (self.channel is None or self.channel == channel)
            and self.remaining != 0
        )


class _ApiError(Exception):
    def __init__(self, error: str, *, detail: str | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.detail = detail


class FakeSlackApi(LocalServer):
    """Plays the Slack Web API on 127.0.0.1 (an ephemeral port) and records every request.

    Messages posted with chat.postMessage are kept, so chat.update / chat.delete of an unknown
    ts fail with `message_not_found` as on Slack, and `message()` shows a message's current state.
    """

    def __init__(
        self,
        *,
        valid_tokens: frozenset[str] | None = None,
        member_of: dict[str, list[str]] | None = None,
        usergroups: dict[str, list[str]] | None = None,
        locales: dict[str, str] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.calls: list[SlackCall] = []
        # How a latency fault waits: a test can hold answers on a gate instead of a clock.
        self._sleep = sleep
        # users.conversations: the channels each user is in (none for an unknown user).
        self.member_of: dict[str, list[str]] = member_of or {}
        # usergroups.users.list: each user group's members (an unknown group: no_such_subteam).
        self.usergroups: dict[str, list[str]] = usergroups or {}
        # users.info with include_locale: each user's Slack locale (anyone else: en-US).
        self.locales: dict[str, str] = locales or {}
        # conversations.info: fields that differ from an internal channel's, by channel id.
        self.channel_fields: dict[str, Payload] = {}
        self._valid_tokens = valid_tokens
        self._faults: list[_Fault] = []
        self._arrived = asyncio.Condition()
        self._messages: dict[tuple[str, str], Payload] = {}
        self._home_views: dict[str, Payload] = {}
        self._opened_views: list[Payload] = []
        self._response_url_uses: dict[str, int] = {}
        self._expired_response_urls: set[str] = set()
        self._ts_counter = 0

    # -- lifecycle ---------------------------------------------------------------------------

    # A test that forgot a reply must not hold its teardown for long.
    shutdown_timeout = 1.0

    def application(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/response_url/{name}", self._handle_response_url)
        return app

    @property
    def url(self) -> str:
        """The Web API base URL (ends in /api/), for `base_url` / SLACK_API_URL."""
        return f"{self.root}/api/"

    def response_url(self, name: str | None = None) -> str:
        """A response_url served by this fake; without a name, a fresh unique one."""
        return f"{self.root}/response_url/{name or uuid4().hex}"

    def expire_response_url(self, name: str) -> None:
        """Make a response_url answer as Slack does after its 30 minutes are over."""
        self._expired_response_urls.add(name)

    def share_externally(self, channel: str) -> None:
        """Make `channel` a Slack Connect channel, as conversations.info then describes it."""
        self.channel_fields.setdefault(channel, {}).update(
            {"is_shared": True, "is_ext_shared": True, "is_org_shared": False}
        )

    def direct_message(self, channel: str, user: str) -> None:
        """Make `channel` the bot's DM with `user`."""
        self.channel_fields.setdefault(channel, {}).update(
            {"is_im": True, "is_channel": False, "is_private": True, "user": user}
        )

    # -- fault injection -----------------------------------------------------------------------

    def fail(
        self,
        method: str,
        error: str = "channel_not_found",
        times: int | None = 1,
        *,
        channel: str | None = None,
        fields: Payload | None = None,
    ) -> None:
        """The next `times` calls (None: all) answer `{"ok": false, "error": error, **fields}`."""
        self._faults.append(
            _Fault("fail", method, channel, times, error=error, fields=fields or {})
        )

    def rate_limit(
        self,
        method: str,
        retry_after: int = 1,
        times: int | None = 1,
        *,
        channel: str | None = None,
        enforce: bool = False,
    ) -> None:
        """The next `times` calls answer HTTP 429 with `Retry-After: retry_after`.

        With `enforce`, as on Slack, a matching call sooner than `retry_after` seconds after a
        429 is refused again: a client that did not wait shows up as a second 429.
        """
        refused_until = 0.0 if enforce else None
        self._faults.append(
            _Fault(
                "rate_limit",
                method,
                channel,
                times,
                retry_after=retry_after,
                refused_until=refused_until,
            )
        )

    def latency(
        self, method: str, seconds: float, *, times: int | None = None, channel: str | None = None
    ) -> None:
        """Matching calls are answered `seconds` late."""
        self._faults.append(_Fault("latency", method, channel, times, seconds=seconds))

    def clear_faults(self) -> None:
        self._faults.clear()

    # -- inspection ----------------------------------------------------------------------------

    def calls_to(self, method: str, predicate: CallPredicate | None = None) -> list[SlackCall]:
        return [c for c in self.calls if c.method == method and (predicate is None or predicate(c))]

    async def wait_for(
        self,
        method: str,
        count: int = 1,
        # A deadline for an assertion, the way tests read best; not a cancellation knob.
        timeout: float = 5.0,  # noqa: ASYNC109
        predicate: CallPredicate | None = None,
    ) -> list[SlackCall]:
        """Every matching call, once at least `count` have arrived; AssertionError on timeout."""
        async with self._arrived:
            try:
                async with asyncio.timeout(timeout):
                    await self._arrived.wait_for(
                        lambda: len(self.calls_to(method, predicate)) >= count
                    )
            except TimeoutError:
                raise AssertionError(
                    self._wait_failure(method, count, timeout, predicate)
                ) from None
        return self.calls_to(method, predicate)

    def message(self, channel: str, ts: str) -> Payload | None:
        """The current state of a message the bot posted, or None (never posted or deleted)."""
        return self._messages.get((channel, ts))

    def home_view(self, user_id: str) -> Payload | None:
        return self._home_views.get(user_id)

    def opened_views(self) -> list[Payload]:
        """Every modal views.open opened, oldest first, with the trigger_id it was opened by."""
        return list(self._opened_views)

    def _wait_failure(
        self, method: str, count: int, timeout: float, predicate: CallPredicate | None
    ) -> str:
        found = len(self.calls_to(method, predicate))
        which = " matching the predicate" if predicate is not None else ""
        lines = [f"waited {timeout}s for {count} {method} call(s){which}, got {found}; received:"]
        for i, c in enumerate(self.calls, 1):
            body = _short(_without_token(c.body))
            lines.append(f"  {i}. {c.method} -> {c.status} {_short(c.response)} body={body}")
        if not self.calls:
            lines.append("  (nothing)")
        return "\n".join(lines)

    # -- HTTP ----------------------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        try:
            body = await _read_args(request)
        except ValueError:
            return await self._answer(
                method, {}, request, 200, {"ok": False, "error": "invalid_json"}
            )
        channel = body.get("channel") if isinstance(body.get("channel"), str) else None
        await self._apply_latency(method, channel)
        status, payload, headers = self._api_result(method, body, request, channel)
        return await self._answer(method, body, request, status, payload, headers)

    def _api_result(
        self, method: str, body: Payload, request: web.Request, channel: str | None
    ) -> tuple[int, Payload, dict[str, str]]:
        handler = self._methods().get(method)
        if handler is None:
            return 404, {"ok": False, "error": "unknown_method"}, {}
        auth_error = self._auth_error(request, body)
        if auth_error:
            return 200, {"ok": False, "error": auth_error}, {}
        limited = self._refusing(method, channel) or self._take_fault("rate_limit", method, channel)
        if limited is not None:
            if limited.refused_until is not None:
                limited.refused_until = time.monotonic() + limited.retry_after
            retry = {"Retry-After": str(limited.retry_after)}
            return 429, {"ok": False, "error": "ratelimited"}, retry
        failed = self._take_fault("fail", method, channel)
        if failed is not None:
            return 200, {**failed.fields, "ok": False, "error": failed.error}, {}
        try:
            return 200, {"ok": True, **handler(body)}, {}
        except _ApiError as exc:
            payload: Payload = {"ok": False, "error": exc.error}
            if exc.detail:
                payload["response_metadata"] = {"messages": [exc.detail]}
            return 200, payload, {}

    async def _handle_response_url(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        await self._apply_latency(RESPONSE_URL, None)
        try:
            body = json.loads(await request.text())
        except ValueError:
            body = None
        status, answer, headers = self._response_url_result(name, body)
        recorded = body if isinstance(body, dict) else {}
        return await self._answer(RESPONSE_URL, recorded, request, status, answer, headers, name)

    def _response_url_result(
        self, name: str, body: object
    ) -> tuple[int, Payload | str, dict[str, str]]:
        limited = self._take_fault("rate_limit", RESPONSE_URL, None)
        if limited is not None:
            return 429, "rate_limited", {"Retry-After": str(limited.retry_after)}
        failed = self._take_fault("fail", RESPONSE_URL, None)
        if failed is not None:
            return 404, failed.error, {}
        if name in self._expired_response_urls:
            return 404, "expired_url", {}
        if not isinstance(body, dict):
            return 400, "invalid_payload", {}
        uses = self._response_url_uses.get(name, 0)
        if uses >= RESPONSE_URL_MAX_USES:
            return 404, "used_url", {}
        self._response_url_uses[name] = uses + 1
        return 200, {"ok": True}, {}

    async def _answer(
        self,
        method: str,
        body: Payload,
        request: web.Request,
        status: int,
        answer: Payload | str,
        headers: dict[str, str] | None = None,
        url_name: str | None = None,
    ) -> web.StreamResponse:
        call = SlackCall(
            method=method,
            body=body,
            headers={k.lower(): v for k, v in request.headers.items()},
            time=time.monotonic(),
            status=status,
            response=answer,
            url_name=url_name,
        )
        async with self._arrived:
            self.calls.append(call)
            self._arrived.notify_all()
        if isinstance(answer, str):
            return web.Response(status=status, text=answer, headers=headers)
        return web.json_response(answer, status=status, headers=headers)

    def _auth_error(self, request: web.Request, body: Payload) -> str | None:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip() if header else str(body.get("token", ""))
        if not token:
            return "not_authed"
        if self._valid_tokens is not None:
            return None if token in self._valid_tokens else "invalid_auth"
        return None if token.startswith(("xoxb-", "xoxp-")) else "invalid_auth"

    def _take_fault(self, kind: str, method: str, channel: str | None) -> _Fault | None:
        for fault in self._faults:
            if fault.matches(kind, method, channel):
                if fault.remaining is not None:
                    fault.remaining -= 1
                return fault
        return None

    def _refusing(self, method: str, channel: str | None) -> _Fault | None:
        """An enforced rate limit whose Retry-After has not passed yet for this call."""
        now = time.monotonic()
        for fault in self._faults:
            if (
                fault.kind == "rate_limit"
                and fault.method == method
                and fault.channel in (None, channel)
                and fault.refused_until is not None
                and now < fault.refused_until
            ):
                return fault
        return None

    async def _apply_latency(self, method: str, channel: str | None) -> None:
        fault = self._take_fault("latency", method, channel)
        if fault is not None:
            await self._sleep(fault.seconds)

    # -- Web API methods -----------------------------------------------------------------------

    def _methods(self) -> dict[str, Callable[[Payload], Payload]]:
        return {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "views.publish": self._views_publish,
            "views.open": self._views_open,
            "conversations.info": self._conversations_info,
            "users.info": self._users_info,
            "users.conversations": self._users_conversations,
            "usergroups.users.list": self._usergroups_users_list,
        }

    def _next_ts(self) -> str:
        self._ts_counter += 100
        seconds, micros = divmod(self._ts_counter, 1_000_000)
        return f"{_FIRST_TS_SECONDS + seconds}.{micros:06d}"

    def _auth_test(self, _: Payload) -> Payload:
        return {
            "url": "https://fake-workspace.slack.com/",
            "team": "Fake Workspace",
            "user": BOT_NAME,
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, args: Payload) -> Payload:
        channel = _require_channel(args)
        _require_content(args, _MESSAGE_MAX_BLOCKS)
        ts = self._next_ts()
        message: Payload = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": TEAM_ID,
            "text": args.get("text", ""),
            "ts": ts,
            **_content_fields(args),
        }
        if args.get("thread_ts"):
            message["thread_ts"] = str(args["thread_ts"])
        self._messages[(channel, ts)] = message
        return {"channel": channel, "ts": ts, "message": dict(message)}

    def _chat_post_ephemeral(self, args: Payload) -> Payload:
        _require_channel(args)
        if not args.get("user"):
            raise _ApiError("user_not_in_channel")
        _require_content(args, _MESSAGE_MAX_BLOCKS)
        return {"message_ts": self._next_ts()}

    def _chat_update(self, args: Payload) -> Payload:
        channel = _require_channel(args)
        message = self._messages.get((channel, str(args.get("ts", ""))))
        if message is None:
            raise _ApiError("message_not_found")
        _require_content(args, _MESSAGE_MAX_BLOCKS)
        message.update({"text": args.get("text", message.get("text", "")), **_content_fields(args)})
        message["edited"] = {"user": BOT_USER_ID, "ts": self._next_ts()}
        return {
            "channel": channel,
            "ts": message["ts"],
            "text": message["text"],
            "message": message,
        }

    def _chat_delete(self, args: Payload) -> Payload:
        channel = _require_channel(args)
        ts = str(args.get("ts", ""))
        if self._messages.pop((channel, ts), None) is None:
            raise _ApiError("message_not_found")
        return {"channel": channel, "ts": ts}

    def _views_publish(self, args: Payload) -> Payload:
        user_id, view = args.get("user_id"), args.get("view")
        if not isinstance(user_id, str) or not user_id or not isinstance(view, dict):
            raise _ApiError("invalid_arguments")
        if view.get("type") != "home":
            raise _ApiError("invalid_arguments", detail="views.publish needs a view of type home")
        _check_blocks(view.get("blocks", []), _VIEW_MAX_BLOCKS)
        published = _stored_view({"private_metadata": "", "callback_id": "", **view})
        self._home_views[user_id] = published
        return {"view": published}

    def _views_open(self, args: Payload) -> Payload:
        trigger_id, view = args.get("trigger_id"), args.get("view")
        if not isinstance(trigger_id, str) or not trigger_id:
            raise _ApiError("invalid_arguments", detail="views.open needs a trigger_id")
        if isinstance(view, str):  # slack_sdk sends the view as JSON text in a form body
            view = json.loads(view)
        if not isinstance(view, dict) or view.get("type") != "modal":
            raise _ApiError("invalid_arguments", detail="views.open needs a view of type modal")
        title = view.get("title")
        if not isinstance(title, dict) or not 0 < len(str(title.get("text", ""))) <= 24:
            raise _ApiError("invalid_arguments", detail="a modal's title is 1 to 24 characters")
        _check_blocks(view.get("blocks", []), _VIEW_MAX_BLOCKS)
        opened = {**_stored_view(view), "trigger_id": trigger_id}
        self._opened_views.append(opened)
        return {"view": {k: v for k, v in opened.items() if k != "trigger_id"}}

    def _conversations_info(self, args: Payload) -> Payload:
        channel = _require_channel(args)
        return {
            "channel": {
                "id": channel,
                "name": f"channel-{channel.lower()}",
                "is_channel": channel.startswith("C"),
                "is_group": channel.startswith("G"),
                "is_im": channel.startswith("D"),
                "is_private": not channel.startswith("C"),
                "is_member": True,
                "is_shared": False,
                "is_ext_shared": False,
                "is_org_shared": False,
                "is_pending_ext_shared": False,
                **self.channel_fields.get(channel, {}),
            }
        }

    def _usergroups_users_list(self, args: Payload) -> Payload:
        members = self.usergroups.get(str(args.get("usergroup", "")))
        if members is None:
            raise _ApiError("no_such_subteam")
        return {"users": list(members)}

    def _users_conversations(self, args: Payload) -> Payload:
        channels = self.member_of.get(str(args.get("user", "")), [])
        return {
            "channels": [{"id": c, "is_channel": True, "is_member": True} for c in channels],
            "response_metadata": {"next_cursor": ""},
        }

    def _users_info(self, args: Payload) -> Payload:
        user = args.get("user")
        if not isinstance(user, str) or not user:
            raise _ApiError("user_not_found")
        found: Payload = {
            "id": user,
            "team_id": TEAM_ID,
            "name": f"user-{user.lower()}",
            "real_name": f"User {user}",
            "tz": "UTC",
            "is_bot": user == BOT_USER_ID,
        }
        if str(args.get("include_locale", "")).lower() in ("true", "1"):
            found["locale"] = self.locales.get(user, "en-US")
        return {"user": found}


def _stored_view(view: Payload) -> Payload:
    """A view as Slack answers views.publish / views.open: what was sent, with Slack's ids."""
    return {
        "id": f"V{uuid4().hex[:10].upper()}",
        "team_id": TEAM_ID,
        "app_id": APP_ID,
        "bot_id": BOT_ID,
        "hash": uuid4().hex,
        **view,
    }


async def _read_args(request: web.Request) -> Payload:
    """Query string plus body: JSON, or a form whose structured fields are JSON strings."""
    args: Payload = dict(request.query)
    if request.method != "POST" or not request.can_read_body:
        return args
    if request.content_type == "application/json":
        parsed = json.loads(await request.text())
        if not isinstance(parsed, dict):
            raise ValueError("a JSON body must be an object")
        args.update(parsed)
        return args
    form = await request.post()
    for key, value in form.items():
        if isinstance(value, str):
            args[key] = _decode_form_field(key, value)
    return args


def _decode_form_field(key: str, value: str) -> Any:
    if key in _JSON_FORM_FIELDS and value[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _require_channel(args: Payload) -> str:
    channel = args.get("channel")
    if not isinstance(channel, str) or not channel:
        raise _ApiError("channel_not_found")
    return channel


def _require_content(args: Payload, max_blocks: int) -> None:
    if not (args.get("text") or args.get("blocks") or args.get("attachments")):
        raise _ApiError("no_text")
    if "blocks" in args:
        _check_blocks(args["blocks"], max_blocks)


def _content_fields(args: Payload) -> Payload:
    return {k: args[k] for k in ("blocks", "attachments", "metadata") if k in args}


def _check_blocks(blocks: object, max_blocks: int) -> None:
    """The Block Kit limits Slack enforces with `invalid_blocks` that tests most often trip."""
    problem = _block_problem(blocks, max_blocks)
    if problem is not None:
        raise _ApiError("invalid_blocks", detail=problem)


def _block_problem(blocks: object, max_blocks: int) -> str | None:
    if not isinstance(blocks, list):
        return "blocks must be a list"
    if len(blocks) > max_blocks:
        return f"{len(blocks)} blocks, at most {max_blocks}"
    for index, block in enumerate(blocks):
        if not isinstance(block, dict) or "type" not in block:
            return f"block {index} has no type"
        text = block.get("text")
        text_len = len(text.get("text", "")) if isinstance(text, dict) else 0
        if block["type"] == "section":
            fields = block.get("fields", [])
            if text_len > 3000:
                return f"block {index}: section text longer than 3000"
            if len(fields) > 10 or any(len(f.get("text", "")) > 2000 for f in fields):
                return f"block {index}: more than 10 fields or a field longer than 2000"
        if block["type"] == "header" and text_len > 150:
            return f"block {index}: header text longer than 150"
        if block["type"] == "actions" and len(block.get("elements", [])) > 25:
            return f"block {index}: more than 25 actions elements"
    return None


def _without_token(body: Payload) -> Payload:
    # Failure dumps end up in CI logs; a token sent in a form body must not.
    return {k: ("<redacted>" if k == "token" else v) for k, v in body.items()}


def _short(value: object, limit: int = 300) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[:limit] + "…"
