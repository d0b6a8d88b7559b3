"""The Slack surface end to end over real HTTP: /slack/events, /healthz and /metrics of `serve`.

Each test starts its own stack (tests/fakes/slack_stack.py): FakeDli, FakeSlackApi, a real Redis
under the test's key prefix and HttpServer on an ephemeral port. "Nothing else was posted" is
checked after `stack.stop()`, which waits for every reply still being composed.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from slack_sdk.signature import SignatureVerifier

from bot import web
from bot.blocks.actions import (
    ACTION_CONSOLE,
    ACTION_REFRESH,
    ACTION_SHARE,
    ACTION_SHOW,
    ACTION_WATCH,
)
from bot.chat.chatops import ChatOps
from bot.local.demo import demo_connections, demo_uuid
from bot.local.fake_dli import Fault
from bot.local.fake_slack import BOT_ID, BOT_USER_ID, SlackCall
from bot.local.wire import (
    FORM_CONTENT_TYPE,
    JSON_CONTENT_TYPE,
    Event,
    app_home_opened_event,
    app_mention_event,
    event_body,
    message_event,
    signed_headers,
    slash_command_body,
)
from tests.fakes.chat import text_of
from tests.fakes.dli import FAILING, WITHVPC, HeldSleep, dli_requests
from tests.fakes.slack_stack import SECRETS, SIGNING_SECRET, SlackStack, slack_stack
from tests.helpers import free_port
from tests.slack_limits import readable, text_objects

INCIDENT_CHANNEL = "C0INC"
ROUTINE_CHANNEL = "C_OTHER"
NEVER_LOOKED_UP = demo_uuid("connection/rds-postgres-billing")
HOSTILE_ID = "0badc0de-1111-4222-8333-444455556666"
# Everything Slack would turn into a ping, a mention or a link, plus mrkdwn formatting.
HOSTILE = "<!channel> <@U123> <http://evil|click> *bold* ~strike~ `tick` ```fence```"
# `<!date^…>` is the bot's own date formatting; anything else in <…> came from outside.
HELP_HEADLINE = "looks up DLI enhanced datasource connections"
SLACK_CONTROL = re.compile(r"<(?:!(?!date\^)|@|http)", re.IGNORECASE)


pytestmark = pytest.mark.usefixtures("isolated")


@pytest.fixture
def held() -> HeldSleep:
    return HeldSleep()


@pytest.fixture
async def held_stack(
    key_prefix: str, redis_client: aioredis.Redis, held: HeldSleep
) -> AsyncIterator[SlackStack]:
    """A stack whose DLI holds every request until the test releases `held` (or it ends)."""
    async with slack_stack(key_prefix, dli_options={"sleep": held}) as running:
        running.dli.inject(Fault.latency(2.0))
        try:
            yield running
        finally:
            held.release()


def buttons(call: SlackCall) -> list[dict[str, Any]]:
    found = []
    for block in call.body.get("blocks") or []:
        found += [e for e in block.get("elements", []) if e.get("type") == "button"]
        if block.get("accessory", {}).get("type") == "button":
            found.append(block["accessory"])
    return found


def parsed_strings(value: object) -> Iterator[str]:
    """Every string in a decoded JSON value that Slack may parse for mentions and links.

    plain_text objects (headers, button labels) and rich text `text` elements (where values sit)
    are shown literally, so they are left out.
    """
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict) and value.get("type") not in ("plain_text", "text"):
        for key, item in value.items():
            yield key
            yield from parsed_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from parsed_strings(item)


def shows_requested(stack: SlackStack, connection_id: str) -> int:
    return sum(r.path.endswith("/" + connection_id) for r in dli_requests(stack.dli))


async def expired(redis_client: aioredis.Redis, key: str) -> None:
    """Return once `key` is gone (up to 5 s)."""
    async with asyncio.timeout(5):
        # Polling, because an expiry announces nothing (keyspace events need server config).
        while await redis_client.exists(key):  # noqa: ASYNC110
            await asyncio.sleep(0.02)


# --------------------------------------------------------------------------- /dliconn


async def test_command_acks_at_once_while_dli_is_slow_then_answers_once(
    held_stack: SlackStack, held: HeldSleep
) -> None:
    stack = held_stack
    # DLI answers nothing until release(): an ack that waited for it would never come.
    ack, reply_to = await stack.command(FAILING)
    await held.holding()  # and the lookup really is stuck in DLI meanwhile
    assert stack.replies_so_far(reply_to) == []
    held.release()
    [reply] = await stack.replies(reply_to)
    await stack.stop()

    assert ack.status_code == 200
    assert ack.text == ""
    assert held.started == 1  # the lookup really was held up in DLI
    assert stack.replies_so_far(reply_to) == [reply]
    assert reply.body["response_type"] == "ephemeral"
    text = text_of(reply)
    assert "orders-mysql-peering" in text
    failed = [text.index(q) for q in ("sql_prod", "sql_batch", "spark_jobs", "flink_cdc")]
    assert max(failed) < text.index("sql_adhoc")  # the one ACTIVE queue comes last
    assert "overlaps with the CIDR block 172.16.0.0/16" in text  # sql_prod's err_msg


async def test_in_channel_response_type_applies_to_cards_but_not_help_or_errors(
    key_prefix: str, redis_client: aioredis.Redis
) -> None:
    async with slack_stack(key_prefix, DLICONN_RESPONSE_TYPE="in_channel") as stack:
        _, card_to = await stack.command(WITHVPC)
        _, help_to = await stack.command("help")
        _, missing_to = await stack.command("00000000-0000-4000-8000-000000000000")
        _, route_to = await stack.command(f"route {WITHVPC}")
        _, audit_to = await stack.command("audit")
        [card] = await stack.replies(card_to)
        [help_reply] = await stack.replies(help_to)
        [missing] = await stack.replies(missing_to)
        [route] = await stack.replies(route_to)
        [audit] = await stack.replies(audit_to)

    assert card.body["response_type"] == "in_channel"
    assert "withvpc" in text_of(card)
    # A card already in the channel needs no "Share in channel" button.
    assert ACTION_SHARE not in {b["action_id"] for b in buttons(card)}
    assert help_reply.body["response_type"] == "ephemeral"
    assert missing.body["response_type"] == "ephemeral"
    # They name people and what only operators may see: never posted to the channel.
    assert "would alert" in text_of(route)
    assert route.body["response_type"] == "ephemeral"
    assert audit.body["response_type"] == "ephemeral"


async def test_ids_match_case_insensitively_and_names_work(stack: SlackStack) -> None:
    _, by_upper_id = await stack.command(WITHVPC.upper())
    _, by_name = await stack.command("withvpc")
    [upper] = await stack.replies(by_upper_id)
    [named] = await stack.replies(by_name)

    for reply in (upper, named):
        assert "withvpc" in text_of(reply)
        assert WITHVPC in text_of(reply)
        assert ACTION_REFRESH in {b["action_id"] for b in buttons(reply)}


async def test_a_name_matching_several_connections_gets_a_shortlist(stack: SlackStack) -> None:
    _, reply_to = await stack.command("ing")  # orders-mysql-peering, rds-postgres-billing
    [reply] = await stack.replies(reply_to)

    assert "matches 2 connections" in text_of(reply)
    shows = {b["value"] for b in buttons(reply) if b["action_id"] == ACTION_SHOW}
    assert shows == {FAILING, NEVER_LOOKED_UP}


async def test_an_unknown_id_is_not_found_without_internals(stack: SlackStack) -> None:
    unknown = "00000000-0000-4000-8000-000000000000"
    _, reply_to = await stack.command(unknown)
    [reply] = await stack.replies(reply_to)

    text = text_of(reply)
    assert f"No connection {unknown} was found" in text
    assert reply.body["response_type"] == "ephemeral"
    for internal in ("Traceback", "DLI.0002", "Exception", "went wrong"):
        assert internal not in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", HELP_HEADLINE),
        ("   ", HELP_HEADLINE),
        ("!!! ???", HELP_HEADLINE),
        ("foo bar baz", 'I did not understand that: unknown command: "foo".'),
        ("x" * 4001, "I did not understand that: it is longer than 4000 characters."),
    ],
    ids=["empty", "blank", "punctuation", "unknown-command", "4001-chars"],
)
async def test_empty_garbage_and_overlong_input_get_help(
    stack: SlackStack, text: str, expected: str
) -> None:
    ack, reply_to = await stack.command(text)
    [reply] = await stack.replies(reply_to)

    assert ack.status_code == 200
    assert reply.body["response_type"] == "ephemeral"
    assert expected in text_of(reply)
    assert "/dliconn help" in text_of(reply)
    for internal in ("went wrong", "reference", "Traceback"):
        assert internal not in text_of(reply)


@pytest.mark.parametrize(
    ("text", "included", "excluded"),
    [
        ("list", ["withvpc", "orders-mysql-peering", "legacy-oracle-link"], []),
        ("list failed", ["orders-mysql-peering", "kafka-stream-pools"], ["withvpc"]),
        ("list deleted", ["legacy-oracle-link"], ["withvpc", "orders-mysql-peering"]),
    ],
)
async def test_list_commands(
    stack: SlackStack, text: str, included: list[str], excluded: list[str]
) -> None:
    _, reply_to = await stack.command(text)
    [reply] = await stack.replies(reply_to)

    listing = text_of(reply)
    assert "DLI connections" in listing
    for name in included:
        assert name in listing
    for name in excluded:
        assert name not in listing


# --------------------------------------------------------------------------- mentions


async def test_a_mention_gets_one_threaded_card_per_id_and_name(stack: SlackStack) -> None:
    mention = app_mention_event(f"look at {WITHVPC} and {FAILING.upper()} and kafka-stream-pools")
    ack = await stack.event(mention)
    cards = await stack.thread(mention["ts"], 3)
    await stack.stop()

    assert ack.status_code == 200
    assert stack.thread_so_far(mention["ts"]) == cards
    assert [c.channel for c in cards] == ["C1"] * 3
    names = ["withvpc", "orders-mysql-peering", "kafka-stream-pools"]
    assert [name in text_of(card) for card, name in zip(cards, names, strict=True)] == [True] * 3


async def test_a_connection_named_and_pasted_by_id_gets_one_card(stack: SlackStack) -> None:
    mention = app_mention_event(f"is withvpc ({WITHVPC}) ok?")
    await stack.event(mention)
    await stack.thread(mention["ts"], 1)
    await stack.stop()  # waits for every reply still being composed

    [card] = stack.thread_so_far(mention["ts"])
    assert "withvpc" in text_of(card)


async def test_a_mentioned_name_two_connections_share_asks_which_one(stack: SlackStack) -> None:
    for name in ("Prod", "prod"):
        stack.dli.put({"id": demo_uuid(f"shared-{name}"), "name": name, "status": "ACTIVE"})
    mention = app_mention_event("is prod down?")
    await stack.event(mention)
    [reply] = await stack.thread(mention["ts"], 1)

    text = text_of(reply)
    assert "matches 2 connections" in text
    assert demo_uuid("shared-Prod") in text
    assert demo_uuid("shared-prod") in text


async def test_a_mention_of_more_than_five_gets_five_cards_and_a_compact_list(
    stack: SlackStack,
) -> None:
    ids = [c["id"] for c in demo_connections()[:7]]
    mention = app_mention_event("these: " + " ".join(ids))
    await stack.event(mention)
    posts = await stack.thread(mention["ts"], 6)
    await stack.stop()

    assert len(stack.thread_so_far(mention["ts"])) == 6
    *cards, compact = posts
    assert all(ACTION_REFRESH in {b["action_id"] for b in buttons(c)} for c in cards)
    also = text_of(compact)
    assert "also mentioned" in also
    for connection in demo_connections()[5:7]:
        assert connection["name"] in also


async def test_a_mention_with_nothing_to_look_up_gets_threaded_help(stack: SlackStack) -> None:
    mention = app_mention_event("hello there")
    await stack.event(mention)
    [reply] = await stack.thread(mention["ts"])

    assert "did not see a connection id" in text_of(reply)


# --------------------------------------------------------------------------- incident channels


async def test_incident_channel_messages(key_prefix: str, redis_client: aioredis.Redis) -> None:
    async with slack_stack(key_prefix, DLICONN_INCIDENT_CHANNELS=INCIDENT_CHANNEL) as stack:
        pasted = message_event(f"queue down? {WITHVPC}", channel=INCIDENT_CHANNEL)
        ignored = [
            message_event(WITHVPC, channel=INCIDENT_CHANNEL, user=None, bot_id=BOT_ID),
            message_event(WITHVPC, channel=INCIDENT_CHANNEL, user=None, bot_id="BOTHER"),
            message_event(WITHVPC, channel=INCIDENT_CHANNEL, subtype="message_changed"),
            message_event(WITHVPC, channel=ROUTINE_CHANNEL),
        ]
        # Slack delivers both events for a message that mentions the bot in a channel it reads.
        text = f"<@{BOT_USER_ID}> {FAILING}"
        as_message = message_event(text, channel=INCIDENT_CHANNEL)
        as_mention = app_mention_event(text, channel=INCIDENT_CHANNEL, ts=as_message["ts"])

        for n, event in enumerate([pasted, *ignored, as_message, as_mention]):
            assert (await stack.event(event, event_id=f"EvINCIDENT{n}")).status_code == 200
        [card] = await stack.thread(pasted["ts"])
        [mention_card] = await stack.thread(as_mention["ts"])
        await stack.stop()

    assert "withvpc" in text_of(card)
    assert "orders-mysql-peering" in text_of(mention_card)
    assert len(stack.slack.calls_to("chat.postMessage")) == 2  # nothing for the ignored ones
    # The messages never answered were not even claimed against redelivery (a Redis write each).
    claimed = {k.decode() async for k in redis_client.scan_iter(match=f"{key_prefix}event:*")}
    assert {k.rsplit(":", 1)[1] for k in claimed} == {"EvINCIDENT0", "EvINCIDENT5", "EvINCIDENT6"}


# --------------------------------------------------------------------------- event dedupe


async def test_a_redelivered_event_is_answered_once(stack: SlackStack) -> None:
    mention = app_mention_event(WITHVPC)
    first = await stack.event(mention, event_id="EvDUPLICATE1")
    retry = await stack.event(mention, event_id="EvDUPLICATE1", retry_num=1)
    await stack.thread(mention["ts"])
    await stack.stop()

    assert first.status_code == retry.status_code == 200
    assert len(stack.thread_so_far(mention["ts"])) == 1


# Every event kind the app listens to, as its first delivery, and the Web API method it answers
# with (the app_mention above: a threaded card).
EVENT_KINDS = {
    "message": (message_event(f"queue down? {WITHVPC}", channel=INCIDENT_CHANNEL),
                "chat.postMessage"),
    "app_home_opened": (app_home_opened_event("U0HOME"), "views.publish"),
}  # fmt: skip


@pytest.mark.parametrize(("event", "answer"), EVENT_KINDS.values(), ids=EVENT_KINDS.keys())
async def test_a_redelivered_event_of_each_kind_is_answered_once(
    event: Event, answer: str, key_prefix: str, redis_client: aioredis.Redis
) -> None:
    async with slack_stack(key_prefix, DLICONN_INCIDENT_CHANNELS=INCIDENT_CHANNEL) as stack:
        first = await stack.event(event, event_id="EvREDELIVERED")
        retry = await stack.event(event, event_id="EvREDELIVERED", retry_num=1)
        await stack.slack.wait_for(answer)
        await stack.stop()

    assert first.status_code == retry.status_code == 200
    assert len(stack.slack.calls_to(answer)) == 1
    # Claimed and finished as an app_mention is.
    assert await redis_client.get(f"{key_prefix}event:v1:EvREDELIVERED") == b"done"


async def test_two_replicas_sharing_redis_answer_a_redelivery_once(stack: SlackStack) -> None:
    other = await stack.add_replica()
    mention = app_mention_event(WITHVPC)
    await stack.event(mention, event_id="EvTWOREPLICAS")
    retry = await stack.event(mention, event_id="EvTWOREPLICAS", retry_num=1, server=other)
    await stack.thread(mention["ts"])
    await stack.stop()
    await stack.stop(other)

    assert retry.status_code == 200
    assert len(stack.thread_so_far(mention["ts"])) == 1


async def test_an_event_is_claimed_with_a_lease_until_its_reply_is_out(
    held_stack: SlackStack, held: HeldSleep, redis_client: aioredis.Redis, key_prefix: str
) -> None:
    stack = held_stack
    mention = app_mention_event(WITHVPC)
    claim = f"{key_prefix}event:v1:EvLEASED"
    await stack.event(mention, event_id="EvLEASED")
    claimed, lease_ms = await redis_client.get(claim), await redis_client.pttl(claim)
    held.release()
    await stack.thread(mention["ts"])
    await stack.stop()

    assert claimed == b"processing"
    # A replica that dies mid-reply leaves a claim that runs out before Slack's 1-minute retry.
    assert 0 < lease_ms < 60_000
    assert await redis_client.get(claim) == b"done"


async def test_a_delivery_that_never_finished_is_answered_after_its_lease(
    stack: SlackStack, redis_client: aioredis.Redis, key_prefix: str
) -> None:
    # As a replica that claimed the event and died would have left it.
    claim = f"{key_prefix}event:v1:EvDIEDMIDWAY"
    await redis_client.set(claim, b"processing", px=300)
    mention = app_mention_event(WITHVPC)

    assert (await stack.event(mention, event_id="EvDIEDMIDWAY", retry_num=1)).status_code == 200
    await expired(redis_client, claim)  # the lease runs out
    assert stack.thread_so_far(mention["ts"]) == []
    await stack.event(mention, event_id="EvDIEDMIDWAY", retry_num=2)
    await stack.thread(mention["ts"])
    await stack.stop()

    assert len(stack.thread_so_far(mention["ts"])) == 1
    assert await redis_client.get(claim) == b"done"


# --------------------------------------------------------------------------- security


@pytest.mark.parametrize(
    "tampering",
    [{}, {"secret": "not-the-signing-secret"}, {"age": 360}, {"age": -360}],
    ids=["signed", "secret", "stale", "from-the-future"],
)
async def test_only_a_request_signed_with_the_secret_within_5_minutes_is_handled(
    stack: SlackStack, redis_client: aioredis.Redis, key_prefix: str, tampering: dict[str, Any]
) -> None:
    # Through the whole serve stack and the real Bolt app: whichever layer verifies, a
    # request that is not Slack's must be refused before any listener acks or claims it.
    reply_url = stack.slack.response_url()
    command = slash_command_body(WITHVPC, response_url=reply_url)
    mention = app_mention_event(WITHVPC)
    event = event_body(mention, event_id="EvSIGNED01")

    answers = [await stack.post(body, **tampering) for body in (command, event)]
    if not tampering:
        await stack.replies(reply_url.rsplit("/", 1)[1])
        await stack.thread(mention["ts"])
    await stack.stop()
    claimed = [k async for k in redis_client.scan_iter(match=f"{key_prefix}event:*")]

    if not tampering:
        assert [r.status_code for r in answers] == [200, 200]
        assert len(claimed) == 1 and len(dli_requests(stack.dli)) > 0
        return
    assert [r.status_code for r in answers] == [401, 401]
    assert all(r.json() == {"error": "invalid request"} for r in answers)
    assert stack.slack.calls == [] and claimed == []
    assert dli_requests(stack.dli) == []


@pytest.mark.parametrize("secret", [SIGNING_SECRET, "not-the-signing-secret"])
async def test_a_request_is_verified_exactly_once(
    stack: SlackStack, monkeypatch: pytest.MonkeyPatch, secret: str
) -> None:
    # Every check of a Slack signature (ours on the raw bytes, slack_sdk's in Bolt's
    # middleware) is an HMAC keyed with the signing secret: count them over one request.
    body = slash_command_body(WITHVPC, response_url=stack.slack.response_url())
    headers = signed_headers(body, secret)  # signed before counting: the test's own HMAC
    keys: list[bytes] = []
    real_new = hmac.new

    def counted(key: bytes, *args: Any, **kwargs: Any) -> hmac.HMAC:
        keys.append(key)
        return real_new(key, *args, **kwargs)

    monkeypatch.setattr(hmac, "new", counted)
    answer = await stack.http.post(stack.url(), content=body.encode(), headers=headers)
    await stack.stop()
    monkeypatch.undo()

    assert answer.status_code == (200 if secret == SIGNING_SECRET else 401)
    assert keys.count(SIGNING_SECRET.encode()) == 1


@pytest.mark.parametrize("signed", [True, False], ids=["signed", "badly-signed"])
async def test_url_verification_answers_the_challenge_only_when_signed(
    stack: SlackStack, signed: bool
) -> None:
    # What Slack sends when the Request URL is saved in the app's settings.
    challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    body = json.dumps({"token": "tok", "challenge": challenge, "type": "url_verification"})
    answer = await stack.post(body, secret=None if signed else "not-the-signing-secret")
    await stack.stop()

    if signed:
        assert (answer.status_code, answer.json()) == (200, {"challenge": challenge})
    else:
        assert answer.status_code == 401 and challenge not in answer.text
    assert stack.slack.calls == []


async def test_hostile_dli_strings_never_become_pings_mentions_or_links(
    key_prefix: str, redis_client: aioredis.Redis
) -> None:
    hostile = {
        "id": HOSTILE_ID,
        "name": "<!channel>*x*",
        "status": "ACTIVE",
        "create_time": 1_709_280_000_000,
        "available_queue_info": [
            {"name": "<@U123>", "status": "FAILED", "err_msg": HOSTILE, "peer_id": HOSTILE},
            {"name": "`q`~x~", "status": "ACTIVE", "err_msg": ""},
        ],
        "hosts": [{"name": "<http://evil|click>", "ip": "<!here>"}],
        "routes": [{"name": "<!everyone>", "cidr": HOSTILE}],
    }
    async with slack_stack(key_prefix, [*demo_connections(), hostile]) as stack:
        _, card_to = await stack.command(HOSTILE_ID)
        _, list_to = await stack.command("list failed")
        await stack.replies(card_to)
        await stack.replies(list_to)
        await stack.click(ACTION_SHARE, HOSTILE_ID)
        mention = app_mention_event(f"{HOSTILE_ID} {WITHVPC}")
        await stack.event(mention)
        await stack.thread(mention["ts"], 2)
        await stack.stop()

    received = [s for call in stack.slack.calls for s in parsed_strings(call.body)]
    # The hostile text did arrive, exactly, where Slack parses nothing.
    assert any(HOSTILE in text for call in stack.slack.calls for text in readable(call.body))
    assert [s for s in received if SLACK_CONTROL.search(s)] == []


async def test_a_card_shows_the_err_msg_exactly_and_pings_nobody(
    key_prefix: str, redis_client: aioredis.Redis
) -> None:
    err_msg = "<!channel> <@U999> <https://evil.example|click> *bold* ~strike~ `code`"
    connection = {
        "id": HOSTILE_ID,
        "name": "orders",
        "status": "ACTIVE",
        "available_queue_info": [
            {"name": "etl", "status": "FAILED", "err_msg": err_msg, "peer_id": "p"}
        ],
    }
    async with slack_stack(key_prefix, [*demo_connections(), connection]) as stack:
        _, card_to = await stack.command(HOSTILE_ID)  # signed, through the real Bolt app
        [reply] = await stack.replies(card_to)
        await stack.stop()

    blocks = reply.body["blocks"]
    codeblocks = [
        element["elements"]
        for block in blocks
        if block["type"] == "rich_text"
        for element in block["elements"]
        if element["type"] == "rich_text_preformatted"
    ]
    assert codeblocks == [[{"type": "text", "text": err_msg}]]  # byte-exact, one element
    mrkdwn = [t["text"] for t in text_objects(blocks) if t["type"] == "mrkdwn"]
    for text in [reply.body["text"], *mrkdwn]:
        assert "<!" not in text and "<@" not in text and "<http" not in text, text
    assert err_msg in text_of(reply)


# --------------------------------------------------------------------------- degraded DLI / Redis


async def test_dli_down_cold_id_is_explained(stack: SlackStack) -> None:
    stack.dli.inject(Fault.drop())
    stack.dli.inject(Fault.server_error(503))
    _, reply_to = await stack.command(NEVER_LOOKED_UP)
    [reply] = await stack.replies(reply_to)

    assert "DLI is unreachable" in text_of(reply)
    assert reply.body["response_type"] == "ephemeral"
    assert len(stack.dli_sleeps.delays) == 2  # retried, without really waiting


async def test_dli_down_serves_a_looked_up_connection_stale(
    key_prefix: str, redis_client: aioredis.Redis
) -> None:
    async with slack_stack(key_prefix, DLICONN_CACHE_TTL="0") as stack:
        _, live_to = await stack.command(WITHVPC)
        [live] = await stack.replies(live_to)
        await stack.dli.stop()
        _, stale_to = await stack.command(WITHVPC)
        [stale] = await stack.replies(stale_to)

    assert "Live from DLI" in text_of(live)
    text = text_of(stale)
    assert "withvpc" in text and "resource_mode_1" in text
    assert "Stale" in text and "DLI is unreachable" in text


async def test_dli_throttling_is_explained(stack: SlackStack) -> None:
    stack.dli.inject(Fault.throttle(retry_after=1))
    _, reply_to = await stack.command(NEVER_LOOKED_UP)
    [reply] = await stack.replies(reply_to)

    assert "DLI is throttling requests" in text_of(reply)
    assert stack.dli_sleeps.delays and min(stack.dli_sleeps.delays) >= 1  # Retry-After honoured


async def test_commands_are_answered_while_redis_is_down(key_prefix: str) -> None:
    async with slack_stack(key_prefix, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0") as stack:
        _, reply_to = await stack.command(WITHVPC)
        mention = app_mention_event(FAILING)
        await stack.event(mention)
        [reply] = await stack.replies(reply_to)
        [card] = await stack.thread(mention["ts"])
        health = await stack.http.get(stack.url("/healthz"))

    assert "withvpc" in text_of(reply)
    assert "orders-mysql-peering" in text_of(card)
    assert health.status_code == 200
    assert health.json()["checks"]["redis"].startswith("down")


# --------------------------------------------------------------------------- Slack rate limits


async def test_a_rate_limited_post_is_retried_after_retry_after(stack: SlackStack) -> None:
    # Enforced, as on Slack: a retry sooner than Retry-After would be refused with another 429.
    stack.slack.rate_limit("chat.postMessage", retry_after=1, enforce=True)
    mention = app_mention_event(WITHVPC)
    await stack.event(mention)
    await stack.slack.wait_for("chat.postMessage", predicate=lambda c: c.ok)
    await stack.stop()

    limited, delivered = stack.slack.calls_to("chat.postMessage")
    assert (limited.status, delivered.status) == (429, 200)
    assert delivered.body == limited.body


# --------------------------------------------------------------------------- buttons


async def test_refresh_replaces_the_card_with_a_live_copy(stack: SlackStack) -> None:
    _, first_to = await stack.command(WITHVPC)
    await stack.replies(first_to)
    _, cached_to = await stack.command(WITHVPC)
    [cached] = await stack.replies(cached_to)
    assert "Cached" in text_of(cached)
    shows_before = shows_requested(stack, WITHVPC)

    ack, refreshed_to = await stack.click(ACTION_REFRESH, WITHVPC)
    [refreshed] = await stack.replies(refreshed_to)

    assert ack.status_code == 200
    assert refreshed.body["replace_original"] is True
    assert "Live from DLI" in text_of(refreshed)
    assert shows_requested(stack, WITHVPC) == shows_before + 1


async def test_share_posts_in_channel_and_removes_the_private_copy(stack: SlackStack) -> None:
    ack, reply_to = await stack.click(ACTION_SHARE, FAILING)
    shared, deleted = await stack.replies(reply_to, 2)

    assert ack.status_code == 200
    assert shared.body["response_type"] == "in_channel"
    assert "orders-mysql-peering" in text_of(shared)
    assert ACTION_SHARE not in {b["action_id"] for b in buttons(shared)}
    assert deleted.body["delete_original"] is True


async def test_show_answers_with_the_chosen_card(stack: SlackStack) -> None:
    _, reply_to = await stack.click(ACTION_SHOW, NEVER_LOOKED_UP)
    [reply] = await stack.replies(reply_to)

    assert reply.body["replace_original"] is True
    assert "rds-postgres-billing" in text_of(reply)


async def test_the_watch_button_subscribes_the_channel_privately(stack: SlackStack) -> None:
    _, reply_to = await stack.click(ACTION_WATCH, WITHVPC)
    [reply] = await stack.replies(reply_to)

    assert "Watching withvpc in this channel" in text_of(reply)
    assert reply.body["response_type"] == "ephemeral"
    assert reply.body["replace_original"] is False
    watched = await stack.services.main.watch.subscriptions.channel_subscriptions("C1")
    assert [s.connection_id for s in watched] == [WITHVPC]


async def test_the_console_link_button_is_acknowledged(stack: SlackStack) -> None:
    ack, reply_to = await stack.click(ACTION_CONSOLE, "")
    await stack.stop()

    assert ack.status_code == 200
    assert stack.replies_so_far(reply_to) == []


# --------------------------------------------------------------------------- operations


async def test_health_metrics_and_no_secret_anywhere(
    stack: SlackStack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _, reply_to = await stack.command(WITHVPC)
    await stack.replies(reply_to)
    mention = app_mention_event(FAILING)
    await stack.event(mention)
    await stack.thread(mention["ts"])
    health = await stack.http.get(stack.url("/healthz"))
    metrics = await stack.http.get(stack.url("/metrics"))
    await stack.stop()

    assert health.status_code == 200
    assert health.json() == {
        "status": "ok",
        "checks": {"redis": "ok", "dli": "configured", "watch_state": "ok"},
    }
    assert metrics.headers["content-type"].startswith("text/plain")
    assert 'dliconn_lookups_total{source="live"} 2.0' in metrics.text
    assert 'dliconn_dli_request_seconds_count{operation="show"} 2.0' in metrics.text
    observed = [
        health.text,
        metrics.text,
        caplog.text,
        *(json.dumps(call.body) for call in stack.slack.calls),
    ]
    assert caplog.records  # DEBUG logging really was captured
    for secret in SECRETS:
        assert [o for o in observed if secret in o] == []


async def test_stop_waits_for_a_reply_still_being_composed(
    held_stack: SlackStack, held: HeldSleep, caplog: pytest.LogCaptureFixture
) -> None:
    stack = held_stack
    inflight = stack.services.inflight
    draining = asyncio.Event()
    wait_idle = inflight.wait_idle

    async def noted_wait_idle(seconds: float) -> bool:
        draining.set()
        return await wait_idle(seconds)

    inflight.wait_idle = noted_wait_idle  # type: ignore[method-assign]
    ack, reply_to = await stack.command(WITHVPC)
    await held.holding()
    # The sender's keep-alive connection stays open and idle: were stop() to wait for
    # idle connections, it would never reach the drain while the test holds it.
    stopping = asyncio.create_task(stack.stop())
    async with asyncio.timeout(5):  # fails a hang; not a claim about speed
        await draining.wait()
    assert not stopping.done()
    assert stack.replies_so_far(reply_to) == []
    held.release()
    await stopping
    replied = stack.replies_so_far(reply_to)

    assert ack.status_code == 200
    assert len(replied) == 1
    assert "withvpc" in text_of(replied[0])
    # The drain ended because the reply was sent, not because it gave up waiting.
    assert inflight.count == 0
    assert "still in flight" not in caplog.text


async def test_a_bug_in_a_reply_still_answers_with_a_reference_that_is_in_the_log(
    stack: SlackStack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a bug, not a DLI problem")

    monkeypatch.setattr(ChatOps, "command", broken)
    ack, reply_to = await stack.command(WITHVPC)
    [reply] = await stack.replies(reply_to)

    assert ack.status_code == 200
    text = text_of(reply)
    assert "Something went wrong" in text
    assert "Traceback" not in text
    assert "a bug, not a DLI problem" not in text
    assert reply.body["response_type"] == "ephemeral"
    [ref] = re.findall(r"\b[0-9a-f]{8}\b", text)
    assert any(ref in r.getMessage() and r.exc_info for r in caplog.records)


# --------------------------------------------------------------------------- malformed requests

DEEP = 100_000  # far past Python's recursion limit, far below the 1 MiB body limit
MALFORMED = [
    pytest.param(b"[1, 2]", JSON_CONTENT_TYPE, "not a JSON object", id="json-array"),
    pytest.param(b"null", JSON_CONTENT_TYPE, "not a JSON object", id="json-null"),
    pytest.param(b'{"type": "event_callback", "ev', JSON_CONTENT_TYPE, "not valid JSON",
                 id="truncated-json"),
    pytest.param(b"payload=%7Bnot-json", FORM_CONTENT_TYPE, "not valid JSON", id="form-payload"),
    pytest.param(b"payload=%5B1%5D", FORM_CONTENT_TYPE, "not a JSON object",
                 id="form-payload-array"),
    pytest.param(b"command=%2Fdliconn&text=\xff\xfe", FORM_CONTENT_TYPE, "not UTF-8",
                 id="not-utf8"),
    pytest.param(b"[" * DEEP + b"]" * DEEP, JSON_CONTENT_TYPE, "nested too deeply",
                 id="deeply-nested"),
]  # fmt: skip


def refusals(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "bot.web"]


def assert_refused(stack: SlackStack, caplog: pytest.LogCaptureFixture, reason: str) -> None:
    """One warning naming `reason`, no traceback, and nothing passed on to Slack or DLI."""
    [refusal] = refusals(caplog)
    assert refusal.levelno == logging.WARNING
    assert reason in refusal.getMessage()
    assert [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR] == []
    assert stack.slack.calls == []
    assert dli_requests(stack.dli) == []


@pytest.mark.parametrize(("body", "content_type", "reason"), MALFORMED)
async def test_a_signed_body_that_cannot_be_read_gets_400_and_one_warning(
    stack: SlackStack,
    caplog: pytest.LogCaptureFixture,
    body: bytes,
    content_type: str,
    reason: str,
) -> None:
    answer = await stack.post(body, headers={"Content-Type": content_type})
    await stack.stop()

    assert answer.status_code == 400
    assert answer.json() == {"error": "unreadable request body"}
    assert_refused(stack, caplog, reason)


@pytest.mark.parametrize(("body", "content_type", "reason"), MALFORMED)
@pytest.mark.parametrize(
    ("tampering", "why"),
    [
        pytest.param({}, "not signed", id="unsigned"),
        pytest.param({"secret": "not-the-signing-secret"}, "does not match", id="bad-signature"),
        pytest.param({"age": 360}, "off this host's clock", id="stale"),
        pytest.param({"timestamp": "soon"}, "not a number", id="timestamp-not-a-number"),
    ],
)
async def test_a_request_not_signed_by_slack_gets_401_before_its_body_is_read(
    stack: SlackStack,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    body: bytes,
    content_type: str,
    reason: str,
    tampering: dict[str, Any],
    why: str,
) -> None:
    def never(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the body of an unsigned request was parsed")

    monkeypatch.setattr(web, "bolt_request", never)
    headers = {"Content-Type": content_type}
    if not tampering:
        answer = await stack.http.post(stack.url(), content=body, headers=headers)
    elif "timestamp" in tampering:
        # Correctly signed, but over a timestamp that is not a number.
        stamp = tampering["timestamp"]
        signature = SignatureVerifier(SIGNING_SECRET).generate_signature(
            timestamp=stamp, body=body.decode("latin-1")
        )
        headers |= {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": str(signature)}
        answer = await stack.http.post(stack.url(), content=body, headers=headers)
    else:
        answer = await stack.post(body, headers=headers, **tampering)
    await stack.stop()

    assert answer.status_code == 401
    assert answer.json() == {"error": "invalid request"}
    assert_refused(stack, caplog, why)


@pytest.mark.parametrize("signed", [True, False], ids=["signed", "unsigned"])
async def test_an_oversized_body_gets_413_and_one_warning(
    stack: SlackStack, caplog: pytest.LogCaptureFixture, signed: bool
) -> None:
    body = slash_command_body("x" * (web.MAX_BODY_BYTES + 1))
    if signed:
        answer = await stack.post(body)
    else:
        answer = await stack.http.post(stack.url(), content=body.encode())
    await stack.stop()

    assert answer.status_code == 413
    assert_refused(stack, caplog, "over 1048576 bytes")


async def test_a_well_formed_request_is_still_answered_after_the_checks(
    stack: SlackStack, caplog: pytest.LogCaptureFixture
) -> None:
    # The pre-check accepts what Slack sends, and passes it on to Bolt as it arrived.
    _, reply_to = await stack.command(WITHVPC)
    [reply] = await stack.replies(reply_to)

    assert "withvpc" in text_of(reply)
    assert refusals(caplog) == []


async def test_healthz_answers_503_while_draining_until_the_listener_closes(
    held_stack: SlackStack, held: HeldSleep
) -> None:
    stack = held_stack
    ack, reply_to = await stack.command(WITHVPC)
    await held.holding()  # the reply is in flight, held in DLI
    stopping = asyncio.create_task(stack.stop())
    draining = await stack.http.get(stack.url("/healthz"))
    assert stack.replies_so_far(reply_to) == []  # still draining
    assert not stopping.done()
    held.release()
    await stopping
    [reply] = stack.replies_so_far(reply_to)
    with pytest.raises(httpx.ConnectError):
        await stack.http.get(stack.url("/healthz"))

    assert ack.status_code == 200
    assert draining.status_code == 503
    assert draining.json()["status"] == "unavailable"
    assert "withvpc" in text_of(reply)


@pytest.mark.parametrize(
    ("region", "console"),
    [
        (
            "cn-north-4",
            "https://console.huaweicloud.com/dli/?region=cn-north-4#/main/datasource/enhanced",
        ),
        (
            "eu-west-101",
            "https://console.eu.huaweicloud.com/dli/?region=eu-west-101#/main/datasource/enhanced",
        ),
    ],
)
async def test_every_card_links_to_its_regions_console(
    key_prefix: str, region: str, console: str
) -> None:
    async with slack_stack(key_prefix, DLI_REGION=region) as stack:
        _, reply_to = await stack.command(WITHVPC)
        mention = app_mention_event(f"is {FAILING} ok?")
        await stack.event(mention)
        [card] = await stack.replies(reply_to)
        [threaded] = await stack.thread(mention["ts"])
    for posted in (card, threaded):
        [link] = [b for b in buttons(posted) if b["action_id"] == ACTION_CONSOLE]
        assert (link["text"]["text"], link["url"]) == ("Open in console", console)


async def test_no_console_button_without_a_region(stack: SlackStack) -> None:
    # Only DLI_ENDPOINT is configured (the stack's default): which console it belongs to is unknown.
    assert stack.settings.dli_region is None
    _, reply_to = await stack.command(WITHVPC)
    [card] = await stack.replies(reply_to)
    assert ACTION_REFRESH in {b["action_id"] for b in buttons(card)}
    assert ACTION_CONSOLE not in {b["action_id"] for b in buttons(card)}
