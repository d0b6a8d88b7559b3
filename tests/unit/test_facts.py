"""What the guardrails learn from Slack (bot/slack/facts.py), against the local Slack stand-in:
cached answers, and fail-closed when Slack cannot say (errors injected on the stand-in)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Literal

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import ChannelConfig, Deployment, Guardrails, ProjectConfig
from bot.local.fake_slack import TEAM_ID, FakeSlackApi
from bot.policy import decide
from bot.slack.facts import CHANNEL_TTL, Asking, Guard, SlackFacts
from tests.fakes.dli import HeldSleep

Mode = Literal["deny", "read", "allow"]
C = "C0PAYMENTS"
ONCALL, ALICE, BOB = "S0ONCALL", "U0ALICE", "U0BOB"


def deployment(mode: Mode = "deny") -> Deployment:
    project = ProjectConfig(alias="default", project_id="0" * 32)
    rules = ChannelConfig(operators=[ONCALL])
    return Deployment(
        projects=(project,), channels={C: rules}, guardrails=Guardrails(external_channels=mode)
    )


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlackApi]:
    async with FakeSlackApi(usergroups={ONCALL: [ALICE]}) as fake:
        yield fake


def guard(slack: FakeSlackApi, mode: Mode = "deny") -> Guard:
    return Guard(deployment(mode), SlackFacts(AsyncWebClient(token="xoxb-t", base_url=slack.url)))


def clocked_guard(slack: FakeSlackApi) -> tuple[Guard, SlackFacts, list[float]]:
    """A "deny" guard whose facts read the time from `now[0]` (the list returned), from 0."""
    now = [0.0]
    facts = SlackFacts(AsyncWebClient(token="xoxb-t", base_url=slack.url), clock=lambda: now[0])
    return Guard(deployment("deny"), facts), facts, now


async def test_channel_facts_and_groups_are_cached(slack: FakeSlackApi) -> None:
    g = guard(slack)
    for _ in range(3):
        assert (await g.check("mute", Asking(C, ALICE, TEAM_ID))).allowed
    assert len(slack.calls_to("conversations.info")) == 1
    assert len(slack.calls_to("usergroups.users.list")) == 1


async def test_a_named_group_slack_cannot_list_fails_closed_and_is_asked_again(
    slack: FakeSlackApi,
) -> None:
    g = guard(slack)
    slack.fail("usergroups.users.list", "ratelimited")
    checked = await g.check("ack", Asking(C, ALICE, TEAM_ID))
    assert checked.decision.why == "groups_unknown"
    assert (await g.check("lookup", Asking(C, ALICE, TEAM_ID))).allowed  # reads follow the rule
    assert (await g.check("ack", Asking(C, ALICE, TEAM_ID))).allowed  # the failure not cached


@pytest.mark.parametrize(
    ("error", "why"),
    [
        ("ratelimited", "sharing_unknown"),
        ("channel_not_found", "sharing_unseen"),
        ("channel_is_limited_access", "sharing_unseen"),
        ("missing_scope", "sharing_no_scope"),
    ],
)
async def test_a_channel_slack_will_not_describe_counts_as_shared_where_sharing_matters(
    slack: FakeSlackApi, error: str, why: str
) -> None:
    slack.fail("conversations.info", error, times=None)
    alice = Asking(C, ALICE, TEAM_ID)
    deny, read, allow = guard(slack, "deny"), guard(slack, "read"), guard(slack, "allow")
    # deny: nothing of DLI there until Slack says, though help is answered
    for request in ("lookup", "list", "history", "watch", "policy"):
        assert (await deny.check(request, alice)).decision.why == why, request
    assert (await deny.check("help", alice)).allowed
    # read: reads, as in a shared channel; no changes
    assert (await read.check("lookup", alice)).allowed
    assert (await read.check("watch", alice)).decision.why == why
    # allow: sharing does not matter, the channel's own rules do
    assert (await allow.check("watch", alice)).allowed
    assert (await allow.check("watch", Asking(C, BOB, TEAM_ID))).decision.why == "not_operator"
    # An event's envelope still says it: a Slack Connect channel is refused outright.
    shared = Asking(C, ALICE, TEAM_ID, ext_shared=True)
    assert (await deny.check("lookup", shared)).decision.why == "external_channel"


async def test_a_conversation_the_bot_cannot_see_is_remembered_briefly_and_no_old_answer_stands_in(
    slack: FakeSlackApi,
) -> None:
    g, facts, now = clocked_guard(slack)
    alice = Asking(C, ALICE, TEAM_ID)
    assert (await g.check("lookup", alice)).allowed
    slack.fail("conversations.info", "channel_not_found", times=None)  # the bot was removed
    now[0] = CHANNEL_TTL + 1
    for _ in range(3):
        refused = (await g.check("lookup", alice)).decision
        assert refused.why == "sharing_unseen"
    assert "if you just invited it, try again in a few seconds" in refused.sentence
    now[0] += facts.unseen_ttl - 1
    assert (await g.check("lookup", alice)).decision.why == "sharing_unseen"
    assert len(slack.calls_to("conversations.info")) == 2  # asked once, then remembered
    slack.clear_faults()  # invited back: seconds later, not a minute, the bot answers
    now[0] += 2
    assert (await g.check("lookup", alice)).allowed


async def test_a_cannot_see_answer_never_stands_in_while_slack_fails(slack: FakeSlackApi) -> None:
    g, facts, now = clocked_guard(slack)
    alice = Asking(C, ALICE, TEAM_ID)
    slack.fail("conversations.info", "channel_not_found")
    assert (await g.check("lookup", alice)).decision.why == "sharing_unseen"
    # Invited meanwhile, but Slack fails when asked again: nothing is known, and the refusal
    # says to try again, not to invite the bot that is already there.
    slack.fail("conversations.info", "ratelimited", times=None)
    now[0] = facts.unseen_ttl + 1
    assert (await g.check("lookup", alice)).decision.why == "sharing_unknown"


@pytest.mark.parametrize(
    ("error", "why"),
    [("channel_not_found", "sharing_unseen"), ("missing_scope", "sharing_no_scope")],
)
async def test_an_events_envelope_still_says_whether_a_conversation_the_bot_cannot_see_is_shared(
    slack: FakeSlackApi, error: str, why: str
) -> None:
    # A mention or an incident-channel message: the Events API envelope says the conversation
    # is not shared, though conversations.info will not describe it.
    slack.fail("conversations.info", error, times=None)
    g = guard(slack, "deny")
    internal = await g.check("lookup", Asking(C, ALICE, TEAM_ID, ext_shared=False))
    assert internal.allowed and internal.channel.external is False
    # A command or a button carries no envelope: nothing says, so it counts as shared.
    assert (await g.check("lookup", Asking(C, ALICE, TEAM_ID))).decision.why == why


@pytest.mark.parametrize(
    ("error", "level"),
    [
        ("channel_not_found", logging.INFO),
        ("missing_scope", logging.INFO),
        ("ratelimited", logging.WARNING),
    ],
)
async def test_cannot_see_is_logged_as_an_answer_and_slack_failing_as_a_warning(
    slack: FakeSlackApi, caplog: pytest.LogCaptureFixture, error: str, level: int
) -> None:
    slack.fail("conversations.info", error)
    with caplog.at_level(logging.INFO, logger="bot.slack.facts"):
        await guard(slack).check("lookup", Asking(C, ALICE, TEAM_ID))
    [said] = [r for r in caplog.records if error in r.getMessage() and r.levelno < logging.ERROR]
    assert said.levelno == level
    assert ("unknown" in said.getMessage()) == (level == logging.WARNING)


async def test_a_missing_scope_is_its_own_refusal_and_logged_once_per_scope(
    slack: FakeSlackApi, caplog: pytest.LogCaptureFixture
) -> None:
    # A group DM the bot is in, with an app installed without mpim:read.
    slack.fail("conversations.info", "missing_scope", times=None, fields={"needed": "mpim:read"})
    g = guard(slack)
    with caplog.at_level(logging.ERROR, logger="bot.slack.facts"):
        for group_dm in ("G0GROUPDM1", "G0GROUPDM2", "G0GROUPDM1"):
            checked = await g.check("lookup", Asking(group_dm, ALICE, TEAM_ID))
            assert checked.decision.why == "sharing_no_scope"
            assert checked.channel.unseen == "missing_scope"
            assert "member" not in checked.decision.sentence
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "mpim:read" in errors[0].getMessage()


async def test_the_last_answer_stands_in_for_an_hour_while_slack_fails(
    slack: FakeSlackApi,
) -> None:
    g, facts, now = clocked_guard(slack)
    alice = Asking(C, ALICE, TEAM_ID)
    assert (await g.check("lookup", alice)).allowed
    slack.fail("conversations.info", "ratelimited", times=None)
    now[0] = CHANNEL_TTL + 1  # expired: Slack is asked again, fails, the last answer stands
    assert (await g.check("lookup", alice)).allowed
    now[0] = CHANNEL_TTL + facts.channel_stale_max - 1
    assert (await g.check("lookup", alice)).allowed
    assert len(slack.calls_to("conversations.info")) == 3  # a failure is not cached
    now[0] = CHANNEL_TTL + facts.channel_stale_max + 1  # too old to stand in: unknown
    assert (await g.check("lookup", alice)).decision.why == "sharing_unknown"
    slack.clear_faults()
    assert (await g.check("lookup", alice)).allowed


async def test_a_person_from_another_organisation_never_passes_an_operators_check(
    slack: FakeSlackApi,
) -> None:
    slack.share_externally(C)
    slack.usergroups[ONCALL].append("U0GUEST")
    g = guard(slack, mode="allow")
    assert (await g.check("mute", Asking(C, ALICE, TEAM_ID))).allowed
    guest = await g.check("mute", Asking(C, "U0GUEST", "T0ELSEWHERE"))
    assert guest.decision.why == "external_user" and guest.person.external
    unnamed_team = await g.check("mute", Asking(C, "U0GUEST", None))
    assert unnamed_team.decision.why == "external_user"
    assert (await g.check("lookup", Asking(C, "U0GUEST", "T0ELSEWHERE"))).allowed


async def test_the_bots_dm_with_the_asker_is_their_own_channel(slack: FakeSlackApi) -> None:
    slack.direct_message("D0ALICE", ALICE)
    g = guard(slack)
    mine = await g.check("mute", Asking("D0ALICE", ALICE, TEAM_ID))
    assert mine.allowed and mine.channel.own_dm and mine.channel.private
    # Someone else's DM (Slack would not describe it to the bot): changes fail closed.
    slack.fail("conversations.info", "channel_not_found", channel="D0OTHERS")
    assert not (await g.check("mute", Asking("D0OTHERS", BOB, TEAM_ID))).allowed


async def test_concurrent_checks_in_an_uncached_channel_ask_slack_once(
    slack: FakeSlackApi,
) -> None:
    g = guard(slack)
    checks = [g.check("mute", Asking(C, ALICE, TEAM_ID)) for _ in range(20)]

    results = await asyncio.gather(*checks)

    assert all(c.allowed for c in results)
    assert len(slack.calls_to("conversations.info")) == 1
    assert len(slack.calls_to("usergroups.users.list")) == 1


async def test_the_policy_view_knows_a_group_operator_as_one(slack: FakeSlackApi) -> None:
    # /dliconn policy says what the person may change: it needs their user groups, as a
    # change itself does (Alice is in @oncall, the channel's operators).
    checked = await guard(slack).check("policy", Asking(C, ALICE, TEAM_ID))
    assert checked.allowed and checked.person.groups == frozenset({ONCALL})
    changes = decide(
        Guardrails(), deployment().channel(C), "watch", checked.channel, checked.person
    )
    assert changes.allowed


@pytest.mark.parametrize("method", ["conversations.info", "usergroups.users.list"])
async def test_a_check_that_stops_waiting_still_leaves_slacks_answer_for_the_next(
    method: str,
) -> None:
    held = HeldSleep()
    async with FakeSlackApi(usergroups={ONCALL: [ALICE]}, sleep=held) as slack:
        slack.latency(method, 30.0, times=1)
        facts = SlackFacts(AsyncWebClient(token="xoxb-t", base_url=slack.url))
        g = Guard(deployment(), facts)
        if method != "conversations.info":
            assert (await g.check("lookup", Asking(C, ALICE, TEAM_ID))).allowed  # channel known
        # Slack is held; the one request waiting gives up (as Kit's deadline makes it) ...
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0):
                await g.check("mute", Asking(C, ALICE, TEAM_ID))
        await held.holding()
        held.release()
        # ... and nobody waits for the call any more. Once it is answered, it is remembered.
        await asyncio.gather(*facts._asking.values())
        assert (await g.check("mute", Asking(C, ALICE, TEAM_ID))).allowed
        assert len(slack.calls_to(method)) == 1
