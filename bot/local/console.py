"""The local chat console: type what you would type in Slack and read the replies as text.

It runs the real Bolt app, handlers and builders. Requests are built as Slack would send them
and dispatched into the app with their content type but unsigned: the app verifies no signature
(bot/web.py does, for HTTP, and the console skips it). The app's replies go to a local stand-in
for the Slack Web API (`bot.local.fake_slack`) and are rendered with `bot.blocks.render`.
Buttons are numbered: `!2` presses the second button of the last reply.

The person typing has a Slack locale (`--lang`, else DLICONN_LOCALE), which the stand-in's
users.info reports: the app chooses the language of its replies from it, as in Slack. The
console's own words (greeting, prompts' notes, where a reply went) are in that language too.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Final, TextIO

from slack_bolt.request.async_request import AsyncBoltRequest

from bot.blocks.message import Message
from bot.blocks.render import render_text
from bot.config import Deployment, Settings
from bot.i18n import N_, Locale, _, speaking
from bot.local.fake_slack import FakeSlackApi, SlackCall
from bot.local.wire import (
    app_mention_event,
    block_action_body,
    body_content_type,
    event_body,
    message_event,
    slash_command_body,
)
from bot.runtime import EmbeddedWatcher
from bot.services import Services, build_services
from bot.slack.app import build_app
from bot.slack.client import make_slack_client
from bot.slack_ids import is_usergroup_id

CHANNEL = "CCONSOLE"
USER = "UCONSOLE"
TOKEN = "xoxb-console"  # noqa: S105 - the local stand-in's token, not a real secret
PROMPT = "dliconn> "
REPLY_WAIT_SECONDS = 60.0
GREETING: Final = N_(
    "dliconn console: the bot as Slack would run it, answering here.\n"
    "  /dliconn <id or name>     /dliconn list [failed|active|deleted]     /dliconn help\n"
    "  @dliconn <text>           a mention; every connection id or name in it is looked up\n"
    "  <text with an id>         a plain message, as in an incident channel\n"
    "  !N                        press button N of the last reply        quit (or Ctrl-D) to leave"
)
#: The Slack locale users.info reports for a person reading the console in each language.
SLACK_LOCALES: Final[dict[Locale, str]] = {"en": "en-US", "zh-CN": "zh-CN"}


@dataclass(frozen=True)
class Button:
    action_id: str
    value: str
    label: str
    url: str | None
    message_ts: str | None
    ephemeral: bool


@dataclass(frozen=True)
class Seat:
    """Who types and where, to try a policy locally: the person, their user groups, the channel
    (a `D…` id is their DM with the bot), whether it is a Slack Connect channel, and the
    language of the person's Slack (None: DLICONN_LOCALE)."""

    user: str = USER
    channel: str = CHANNEL
    groups: tuple[str, ...] = ()
    slack_connect: bool = False
    lang: Locale | None = None

    def arrange(self, slack: FakeSlackApi) -> None:
        """Tell the Slack stand-in what Slack would say about this person and channel."""
        if self.lang is not None:
            slack.locales[self.user] = SLACK_LOCALES[self.lang]
        for group in self.groups:
            slack.usergroups.setdefault(group, []).append(self.user)
        if self.slack_connect:
            slack.share_externally(self.channel)
        if self.channel.startswith("D"):
            slack.direct_message(self.channel, self.user)


class Console:
    """One conversation with the app; `say` returns what a person would see, as text."""

    def __init__(
        self, settings: Settings, services: Services, slack: FakeSlackApi, seat: Seat | None = None
    ) -> None:
        self._slack = slack
        self._services = services
        seat = seat or Seat()
        #: The language of the person's Slack, and so of the console's own words.
        self.lang: Locale = seat.lang or settings.dliconn_locale
        self.seat = replace(seat, lang=self.lang)
        # Every group the file names exists (empty unless the seat is in it), as in Slack.
        for rules in services.deployment.channels.values():
            for group in filter(is_usergroup_id, rules.operators or ()):
                slack.usergroups.setdefault(group, [])
        self.seat.arrange(slack)
        # The console's channel counts as an incident channel, so pasted ids get answered.
        settings = settings.model_copy(update={"dliconn_incident_channels": self.seat.channel})
        self.client = make_slack_client(TOKEN, slack.url)
        self._app = build_app(settings, services, client=self.client)
        self.buttons: list[Button] = []
        #: Whether the message of the last button pressed was private: a response_url reply
        #: that replaces it is as private as it was.
        self._pressed_private = True
        self._shown = 0  # how many of the stand-in's calls have been shown

    async def say(self, line: str) -> str:
        line = line.strip()
        if not line:
            return self.news()
        if line.startswith("!") and line[1:].isdigit():
            return await self._press(int(line[1:]))
        # The request goes out in no language of ours: the app chooses the reply's, from the
        # person's Slack locale, as it does in Slack.
        seat = self.seat
        if line.startswith("/"):
            command, _, text = line.partition(" ")
            body = slash_command_body(
                text, command=command, user_id=seat.user, channel_id=seat.channel,
                response_url=self._slack.response_url(),
            )  # fmt: skip
        elif line.lower().startswith("@dliconn"):
            event = app_mention_event(line[len("@dliconn") :], user=seat.user, channel=seat.channel)
            body = event_body(event, ext_shared=seat.slack_connect)
        else:
            event = message_event(line, user=seat.user, channel=seat.channel)
            body = event_body(event, ext_shared=seat.slack_connect)
        return await self._dispatch(body)

    async def _press(self, number: int) -> str:
        with speaking(self.lang):
            if not 1 <= number <= len(self.buttons):
                return _("(no button {number}; the last reply has {count})").format(
                    number=number, count=len(self.buttons)
                )
            button = self.buttons[number - 1]
            if button.url:
                return _("(opens {url})").format(url=button.url)
        # Slack sends the message a button sits on (an ephemeral one excepted); the handlers
        # read it, e.g. to keep an alert when its Refresh is pressed.
        self._pressed_private = button.ephemeral
        on = None
        if button.message_ts is not None and not button.ephemeral:
            on = self._slack.message(self.seat.channel, button.message_ts)
        body = block_action_body(
            button.action_id, button.value, user_id=self.seat.user, channel_id=self.seat.channel,
            message_ts=button.message_ts, ephemeral=button.ephemeral, message=on,
            response_url=self._slack.response_url(),
        )  # fmt: skip
        return await self._dispatch(body)

    def news(self) -> str:
        """What the bot posted on its own (watcher alerts) since the last reply was shown."""
        return self._show_since() if len(self._slack.calls) > self._shown else ""

    async def _dispatch(self, body: str) -> str:
        earlier = self.news()
        headers: dict[str, str | Sequence[str]] = {"Content-Type": body_content_type(body)}
        response = await self._app.async_dispatch(AsyncBoltRequest(body=body, headers=headers))
        # The reply is composed after the ack; every acked request is counted until it is sent.
        await self._services.inflight.wait_idle(REPLY_WAIT_SECONDS)
        with speaking(self.lang):
            if response.status != 200:
                return _("(the app answered HTTP {status}: {body})").format(
                    status=response.status, body=response.body
                )
            return "\n\n".join(filter(None, [earlier, self._show_since() or _("(no reply)")]))

    def _private_reply(self, body: dict[str, Any]) -> bool:
        # As Slack does: a reply replacing the message a button sat on keeps that message's
        # visibility; any other response_url reply is private unless it says in_channel.
        if body.get("replace_original") and "response_type" not in body:
            return self._pressed_private
        return body.get("response_type") != "in_channel"

    def _show_since(self) -> str:
        calls = self._slack.calls[self._shown :]
        self._shown += len(calls)
        return self._show(calls)

    def _show(self, calls: list[SlackCall]) -> str:
        with speaking(self.lang):
            return self._rendered(calls)

    def _rendered(self, calls: list[SlackCall]) -> str:
        shown: list[str] = []
        buttons: list[Button] = []
        for call in calls:
            body = call.body
            if call.method == "views.open" and isinstance(body.get("view"), dict):
                view = Message("", list(body["view"].get("blocks") or []))
                shown.append(_("── dliconn (a window opens)") + "\n" + render_text(view))
                continue
            if call.method not in {
                "chat.postMessage",
                "chat.postEphemeral",
                "chat.update",
                "response_url",
            }:
                continue
            if body.get("delete_original"):
                shown.append(_("(the private reply was removed)"))
                continue
            ephemeral = call.method == "chat.postEphemeral" or (
                call.method == "response_url" and self._private_reply(body)
            )
            where = _where(call, ephemeral)
            message = Message(str(body.get("text", "")), list(body.get("blocks") or []))
            ts = call.response.get("ts") if isinstance(call.response, dict) else None
            for button in _buttons(message.blocks):
                buttons.append(Button(**button, message_ts=ts, ephemeral=ephemeral))
            shown.append(f"{where}\n{render_text(message)}")
        if buttons:
            self.buttons = buttons
            numbered = "  ".join(f"!{i} {b.label}" for i, b in enumerate(buttons, 1))
            shown.append(_("buttons: {buttons}").format(buttons=numbered))
        return "\n\n".join(shown)


def _where(call: SlackCall, ephemeral: bool) -> str:
    if ephemeral:
        return _("── dliconn (only visible to you)")
    if call.method == "chat.update":
        return _("── dliconn (message updated)")
    if call.body.get("thread_ts"):
        return _("── dliconn (in thread)")
    return "── dliconn"


def _buttons(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # In reading order: a row of buttons, or one beside a line (What to check under a queue).
    elements = [
        element
        for block in blocks
        for element in (
            block.get("elements", [])
            if block.get("type") == "actions"
            else [block.get("accessory")]
        )
        if isinstance(element, dict) and element.get("type") == "button"
    ]
    return [
        {
            "action_id": element.get("action_id", ""),
            "value": element.get("value", ""),
            "label": element.get("text", {}).get("text", ""),
            "url": element.get("url"),
        }
        for element in elements
    ]


async def run_console(
    settings: Settings,
    *,
    seat: Seat | None = None,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
    deployment: Deployment | None = None,
) -> None:
    lang = (seat.lang if seat is not None else None) or settings.dliconn_locale
    # The console's channel, unless dliconn.toml gives it a `locale`, gets the watcher's posts
    # in the same language: one person alone in it reads them.
    settings = settings.model_copy(update={"dliconn_locale": lang})
    services = await build_services(settings, deployment=deployment)
    async with FakeSlackApi() as slack:
        console = Console(settings, services, slack, seat)
        # The watcher runs here too, posting to the same stand-in: its alerts show up between
        # replies, exactly as they would appear in the channel.
        watcher = EmbeddedWatcher(services, console.client)
        with speaking(lang):
            stdout.write(_(GREETING) + "\n")
            if seat is not None and replace(seat, lang=None) != Seat():
                you = _("You are {user} in {channel}.").format(user=seat.user, channel=seat.channel)
                stdout.write(you + "\n")
            if services.demo:
                demo = _("No DLI credentials configured: answering from the built-in demo data.")
                stdout.write(demo + "\n")
                stdout.write(_("Try: /dliconn list   or   /dliconn withvpc") + "\n")
        try:
            while True:
                stdout.write(PROMPT)
                stdout.flush()
                line = await asyncio.to_thread(stdin.readline)
                if not line or line.strip().lower() in {"quit", "exit"}:
                    break
                stdout.write(await console.say(line) + "\n")
        finally:
            await watcher.stop()
            await services.aclose()


def seat_from(args: Any) -> Seat | None:
    """The seat `python -m bot console --user … --channel … --groups … --slack-connect --lang …`
    asks for; None without any of them (no verb given: the defaults)."""
    user, channel = getattr(args, "user", None), getattr(args, "channel", None)
    groups = tuple(g.strip() for g in (getattr(args, "groups", "") or "").split(",") if g.strip())
    connect = bool(getattr(args, "slack_connect", False))
    lang: Locale | None = getattr(args, "lang", None)
    if not (user or channel or groups or connect or lang):
        return None
    return Seat(user or USER, channel or CHANNEL, groups, connect, lang)
