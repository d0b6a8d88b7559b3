"""The Slack test doubles behave like Slack for slack_sdk and Bolt: recording, faults, signing."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, parse_qsl

import httpx
import pytest
from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.local.fake_slack import BOT_ID, BOT_USER_ID, RESPONSE_URL, TEAM_ID, FakeSlackApi
from bot.local.wire import (
    SlackSender,
    app_home_opened_event,
    app_mention_event,
    block_action_body,
    event_body,
    message_event,
    signed_headers,
    slash_command_body,
)
from tests.fakes.dli import HeldSleep

SECRET = "test-signing-secret"
BLOCKS: list[dict[str, Any]] = [
    {"type": "section", "text": {"type": "mrkdwn", "text": "*conn-1* is ACTIVE"}},
    {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "action_id": "refresh",
                "value": "conn-1",
                "text": {"type": "plain_text", "text": "Refresh"},
            }
        ],
    },
]


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlackApi]:
    async with FakeSlackApi() as api:
        yield api


@pytest.fixture
def client(fake: FakeSlackApi) -> AsyncWebClient:
    return AsyncWebClient(token="xoxb-test", base_url=fake.url)


@pytest.fixture
async def raw_http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False, timeout=5.0) as http:
        yield http


# -- Web API -------------------------------------------------------------------------------------


async def test_start_serves_an_api_base_url_on_an_ephemeral_local_port(fake: FakeSlackApi) -> None:
    assert fake.url.startswith("http://127.0.0.1:")
    assert fake.url.endswith("/api/")
    assert not fake.url.startswith("http://127.0.0.1:0/")


async def test_auth_test_names_the_bot_user(client: AsyncWebClient) -> None:
    response = await client.auth_test()
    assert (response["user_id"], response["bot_id"], response["team_id"]) == (
        BOT_USER_ID,
        BOT_ID,
        TEAM_ID,
    )


async def test_post_message_is_recorded_with_parsed_blocks_and_a_fresh_ts(
    fake: FakeSlackApi, client: AsyncWebClient
) -> None:
    first = await client.chat_postMessage(channel="C1", text="conn-1 is ACTIVE", blocks=BLOCKS)
    second = await client.chat_postMessage(channel="C1", text="again", thread_ts=first["ts"])

    assert float(second["ts"]) > float(first["ts"])
    assert first["message"]["blocks"] == BLOCKS
    call = fake.calls_to("chat.postMessage")[0]
    assert call.body["blocks"] == BLOCKS
    assert call.body["text"] == "conn-1 is ACTIVE"
    assert call.headers["authorization"] == "Bearer xoxb-test"
    assert call.channel == "C1"
    assert call.ok
    reply = fake.message("C1", second["ts"])
    assert reply is not None
    assert reply["thread_ts"] == first["ts"]


async def test_update_changes_the_posted_message_and_delete_removes_it(
    fake: FakeSlackApi, client: AsyncWebClient
) -> None:
    posted = await client.chat_postMessage(channel="C1", text="FAILED", blocks=BLOCKS)
    await client.chat_update(channel="C1", ts=posted["ts"], text="resolved", blocks=BLOCKS[:1])

    message = fake.message("C1", posted["ts"])
    assert message is not None
    assert (message["text"], message["blocks"]) == ("resolved", BLOCKS[:1])
    assert fake.calls_to("chat.update")[0].body["blocks"] == BLOCKS[:1]

    await client.chat_delete(channel="C1", ts=posted["ts"])
    assert fake.message("C1", posted["ts"]) is None
    with pytest.raises(SlackApiError) as err:
        await client.chat_update(channel="C1", ts=posted["ts"], text="gone")
    assert err.value.response["error"] == "message_not_found"


async def test_post_ephemeral_answers_a_message_ts(
    fake: FakeSlackApi, client: AsyncWebClient
) -> None:
    response = await client.chat_postEphemeral(channel="C1", user="U1", text="only you")
    assert response["message_ts"]
    assert fake.calls_to("chat.postEphemeral")[0].body["user"] == "U1"


async def test_views_publish_records_the_home_view(
    fake: FakeSlackApi, client: AsyncWebClient
) -> None:
    view = {"type": "home", "blocks": BLOCKS}
    await client.views_publish(user_id="U1", view=view)

    call = (await fake.wait_for("views.publish"))[0]
    assert call.body["view"]["blocks"] == BLOCKS
    published = fake.home_view("U1")
    assert published is not None
    assert published["blocks"] == BLOCKS


async def test_form_bodies_are_decoded_including_json_fields_and_a_body_token(
    fake: FakeSlackApi, raw_http: httpx.AsyncClient
) -> None:
    form = {"token": "xoxb-test", "channel": "C1", "text": "hi", "blocks": json.dumps(BLOCKS)}
    response = await raw_http.post(f"{fake.url}chat.postMessage", data=form)

    assert response.json()["ok"] is True
    assert fake.calls_to("chat.postMessage")[0].body["blocks"] == BLOCKS


async def test_info_methods_answer_get_requests(client: AsyncWebClient) -> None:
    channel = await client.conversations_info(channel="G9")
    user = await client.users_info(user="U7")
    assert (channel["channel"]["id"], channel["channel"]["is_private"]) == ("G9", True)
    assert user["user"]["id"] == "U7"


async def test_wrong_or_missing_token_is_refused(
    fake: FakeSlackApi, raw_http: httpx.AsyncClient
) -> None:
    with pytest.raises(SlackApiError) as err:
        await AsyncWebClient(token="bogus", base_url=fake.url).auth_test()
    assert err.value.response["error"] == "invalid_auth"
    missing = await raw_http.post(f"{fake.url}auth.test")
    assert missing.json() == {"ok": False, "error": "not_authed"}


async def test_a_token_outside_an_explicit_set_is_invalid_auth() -> None:
    async with FakeSlackApi(valid_tokens=frozenset({"xoxb-good"})) as api:
        assert (await AsyncWebClient(token="xoxb-good", base_url=api.url).auth_test())["ok"]
        with pytest.raises(SlackApiError) as err:
            await AsyncWebClient(token="xoxb-other", base_url=api.url).auth_test()
    assert err.value.response["error"] == "invalid_auth"


async def test_unknown_method_is_refused(client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as err:
        await client.api_call("chat.shout", json={"channel": "C1"})
    assert err.value.response["error"] == "unknown_method"


async def test_missing_text_and_too_many_blocks_are_slack_errors(client: AsyncWebClient) -> None:
    # slack_sdk warns before sending a message without text; Slack then refuses it.
    with (
        pytest.warns(UserWarning, match="`text` argument is missing"),
        pytest.raises(SlackApiError) as no_text,
    ):
        await client.chat_postMessage(channel="C1")
    too_many = [{"type": "divider"}] * 51
    with pytest.raises(SlackApiError) as invalid:
        await client.chat_postMessage(channel="C1", text="x", blocks=too_many)
    assert no_text.value.response["error"] == "no_text"
    assert invalid.value.response["error"] == "invalid_blocks"


# -- faults --------------------------------------------------------------------------------------


async def test_fail_raises_slack_api_error_with_the_code_for_the_given_times(
    fake: FakeSlackApi, client: AsyncWebClient
) -> None:
    fake.fail("chat.postMessage", error="not_in_channel", times=2)
    for _ in range(2):
        with pytest.raises(SlackApiError) as err:
            await client.chat_postMessage(channel="C1", text="x")
        assert err.value.response["error"] == "not_in_channel"
    assert (await client.chat_postMessage(channel="C1", text="x"))["ok"]
    assert [c.ok for c in fake.calls_to("chat.postMessage")] == [False, False, True]


async def test_fail_can_be_scoped_to_one_channel(
    fake: FakeSlackApi, client: AsyncWebClient
) -> None:
    fake.fail("chat.postMessage", times=None, channel="C2")
    assert (await client.chat_postMessage(channel="C1", text="x"))["ok"]
    for _ in range(2):
        with pytest.raises(SlackApiError) as err:
            await client.chat_postMessage(channel="C2", text="x")
        assert err.value.response["error"] == "channel_not_found"


async def test_rate_limit_answers_429_with_retry_after(
    fake: FakeSlackApi, client: AsyncWebClient
) -> None:
    fake.rate_limit("chat.postMessage", retry_after=7)
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel="C1", text="x")
    assert err.value.response.status_code == 429
    assert err.value.response["error"] == "ratelimited"
    assert err.value.response.headers["Retry-After"] == "7"


async def test_slack_sdk_rate_limit_handler_retries_through_a_429(fake: FakeSlackApi) -> None:
    fake.rate_limit("chat.postMessage", retry_after=0)
    client = AsyncWebClient(
        token="xoxb-test",
        base_url=fake.url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)],
    )
    response = await client.chat_postMessage(channel="C1", text="x")
    assert response["ok"]
    assert [c.status for c in fake.calls_to("chat.postMessage")] == [429, 200]


async def test_latency_delays_the_answer() -> None:
    held = HeldSleep()
    async with FakeSlackApi(sleep=held) as fake:
        client = AsyncWebClient(token="xoxb-test", base_url=fake.url)
        fake.latency("auth.test", 0.2, times=1)
        slow = asyncio.create_task(client.auth_test())
        try:
            await held.holding()
            await client.auth_test()  # answered while the first is still held: once only
            assert not slow.done()
            assert len(fake.calls_to("auth.test")) == 1
        finally:
            held.release()
        await slow

    assert held.delays == [0.2]
    assert len(fake.calls_to("auth.test")) == 2


async def test_an_enforced_rate_limit_refuses_until_retry_after_has_passed(
    fake: FakeSlackApi, client: AsyncWebClient
) -> None:
    fake.rate_limit("chat.postMessage", retry_after=3600, enforce=True, channel="C1")
    fake.rate_limit("chat.postMessage", retry_after=0, enforce=True, channel="C2")
    for channel in ("C1", "C1", "C2", "C2"):
        with contextlib.suppress(SlackApiError):
            await client.chat_postMessage(channel=channel, text="x")

    statuses = [(c.channel, c.status) for c in fake.calls_to("chat.postMessage")]
    assert statuses == [("C1", 429), ("C1", 429), ("C2", 429), ("C2", 200)]


# -- response_url --------------------------------------------------------------------------------


async def test_response_url_takes_five_posts_then_refuses(fake: FakeSlackApi) -> None:
    webhook = AsyncWebhookClient(fake.response_url("cmd-1"))
    for n in range(5):
        assert (await webhook.send_dict({"text": f"reply {n}"})).status_code == 200
    sixth = await webhook.send_dict({"text": "one too many"})

    assert (sixth.status_code, sixth.body) == (404, "used_url")
    calls = fake.calls_to(RESPONSE_URL)
    assert [c.url_name for c in calls] == ["cmd-1"] * 6
    assert calls[0].body == {"text": "reply 0"}
    assert [c.ok for c in calls] == [True] * 5 + [False]
    fresh = await AsyncWebhookClient(fake.response_url()).send_dict({"text": "x"})
    assert fresh.status_code == 200


async def test_an_expired_response_url_is_refused(fake: FakeSlackApi) -> None:
    fake.expire_response_url("old")
    response = await AsyncWebhookClient(fake.response_url("old")).send_dict({"text": "x"})
    assert (response.status_code, response.body) == (404, "expired_url")


# -- wait_for ------------------------------------------------------------------------------------


async def test_wait_for_wakes_when_the_call_arrives(
    fake: FakeSlackApi, client: AsyncWebClient
) -> None:
    waiting = asyncio.create_task(fake.wait_for("chat.postMessage", count=2, timeout=5.0))
    await client.chat_postMessage(channel="C1", text="one")
    await asyncio.sleep(0)  # let the waiter see the first call
    assert not waiting.done()
    await client.chat_postMessage(channel="C1", text="two")
    calls = await waiting
    assert [c.body["text"] for c in calls] == ["one", "two"]


async def test_wait_for_applies_the_predicate(fake: FakeSlackApi, client: AsyncWebClient) -> None:
    await client.chat_postMessage(channel="C1", text="one")
    await client.chat_postMessage(channel="C2", text="two")
    calls = await fake.wait_for("chat.postMessage", predicate=lambda c: c.channel == "C2")
    assert [c.body["text"] for c in calls] == ["two"]


async def test_wait_for_timeout_lists_what_arrived(
    fake: FakeSlackApi, client: AsyncWebClient
) -> None:
    await client.auth_test()
    with pytest.raises(AssertionError) as err:
        await fake.wait_for("chat.postMessage", timeout=0.05)
    assert "got 0" in str(err.value)
    assert "auth.test -> 200" in str(err.value)


# -- what Slack sends ----------------------------------------------------------------------------


def test_slash_command_body_has_exactly_slacks_fields() -> None:
    body = slash_command_body("conn-1", response_url="http://127.0.0.1:1/response_url/r")
    fields = parse_qsl(body, keep_blank_values=True)
    assert [name for name, _ in fields] == [
        "token",
        "team_id",
        "team_domain",
        "channel_id",
        "channel_name",
        "user_id",
        "user_name",
        "command",
        "text",
        "api_app_id",
        "is_enterprise_install",
        "response_url",
        "trigger_id",
    ]
    values = dict(fields)
    assert (values["command"], values["text"], values["user_id"]) == ("/dliconn", "conn-1", "U1")


def test_signed_bodies_verify_and_fail_with_a_wrong_secret_or_a_stale_timestamp() -> None:
    body = slash_command_body("list failed")
    now = int(time.time())
    verifier = SignatureVerifier(SECRET)

    fresh = signed_headers(body, SECRET, timestamp=now)
    wrong = signed_headers(body, "not-the-secret", timestamp=now)
    stale = signed_headers(body, SECRET, timestamp=now - 360)

    assert fresh["Content-Type"] == "application/x-www-form-urlencoded"
    assert verifier.is_valid(body, fresh["X-Slack-Request-Timestamp"], fresh["X-Slack-Signature"])
    assert not verifier.is_valid(
        body, wrong["X-Slack-Request-Timestamp"], wrong["X-Slack-Signature"]
    )
    assert not verifier.is_valid(
        body, stale["X-Slack-Request-Timestamp"], stale["X-Slack-Signature"]
    )
    assert not verifier.is_valid(
        body + "x", fresh["X-Slack-Request-Timestamp"], fresh["X-Slack-Signature"]
    )


def test_event_envelope_and_events() -> None:
    mention = app_mention_event("show conn-1", thread_ts="1.1")
    envelope = json.loads(event_body(mention, event_id="Ev1"))

    assert envelope["type"] == "event_callback"
    assert envelope["event_id"] == "Ev1"
    assert envelope["authorizations"][0]["user_id"] == BOT_USER_ID
    assert envelope["event"]["text"] == f"<@{BOT_USER_ID}> show conn-1"
    assert envelope["event"]["thread_ts"] == "1.1"
    assert (
        json.loads(event_body(mention))["event_id"] != json.loads(event_body(mention))["event_id"]
    )
    assert app_mention_event(f"<@{BOT_USER_ID}> hi")["text"] == f"<@{BOT_USER_ID}> hi"

    own = message_event("alert", bot_id=BOT_ID, user=None, channel="G5", subtype="bot_message")
    assert (own["bot_id"], own["subtype"], own["channel_type"]) == (BOT_ID, "bot_message", "group")
    assert "user" not in own
    assert app_home_opened_event("U3")["type"] == "app_home_opened"
    assert signed_headers(event_body(mention), SECRET)["Content-Type"] == "application/json"


def _payload(body: str) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(parse_qs(body)["payload"][0])
    return parsed


def test_block_action_bodies_for_messages_ephemerals_and_the_home_tab() -> None:
    click = _payload(block_action_body("refresh", "conn-1", message_ts="5.5", response_url="u"))
    assert click["type"] == "block_actions"
    assert click["actions"][0]["action_id"] == "refresh"
    assert click["actions"][0]["value"] == "conn-1"
    assert click["container"] == {
        "type": "message",
        "message_ts": "5.5",
        "channel_id": "C1",
        "is_ephemeral": False,
    }
    assert (click["message"]["ts"], click["response_url"]) == ("5.5", "u")

    ephemeral = _payload(block_action_body("share", "conn-1", ephemeral=True))
    assert ephemeral["container"]["is_ephemeral"] is True
    assert "message" not in ephemeral

    home = _payload(block_action_body("watch", "conn-1", container="view"))
    assert home["container"]["type"] == "view"
    assert "response_url" not in home
    assert "channel" not in home


# -- both fakes against a real Bolt app ----------------------------------------------------------


@pytest.fixture
async def bolt_url(fake: FakeSlackApi) -> AsyncIterator[tuple[str, list[str | None]]]:
    """A Bolt AsyncApp over HTTP on an ephemeral port, its Web API pointed at the fake."""
    app = AsyncApp(
        client=AsyncWebClient(token="xoxb-test", base_url=fake.url), signing_secret=SECRET
    )
    retries: list[str | None] = []

    @app.command("/dliconn")
    async def command(ack: Any, respond: Any, command: dict[str, Any]) -> None:
        await ack()
        await respond(text=f"looked up {command['text']}")

    @app.event("app_mention")
    async def mention(say: Any, event: dict[str, Any], request: AsyncBoltRequest) -> None:
        retries.append(request.headers.get("x-slack-retry-num", [None])[0])
        await say(text="card", thread_ts=event["ts"])

    runner = web.AppRunner(app.web_app(path="/slack/events"), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}/slack/events", retries
    await runner.cleanup()


async def test_bolt_accepts_the_signed_requests_and_answers_through_the_fake(
    fake: FakeSlackApi, bolt_url: tuple[str, list[str | None]]
) -> None:
    url, retries = bolt_url
    async with SlackSender(SECRET) as slack:
        command = slash_command_body("conn-1", response_url=fake.response_url("cmd"))
        assert (await slack.post(url, command)).status_code == 200
        reply = (await fake.wait_for(RESPONSE_URL))[0]
        assert (reply.url_name, reply.body["text"]) == ("cmd", "looked up conn-1")

        mention = app_mention_event("conn-1", ts="1700000001.000001")
        assert (await slack.post(url, event_body(mention, event_id="Ev1"))).status_code == 200
        again = await slack.post(url, event_body(mention, event_id="Ev1"), retry_num=1)
        assert again.status_code == 200
        posts = await fake.wait_for("chat.postMessage", count=2)
        assert {c.body["thread_ts"] for c in posts} == {"1700000001.000001"}
        assert sorted(retries, key=str) == ["1", None]


async def test_bolt_refuses_a_wrong_secret_and_a_stale_timestamp(
    fake: FakeSlackApi, bolt_url: tuple[str, list[str | None]]
) -> None:
    url, _ = bolt_url
    body = slash_command_body("conn-1", response_url=fake.response_url())
    async with SlackSender(SECRET) as slack:
        assert (await slack.post(url, body, secret="wrong")).status_code == 401
        assert (await slack.post(url, body, age=360)).status_code == 401
    assert fake.calls_to(RESPONSE_URL) == []
