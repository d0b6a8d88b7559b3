"""The whole `serve` stack on local sockets: FakeDli, FakeSlackApi, real Redis and HttpServer.

    async with slack_stack(key_prefix) as stack:
        ack, reply_to = await stack.command("withvpc")
        [reply] = await stack.replies(reply_to)

Everything goes over real HTTP: requests signed by `SlackSender` reach the app's /slack/events,
the app asks a FakeDli with AK/SK signatures and answers on a FakeSlackApi, with a real Redis
(namespaced by the test's key prefix) for cache and event dedupe. DLI retries never really wait:
build_services has no hook for the DLI client's sleep, so the stack rebuilds the DLI side of
Services (client, lookup, finder) on the store and metrics build_services made.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Final

import httpx

from bot.blocks.actions import ACTION_ACK
from bot.config import Settings
from bot.local.fake_dli import FakeDli
from bot.local.fake_slack import FakeSlackApi, SlackCall
from bot.local.wire import Event, SlackSender, block_action_body, event_body, slash_command_body
from bot.runtime import HttpServer
from bot.services import Services, build_services
from tests.conftest import REDIS_URL
from tests.fakes.dli import TEST_RETRY, RecordingSleep, running_fake

SIGNING_SECRET: Final = "stack-signing-secret-3f9a1c77e2b04d18"
BOT_TOKEN: Final = "xoxb-test-stack-token-6c2d90a1b7e3"
ACCESS_KEY: Final = "STACKAK-TEST-ONLY-1234"
SECRET_KEY: Final = "stack-secret-key-not-real-8e41d0c5"
PROJECT_ID: Final = "7a1b2c3d4e5f46478899aabbccddeeff"
#: Every secret the stack configures: none of them may show up anywhere observable.
SECRETS: Final = (SIGNING_SECRET, BOT_TOKEN, SECRET_KEY)


def stack_settings(dli_url: str, slack_url: str, key_prefix: str, **overrides: Any) -> Settings:
    """Settings as an operator would give them for this stack; `overrides` (env names) win."""
    values: dict[str, Any] = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack_url,
        "HUAWEICLOUD_SDK_AK": ACCESS_KEY,
        "HUAWEICLOUD_SDK_SK": SECRET_KEY,
        "DLI_PROJECT_ID": PROJECT_ID,
        "DLI_ENDPOINT": dli_url,
        "REDIS_URL": REDIS_URL,
        "DLICONN_REDIS_PREFIX": key_prefix,
        **overrides,
    }
    return Settings(_env_file=None, **values)


async def fast_retry_services(settings: Settings, sleep: RecordingSleep) -> Services:
    """build_services(settings), except that DLI retries are few and never really wait."""
    return await build_services(settings, retry=TEST_RETRY, sleep=sleep)


def _sent_to(url_name: str) -> Callable[[SlackCall], bool]:
    return lambda call: call.url_name == url_name


def _in(thread_ts: str) -> Callable[[SlackCall], bool]:
    return lambda call: call.body.get("thread_ts") == thread_ts


def markup_of(call: SlackCall) -> str:
    """Everything a post carries as one string, its blocks' JSON then its text: for what a
    reader does not see as such (mentions, action ids, values)."""
    return json.dumps(call.body.get("blocks", [])) + str(call.body.get("text", ""))


def is_alert_in(channel: str) -> Callable[[SlackCall], bool]:
    """Whether a call posted a new alert in `channel`: a top-level post carrying the alert's
    Acknowledge button."""

    def is_alert(call: SlackCall) -> bool:
        blocks = call.body.get("blocks") or []
        return (
            call.ok
            and call.channel == channel
            and "thread_ts" not in call.body
            and any(e.get("action_id") == ACTION_ACK for b in blocks for e in b.get("elements", []))
        )

    return is_alert


def posted_ts(call: SlackCall) -> str:
    """The `ts` (the message's id) the fake Slack answered a chat.postMessage with."""
    assert isinstance(call.response, dict), call.response
    return str(call.response["ts"])


@dataclass
class SlackStack:
    """A running stack and the Slack-side moves a test makes on it; build it with slack_stack."""

    settings: Settings
    dli: FakeDli
    slack: FakeSlackApi
    sender: SlackSender
    #: Plain GETs (/healthz, /metrics) go through this one.
    http: httpx.AsyncClient
    #: The delays the DLI client's retries asked for (it never really sleeps).
    dli_sleeps: RecordingSleep
    _exits: AsyncExitStack
    servers: list[HttpServer] = field(default_factory=list)
    _stopped: set[int] = field(default_factory=set)

    @property
    def server(self) -> HttpServer:
        return self.servers[0]

    @property
    def services(self) -> Services:
        return self.server.services

    def url(self, path: str = "/slack/events", server: HttpServer | None = None) -> str:
        return f"http://127.0.0.1:{(server or self.server).port}{path}"

    async def add_replica(self) -> HttpServer:
        """Another HttpServer on the same settings (and so the same Redis): a second replica."""
        services = await fast_retry_services(self.settings, self.dli_sleeps)
        server = HttpServer(self.settings, services)
        await server.start("127.0.0.1", 0)
        self.servers.append(server)
        self._exits.push_async_callback(self.stop, server)
        return server

    async def stop(self, server: HttpServer | None = None) -> None:
        """HttpServer.stop(), once per server however often it is asked for."""
        server = server or self.server
        if id(server) not in self._stopped:
            self._stopped.add(id(server))
            await server.stop()

    async def post(
        self, body: str | bytes, *, server: HttpServer | None = None, **options: Any
    ) -> httpx.Response:
        """`body` posted to /slack/events with Slack's signature; options go to SlackSender."""
        return await self.sender.post(self.url(server=server), body, **options)

    async def command(
        self, text: str, *, channel: str = "C1", user: str = "U1"
    ) -> tuple[httpx.Response, str]:
        """`/dliconn text`; returns the ack and the name of the response_url it answers on."""
        url = self.slack.response_url()
        body = slash_command_body(text, channel_id=channel, user_id=user, response_url=url)
        return await self.post(body), url.rsplit("/", 1)[1]

    async def click(
        self, action_id: str, value: str, *, ephemeral: bool = True
    ) -> tuple[httpx.Response, str]:
        """A button press on a card; returns the ack and the name of its response_url."""
        url = self.slack.response_url()
        body = block_action_body(action_id, value, response_url=url, ephemeral=ephemeral)
        return await self.post(body), url.rsplit("/", 1)[1]

    async def event(
        self, event: Event, *, event_id: str | None = None, **options: Any
    ) -> httpx.Response:
        """An Events API delivery of `event`; options go to `post` (retry_num, server, …)."""
        return await self.post(event_body(event, event_id=event_id), **options)

    async def replies(self, url_name: str, count: int = 1) -> list[SlackCall]:
        """The posts to one response_url, once `count` of them have arrived."""
        return await self.slack.wait_for("response_url", count, predicate=_sent_to(url_name))

    def replies_so_far(self, url_name: str) -> list[SlackCall]:
        return self.slack.calls_to("response_url", _sent_to(url_name))

    async def thread(self, thread_ts: str, count: int = 1) -> list[SlackCall]:
        """The bot's posts in one thread, once `count` of them have arrived."""
        return await self.slack.wait_for(
            "chat.postMessage", count, predicate=lambda c: c.body.get("thread_ts") == thread_ts
        )

    def thread_so_far(self, thread_ts: str) -> list[SlackCall]:
        return self.slack.calls_to(
            "chat.postMessage", lambda c: c.body.get("thread_ts") == thread_ts
        )


@asynccontextmanager
async def slack_stack(
    key_prefix: str,
    connections: Iterable[Mapping[str, Any]] | None = None,
    *,
    dli_options: Mapping[str, Any] | None = None,
    slack_options: Mapping[str, Any] | None = None,
    start_replica: bool = True,
    **settings: Any,
) -> AsyncIterator[SlackStack]:
    """A started stack: FakeDli (demo data unless `connections`), FakeSlackApi, one HttpServer.

    `dli_options` go to FakeDli (sleep, clock, …), `slack_options` to FakeSlackApi (a sleep for
    its latency faults: a HeldSleep holds answers on a gate); `settings` are extra Settings by
    env name (DLICONN_RESPONSE_TYPE="in_channel", REDIS_URL=…). Everything is stopped on exit,
    the servers first so that their in-flight replies still reach the fakes. With
    `start_replica=False` the test starts it (`add_replica`) once it has arranged more.
    """
    async with AsyncExitStack() as exits:
        dli = await exits.enter_async_context(
            running_fake(
                connections,
                project_id=PROJECT_ID,
                credentials={ACCESS_KEY: SECRET_KEY},
                **(dli_options or {}),
            )
        )
        slack = await exits.enter_async_context(FakeSlackApi(**(slack_options or {})))
        sender = await exits.enter_async_context(SlackSender(SIGNING_SECRET))
        # trust_env=False: a proxy from the environment must not intercept local servers.
        http = await exits.enter_async_context(httpx.AsyncClient(timeout=5, trust_env=False))
        stack = SlackStack(
            settings=stack_settings(dli.url, slack.url, key_prefix, **settings),
            dli=dli,
            slack=slack,
            sender=sender,
            http=http,
            dli_sleeps=RecordingSleep(),
            _exits=exits,
        )
        if start_replica:
            await stack.add_replica()
        yield stack
