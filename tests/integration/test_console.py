"""The local chat console in demo mode: the real app, handlers and demo DLI, rendered as text."""

from __future__ import annotations

import io
import re
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TextIO, cast

import pytest

from bot.config import Settings
from bot.local.console import USER, Console, Seat, run_console, seat_from
from bot.local.fake_slack import FakeSlackApi
from bot.services import build_services
from tests.fakes.dli import WITHVPC

HELP_HEADLINE = "looks up DLI enhanced datasource connections"
REQUEST_ID = re.compile(r"request id ([0-9a-f]{32})")
# No setting and no .env: no credentials, so demo data.
pytestmark = pytest.mark.usefixtures("isolated")


@pytest.fixture
def settings() -> Settings:
    return Settings(_env_file=None)


@pytest.fixture
async def console(settings: Settings) -> AsyncIterator[Console]:
    services = await build_services(settings)
    try:
        async with FakeSlackApi() as slack:
            yield Console(settings, services, slack)
    finally:
        await services.aclose()


def request_id(reply: str) -> str:
    found = REQUEST_ID.search(reply)
    assert found, reply
    return found.group(1)


async def test_list(console: Console) -> None:
    reply = await console.say("/dliconn list")

    assert reply.startswith("── dliconn (only visible to you)")
    assert "DLI connections · all" in reply
    assert "8 connections · 3 with FAILED queues · 1 deleted" in reply
    assert "Demo data" in reply


async def test_a_name_gets_its_card_with_numbered_buttons(console: Console) -> None:
    reply = await console.say("/dliconn withvpc")

    assert "withvpc" in reply and WITHVPC in reply
    assert "resource_mode_1 · queue · ACTIVE" in reply
    assert reply.endswith("buttons: !1 Refresh  !2 Watch  !3 History  !4 Share in channel")


async def test_refresh_button_fetches_a_live_copy(console: Console) -> None:
    first = await console.say(f"/dliconn {WITHVPC}")
    cached = await console.say(f"/dliconn {WITHVPC}")
    refreshed = await console.say("!1")

    assert "Cached" in cached
    assert request_id(cached) == request_id(first)
    assert "Live from DLI" in refreshed
    assert request_id(refreshed) != request_id(first)  # a new DLI request answered it


async def test_refresh_keeps_the_visibility_of_the_card_it_replaces(console: Console) -> None:
    await console.say(f"@dliconn {WITHVPC}")  # a card in a thread, for everyone
    public = await console.say("!1")
    await console.say(f"/dliconn {WITHVPC}")  # a card only the asker sees
    private = await console.say("!1")

    assert "Live from DLI" in public and "(only visible to you)" not in public
    assert "Share in channel" not in public  # it is in the channel already
    assert private.startswith("── dliconn (only visible to you)")


async def test_a_mention_is_answered_in_a_thread(console: Console) -> None:
    reply = await console.say(f"@dliconn {WITHVPC}")

    assert reply.startswith("── dliconn (in thread)")
    assert "withvpc" in reply


async def test_a_pasted_id_is_answered_like_in_an_incident_channel(console: Console) -> None:
    reply = await console.say(f"is {WITHVPC} broken?")
    chatter = await console.say("hello everyone")

    assert reply.startswith("── dliconn (in thread)")
    assert "withvpc" in reply
    assert chatter == "(no reply)"  # a plain message without an id is not for the bot


@pytest.mark.parametrize("line", ["/dliconn", "/dliconn  `*_ ", "/dliconn help"])
async def test_empty_or_blank_commands_get_help(console: Console, line: str) -> None:
    reply = await console.say(line)

    assert HELP_HEADLINE in reply
    assert "(only visible to you)" in reply


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("/dliconn foo bar", 'unknown command: "foo"'),
        ("/dliconn %%%", 'not a connection id or name: "%%%"'),
    ],
)
async def test_garbage_points_to_help(console: Console, line: str, reason: str) -> None:
    reply = await console.say(line)

    assert f"I did not understand that: {reason}." in reply
    assert "Try /dliconn help" in reply
    assert "(only visible to you)" in reply


async def test_pressing_a_button_that_does_not_exist(console: Console) -> None:
    await console.say("/dliconn withvpc")

    assert await console.say("!9") == "(no button 9; the last reply has 4)"


async def test_run_console_reads_stdin_and_writes_replies(settings: Settings) -> None:
    stdout = io.StringIO()
    stdin = io.StringIO("/dliconn withvpc\n!4\n\nquit\n/dliconn list\n")

    await run_console(settings, stdin=stdin, stdout=stdout)

    out = stdout.getvalue()
    assert out.startswith("dliconn console")
    assert "answering from the built-in demo data" in out
    assert "withvpc" in out
    # Share in channel: the card goes to the channel and the private copy is removed.
    assert "── dliconn\n" in out and "(the private reply was removed)" in out
    assert "DLI connections" not in out  # nothing is read after "quit"
    assert stdin.readline() == "/dliconn list\n"


async def test_run_console_stops_at_end_of_input(settings: Settings) -> None:
    stdout = io.StringIO()

    await run_console(settings, stdin=io.StringIO("/dliconn list failed"), stdout=stdout)

    assert "DLI connections · failed" in stdout.getvalue()
    assert stdout.getvalue().endswith("dliconn> ")


async def test_demo_cards_have_no_console_link_even_with_a_region() -> None:
    # The demo's connections exist nowhere real, so no console could show them.
    settings = Settings(_env_file=None, DLI_REGION="cn-north-4")
    assert settings.dli_mode == "demo"
    services = await build_services(settings)
    try:
        async with FakeSlackApi() as slack:
            reply = await Console(settings, services, slack).say("/dliconn withvpc")
    finally:
        await services.aclose()
    assert "withvpc" in reply
    assert reply.endswith("buttons: !1 Refresh  !2 Watch  !3 History  !4 Share in channel")
    assert "console" not in reply.lower().split("buttons:")[1]


ONCALL_CONFIG = """
[channels.C0PAYMENTS]
operators = ["S0ONCALL"]
"""


@pytest.mark.parametrize(
    ("seat", "expected"),
    [
        (Seat("U0BOB", "C0PAYMENTS"), "Only members of @S0ONCALL may watch or unwatch"),
        (Seat("U0BOB", "C0PAYMENTS", ("S0ONCALL",)), "Watching"),
        (Seat("U0BOB", "C0SHARED", slack_connect=True), "shared with another organisation"),
        (Seat("U0BOB", "D0BOB"), "Watching"),
    ],
    ids=["non-operator", "through a group", "slack connect", "own dm"],
)
async def test_the_console_tries_a_policy_for_a_user_and_channel(
    tmp_path: Path, seat: Seat, expected: str
) -> None:
    path = tmp_path / "dliconn.toml"
    path.write_text(ONCALL_CONFIG, encoding="utf-8")
    settings = Settings(_env_file=None, dliconn_config=path)
    services = await build_services(settings)
    try:
        async with FakeSlackApi() as slack:
            console = Console(settings, services, slack, seat)
            reply = await console.say("/dliconn watch withvpc")
            policy = await console.say("/dliconn policy")
    finally:
        await services.aclose()
    assert expected in reply
    assert reply.startswith("── dliconn (only visible to you)")
    if seat.slack_connect:
        assert "withvpc" not in reply and "guardrails.external_channels" in policy
    else:
        assert f"What #{seat.channel} allows" in policy


def test_console_flags_make_a_seat() -> None:
    from bot.__main__ import _parser

    args = _parser().parse_args(
        ["console", "--user", "U0BOB", "--channel", "C0X", "--groups", "S1, S2", "--slack-connect"]
    )
    assert seat_from(args) == Seat("U0BOB", "C0X", ("S1", "S2"), slack_connect=True)
    assert seat_from(_parser().parse_args(["console"])) is None
    assert seat_from(_parser().parse_args(["console", "--lang", "zh-CN"])) == Seat(lang="zh-CN")


async def console_reply(
    settings: Settings, seat: Seat, *lines: str
) -> tuple[list[str], FakeSlackApi]:
    services = await build_services(settings)
    try:
        async with FakeSlackApi() as slack:
            console = Console(settings, services, slack, seat)
            return [await console.say(line) for line in lines], slack
    finally:
        await services.aclose()


async def test_lang_seats_a_person_whose_slack_speaks_chinese(settings: Settings) -> None:
    assert settings.dliconn_locale == "en"
    (card, missing), slack = await console_reply(
        settings, Seat(lang="zh-CN"), "/dliconn withvpc", "!9"
    )

    # The console's words and the app's reply, whose language the app chose from Slack.
    assert card.startswith("── dliconn（仅你可见）")
    assert "按钮：!1 刷新  " in card and "Refresh" not in card
    assert "withvpc" in card and WITHVPC in card
    assert missing == "（没有按钮 9；上一条回复有 4 个按钮）"
    [asked] = slack.calls_to("users.info")
    assert asked.body["user"] == USER and slack.locales == {USER: "zh-CN"}


async def test_lang_en_answers_in_english_where_dliconn_locale_is_chinese() -> None:
    settings = Settings(_env_file=None, DLICONN_LOCALE="zh-CN")
    [card], _ = await console_reply(settings, Seat(lang="en"), "/dliconn withvpc")
    [chinese], _ = await console_reply(settings, Seat(), "/dliconn withvpc")

    assert card.endswith("buttons: !1 Refresh  !2 Watch  !3 History  !4 Share in channel")
    assert chinese.startswith("── dliconn（仅你可见）") and "!1 刷新" in chinese


class WaitingInput:
    """Typed lines, then empty ones a little apart (each shows what the bot posted meanwhile)
    until `done` holds, for at most `seconds`."""

    def __init__(self, text: str, done: Callable[[], bool], seconds: float = 5.0) -> None:
        self.typed = io.StringIO(text)
        self.done = done
        self.deadline = time.monotonic() + seconds

    def readline(self) -> str:
        line = self.typed.readline()
        if line or self.done() or time.monotonic() > self.deadline:
            return line
        time.sleep(0.05)  # in the console's reading thread
        return "\n"


async def test_run_console_lang_speaks_chinese_and_so_does_its_watcher() -> None:
    settings = Settings(_env_file=None, DLICONN_WATCH_INTERVAL=0.05)
    stdout = io.StringIO()
    alerted = "个队列 FAILED：orders-mysql-peering"
    stdin = WaitingInput(
        "/dliconn watch orders-mysql-peering\n", lambda: alerted in stdout.getvalue()
    )

    await run_console(settings, seat=Seat(lang="zh-CN"), stdin=cast(TextIO, stdin), stdout=stdout)

    out = stdout.getvalue()
    assert out.startswith("dliconn 控制台")
    assert "未配置 DLI 凭证" in out and "You are" not in out and "你的身份" not in out
    # The console's channel names no locale: the watcher's alert follows --lang there too.
    assert alerted in out
    assert "静音 1 小时" in out and "Acknowledge" not in out
