"""`/dliconn policy` over the real deployment rules: how the channel is shared, its verbs and the
rule that sets them, its operators (people and groups), what the asker may use, its projects."""

from __future__ import annotations

from typing import Literal

import pytest

from bot.chat.parsing import parse_command
from bot.chat.replies import Reply
from bot.config import ChannelConfig, Deployment, Guardrails
from bot.policy import ChannelFacts, Person, Unseen
from tests.fakes.chat import chat_parts, text_of, two_projects
from tests.slack_limits import rich_elements

OPS = "C0OPS"  # operators, its own verbs, one project
NOWHERE = "C0NOWHERE"  # sees no project
PLAIN = "C0PLAIN"  # not in the file: the defaults
ALICE, BOB = "U0ALICE", "U0BOB"
ONCALL = "S0ONCALL"
CHANNELS = {
    OPS: ChannelConfig(
        operators=[ALICE, ONCALL], allow=["lookup", "watch", "test"], projects=["staging"]
    ),
    NOWHERE: ChannelConfig(projects=[]),
}
External = Literal["deny", "read", "allow"]


def deployment(external_channels: External = "deny") -> Deployment:
    return two_projects(
        CHANNELS,
        aliases=("prod", "staging"),
        guardrails=Guardrails(external_channels=external_channels),
    )


async def policy(
    channel: ChannelFacts, person: Person, *, external_channels: External = "deny"
) -> Reply:
    """The answer to `/dliconn policy`, asked as `person` in `channel`."""
    async with chat_parts(deployment=deployment(external_channels)) as parts:
        return await parts.chat.command(
            parse_command("policy"), ephemeral=True, channel=channel.channel_id,
            user=person.user_id, facts=(channel, person),
        )  # fmt: skip


def line(reply: Reply, start: str) -> str:
    [found] = [x for x in text_of(reply.message).splitlines() if x.startswith(start)]
    return found.removeprefix(start)


async def test_a_channel_without_rules_gets_the_defaults_and_every_project() -> None:
    reply = await policy(ChannelFacts(PLAIN), Person(BOB))
    assert not reply.shareable  # it names people: never posted for the channel
    assert text_of(reply.message).startswith(f"🛡️ What #{PLAIN} allows")
    assert line(reply, "Sharing: ") == "this organisation only"
    assert line(reply, "Verbs: ") == (
        "lookup, list, history, watch, mute, ack (default: every verb but test)"
    )
    assert line(reply, "Watch, unwatch, mute, ack, test and the audit trail: ") == (
        "anyone here (no operators are set)"
    )
    assert line(reply, "You may use: ") == "lookup, list, history, watch, mute, ack"
    assert line(reply, "Projects: ") == "prod, staging"
    assert reply.message.text == f"What {PLAIN} allows"


async def test_operators_people_and_groups_are_named_with_the_key_that_sets_them() -> None:
    reply = await policy(ChannelFacts(OPS, private=True), Person(BOB))
    assert line(reply, "Sharing: ") == "private, this organisation only"
    assert line(reply, "Verbs: ") == f"lookup, watch, test (channels.{OPS}.allow)"
    assert line(reply, "Watch, unwatch, mute, ack, test and the audit trail: ") == (
        f"only @{ALICE}, @{ONCALL} (channels.{OPS}.operators)"
    )
    assert line(reply, "Projects: ") == "staging"
    # Slack shows them as names: a user and a user group, never pinged (the reply is private).
    elements = rich_elements(reply.message.blocks)
    people = [e for e in elements if e["type"] in ("user", "usergroup")]
    assert people == [
        {"type": "user", "user_id": ALICE},
        {"type": "usergroup", "usergroup_id": ONCALL},
    ]
    verbs = [e["text"] for e in elements if e.get("style") == {"code": True}]
    assert verbs[:3] == ["lookup", "watch", "test"]


@pytest.mark.parametrize(
    ("person", "yours"),
    [
        (Person(BOB), "lookup"),  # not an operator: reads only
        (Person(ALICE), "lookup, watch, test"),
        (Person(BOB, groups=frozenset({ONCALL})), "lookup, watch, test"),
        # Slack would not list the group just now: fail closed.
        (Person(BOB, unknown_groups=frozenset({ONCALL})), "lookup"),
        (Person(ALICE, external=True), "lookup"),  # another organisation's person
    ],
)
async def test_what_the_asker_may_use_follows_who_they_are(person: Person, yours: str) -> None:
    reply = await policy(ChannelFacts(OPS), person)
    assert line(reply, "You may use: ") == yours
    # The channel's rules read the same whoever asks.
    assert line(reply, "Verbs: ") == f"lookup, watch, test (channels.{OPS}.allow)"


@pytest.mark.parametrize(
    ("mode", "rule", "yours"),
    [
        ("deny", "the bot answers nothing here", "nothing"),
        ("read", "lookups, lists and history only", "lookup, list, history"),
        ("allow", "this channel's own rules apply", "lookup, list, history, watch, mute, ack"),
    ],
)
async def test_a_slack_connect_channel_says_the_external_rule_and_what_follows(
    mode: External, rule: str, yours: str
) -> None:
    reply = await policy(ChannelFacts(PLAIN, external=True), Person(BOB), external_channels=mode)
    assert line(reply, "Sharing: ") == (
        f"shared with another organisation (Slack Connect); external_channels = {mode}: {rule}"
    )
    assert line(reply, "You may use: ") == yours


async def test_sharing_slack_would_not_tell_counts_as_shared() -> None:
    reply = await policy(ChannelFacts(PLAIN, external=None), Person(BOB))
    assert line(reply, "Sharing: ") == (
        "unknown (Slack would not say), so counted as shared; external_channels = deny: "
        "the bot answers nothing here"
    )
    assert line(reply, "You may use: ") == "nothing"
    read = await policy(ChannelFacts(PLAIN, external=None), Person(BOB), external_channels="read")
    assert line(read, "You may use: ") == "lookup, list, history"


@pytest.mark.parametrize(
    ("unseen", "why"),
    [
        ("not_member", "the bot cannot see this conversation: invite it"),
        (
            "missing_scope",
            "the bot's Slack app lacks the permission to see this conversation: re-install it "
            "from manifest.yml",
        ),
    ],
)
async def test_sharing_unknown_because_the_bot_cannot_see_says_what_to_do(
    unseen: Unseen, why: str
) -> None:
    channel = ChannelFacts(PLAIN, external=None, unseen=unseen)
    reply = await policy(channel, Person(BOB), external_channels="read")
    assert line(reply, "Sharing: ") == (
        f"unknown ({why}), so counted as shared; external_channels = read: "
        "lookups, lists and history only"
    )
    assert line(reply, "You may use: ") == "lookup, list, history"


async def test_the_command_without_facts_treats_sharing_as_unknown() -> None:
    async with chat_parts(deployment=deployment()) as parts:
        reply = await parts.chat.command(
            parse_command("policy"), ephemeral=True, channel=PLAIN, user=BOB
        )
    assert line(reply, "Sharing: ").startswith("unknown (Slack would not say)")
    assert line(reply, "You may use: ") == "nothing"


async def test_the_askers_own_dm_makes_them_its_operator_whatever_the_file_says() -> None:
    dm = "D0ALICE"
    rules = {**CHANNELS, dm: ChannelConfig(operators=[BOB])}
    async with chat_parts(deployment=deployment().model_copy(update={"channels": rules})) as parts:
        reply = parts.chat.policy.describe(ChannelFacts(dm, own_dm=True), Person(ALICE))
    assert line(reply, "Sharing: ") == (
        "your direct messages with the bot: you are its only operator"
    )
    assert line(reply, "Watch, unwatch, mute, ack, test and the audit trail: ") == (
        "anyone here (no operators are set)"
    )
    assert BOB not in text_of(reply.message)
    assert line(reply, "You may use: ") == "lookup, list, history, watch, mute, ack"


async def test_a_channel_that_sees_no_project_says_none() -> None:
    reply = await policy(ChannelFacts(NOWHERE), Person(BOB))
    assert line(reply, "Projects: ") == "none"
    assert line(reply, "Verbs: ") == (
        "lookup, list, history, watch, mute, ack (default: every verb but test)"
    )


async def test_a_channel_that_allows_nothing_says_so() -> None:
    rules = {**CHANNELS, PLAIN: ChannelConfig(allow=[])}
    async with chat_parts(deployment=deployment().model_copy(update={"channels": rules})) as parts:
        reply = parts.chat.policy.describe(ChannelFacts(PLAIN), Person(BOB))
    assert line(reply, "Verbs: ") == f"none (channels.{PLAIN}.allow)"
    assert line(reply, "You may use: ") == "nothing"
