"""The guardrails' decision, as a table: every verb by default, `allow`, `operators` (users and
groups), Slack Connect under deny / read / allow, DMs, people from another organisation, and
Slack unable to say."""

from __future__ import annotations

from typing import Any, Literal

import pytest

from bot.config import VERBS, ChannelConfig, Guardrails
from bot.policy import ChannelFacts, Decision, Person, Request, Why, decide

C = "C0PAYMENTS"
ALICE, BOB, CAROL = "U0ALICE", "U0BOB", "U0CAROL"
ONCALL = "S0ONCALL"
EVERY: tuple[Request, ...] = (*VERBS, "help", "audit", "policy")
READS = ("lookup", "list", "history")
CHANGES = ("watch", "mute", "ack", "test")

internal = ChannelFacts(C, external=False)
shared = ChannelFacts(C, external=True)
unknown = ChannelFacts(C, external=None)
unseen = ChannelFacts(C, external=None, unseen="not_member")  # the bot is not in it
no_scope = ChannelFacts(C, external=None, unseen="missing_scope")  # a group DM, no mpim:read
dm = ChannelFacts("D0ALICE", external=False, private=True, own_dm=True)
shared_dm = ChannelFacts("D0ALICE", external=True, private=True, own_dm=True)
bob = Person(BOB)
alice = Person(ALICE)
oncall_bob = Person(BOB, groups=frozenset({ONCALL}))
bob_groups_unknown = Person(BOB, unknown_groups=frozenset({ONCALL}))
alice_groups_unknown = Person(ALICE, unknown_groups=frozenset({ONCALL}))
foreigner = Person(CAROL, external=True)
foreign_alice = Person(ALICE, external=True)  # an id in `operators`, but from elsewhere

everyone = ChannelConfig()
with_test = ChannelConfig(allow=[*VERBS])
read_only = ChannelConfig(allow=["lookup", "list", "history"])
oncall = ChannelConfig(operators=[ONCALL, ALICE], allow=[*VERBS])

Mode = Literal["deny", "read", "allow"]
OPERATORS = f"channels.{C}.operators"
ALLOW = f"channels.{C}.allow"
EXTERNAL = "guardrails.external_channels"
Expected = tuple[str, Why] | None  # None: allowed; else (rule, why)


def ask(
    request: Request,
    channel: ChannelFacts = internal,
    person: Person = bob,
    rules: ChannelConfig = everyone,
    mode: Mode = "deny",
) -> Decision:
    return decide(Guardrails(external_channels=mode), rules, request, channel, person)


def outcome(decision: Decision) -> Expected:
    if decision.allowed:
        assert decision.rule is None and decision.why is None
        return None
    assert decision.rule and decision.why
    return decision.rule, decision.why


# (request, channel, person, rules, mode) -> expected
# (name, request, channel, person, rules, mode, expected); typed at the test's parameters.
TABLE: list[tuple[Any, ...]] = [
    # every verb, default rules, an internal channel: all but test
    *[(f"default {v}", v, internal, bob, everyone, "deny", None) for v in EVERY if v != "test"],
    ("default test", "test", internal, bob, everyone, "deny", (ALLOW, "verb_not_allowed")),
    ("allow names test", "test", internal, bob, with_test, "deny", None),
    # allow: read-only everywhere
    *[(f"read-only {v}", v, internal, bob, read_only, "deny", None) for v in READS],
    *[
        (f"read-only {v}", v, internal, bob, read_only, "deny", (ALLOW, "verb_not_allowed"))
        for v in CHANGES
    ],
    ("read-only help", "help", internal, bob, read_only, "deny", None),
    ("read-only audit (no operators)", "audit", internal, bob, read_only, "deny", None),
    # operators: a user named, a group member, someone else, a group Slack could not list
    *[(f"operator {v}", v, internal, alice, oncall, "deny", None) for v in EVERY],
    *[(f"group member {v}", v, internal, oncall_bob, oncall, "deny", None) for v in EVERY],
    *[(f"non-operator {v}", v, internal, bob, oncall, "deny", None) for v in (*READS, "help")],
    *[
        (f"non-operator {v}", v, internal, bob, oncall, "deny", (OPERATORS, "not_operator"))
        for v in (*CHANGES, "audit")
    ],
    *[
        (
            f"group unknown {v}",
            v,
            internal,
            bob_groups_unknown,
            oncall,
            "deny",
            (OPERATORS, "groups_unknown"),
        )
        for v in CHANGES
    ],
    ("group unknown lookup", "lookup", internal, bob_groups_unknown, oncall, "deny", None),
    (
        "group unknown, named user",
        "mute",
        internal,
        Person(ALICE, unknown_groups=frozenset({ONCALL})),
        oncall,
        "deny",
        None,
    ),
    # Slack Connect: deny refuses everything, help included
    *[
        (f"connect deny {v}", v, shared, alice, oncall, "deny", (EXTERNAL, "external_channel"))
        for v in EVERY
    ],
    # read: the read verbs (and help) only
    *[(f"connect read {v}", v, shared, bob, everyone, "read", None) for v in (*READS, "help")],
    *[
        (f"connect read {v}", v, shared, alice, oncall, "read", (EXTERNAL, "external_channel"))
        for v in (*CHANGES, "audit")
    ],
    (
        "connect read, allow still applies",
        "history",
        shared,
        bob,
        ChannelConfig(allow=["lookup"]),
        "read",
        (ALLOW, "verb_not_allowed"),
    ),
    # allow: the channel's own rules, and a foreign person never passes an operators check
    *[(f"connect allow {v}", v, shared, alice, oncall, "allow", None) for v in EVERY],
    *[
        (
            f"connect allow foreigner {v}",
            v,
            shared,
            foreign_alice,
            oncall,
            "allow",
            (OPERATORS, "external_user"),
        )
        for v in (*CHANGES, "audit")
    ],
    ("connect allow foreigner reads", "lookup", shared, foreigner, oncall, "allow", None),
    ("connect allow, no operators", "watch", shared, foreigner, everyone, "allow", None),
    # Slack would not say whether the channel is shared: it counts as shared where sharing
    # matters (deny: nothing but help; read: reads only); allow: the channel's own rules
    *[
        (
            f"sharing unknown deny {v}",
            v,
            unknown,
            alice,
            oncall,
            "deny",
            (EXTERNAL, "sharing_unknown"),
        )
        for v in EVERY
        if v != "help"
    ],
    ("sharing unknown deny help", "help", unknown, alice, oncall, "deny", None),
    ("unseen deny lookup", "lookup", unseen, alice, oncall, "deny", (EXTERNAL, "sharing_unseen")),
    ("unseen read watch", "watch", unseen, alice, oncall, "read", (EXTERNAL, "sharing_unseen")),
    ("unseen read lookup", "lookup", unseen, alice, oncall, "read", None),
    ("unseen deny help", "help", unseen, alice, oncall, "deny", None),
    # the watcher's posts: kept out only where Slack says the channel is shared, under deny
    ("post shared deny", "post", shared, bob, oncall, "deny", (EXTERNAL, "external_channel")),
    ("post shared read", "post", shared, bob, oncall, "read", None),
    ("post unknown deny", "post", unknown, bob, oncall, "deny", None),
    ("post unseen deny", "post", unseen, bob, read_only, "deny", None),
    ("post internal, read-only", "post", internal, bob, read_only, "deny", None),
    *[
        (f"no scope deny {v}", v, no_scope, alice, oncall, "deny", (EXTERNAL, "sharing_no_scope"))
        for v in ("lookup", "watch", "policy")
    ],
    (
        "no scope read watch",
        "watch",
        no_scope,
        alice,
        oncall,
        "read",
        (EXTERNAL, "sharing_no_scope"),
    ),
    ("no scope read lookup", "lookup", no_scope, alice, oncall, "read", None),
    ("no scope deny help", "help", no_scope, alice, oncall, "deny", None),
    ("sharing unknown read lookup", "lookup", unknown, alice, oncall, "read", None),
    *[
        (
            f"sharing unknown read {v}",
            v,
            unknown,
            alice,
            oncall,
            "read",
            (EXTERNAL, "sharing_unknown"),
        )
        for v in (*CHANGES, "audit")
    ],
    (
        "sharing unknown read, read-only channel",
        "history",
        unknown,
        alice,
        read_only,
        "read",
        None,
    ),
    ("sharing unknown allow", "watch", unknown, alice, oncall, "allow", None),
    (
        "sharing unknown allow, not an operator",
        "watch",
        unknown,
        bob,
        oncall,
        "allow",
        (OPERATORS, "not_operator"),
    ),
    # a DM with the bot is the person's own channel: its verbs, the person its operator
    *[(f"dm {v}", v, dm, bob, everyone, "deny", None) for v in EVERY if v != "test"],
    ("dm test", "test", dm, bob, everyone, "deny", ("channels.D0ALICE.allow", "verb_not_allowed")),
    ("dm with operators set", "mute", dm, bob, oncall, "deny", None),
    (
        "dm of a foreigner",
        "mute",
        dm,
        foreigner,
        everyone,
        "deny",
        ("channels.D0ALICE.operators", "external_user"),
    ),
    (
        "dm shared externally",
        "lookup",
        shared_dm,
        bob,
        everyone,
        "deny",
        (EXTERNAL, "external_channel"),
    ),
]


@pytest.mark.parametrize(
    ("request_", "channel", "person", "rules", "mode", "expected"),
    [pytest.param(*row[1:], id=row[0]) for row in TABLE],
)
def test_decide(
    request_: Request,
    channel: ChannelFacts,
    person: Person,
    rules: ChannelConfig,
    mode: Mode,
    expected: Expected,
) -> None:
    assert outcome(ask(request_, channel, person, rules, mode)) == expected


def test_the_table_covers_every_verb_in_every_situation() -> None:
    covered: dict[str, set[Any]] = {}
    for name, request, *_ in TABLE:
        covered.setdefault(name.rsplit(" ", 1)[0], set()).add(request)
    for situation in ("default", "operator", "connect deny", "connect allow"):
        assert covered[situation] >= set(VERBS), situation


def test_a_refusal_names_who_may_and_the_rule() -> None:
    decision = ask("mute", person=bob, rules=oncall)
    assert decision.sentence == (
        f"Only members of {ONCALL} or {ALICE} may mute alerts in {C} ({OPERATORS})."
    )
    assert decision.operators == (ONCALL, ALICE)


def test_a_refusal_for_an_unlisted_group_names_the_group() -> None:
    decision = ask("ack", person=bob_groups_unknown, rules=oncall)
    assert decision.unknown_groups == (ONCALL,)
    assert f"members of {ONCALL} just now" in decision.sentence


def test_a_refusal_for_sharing_slack_would_not_describe_says_what_to_do_about_it() -> None:
    not_member = ask("lookup", unseen).sentence
    assert "it is not a member" in not_member and "Invite the bot" in not_member
    # In a conversation the bot is in but its app may not describe: no "invite", a re-install.
    no_permission = ask("lookup", no_scope).sentence
    assert "lacks the permission to see" in no_permission and "manifest.yml" in no_permission
    assert "member" not in no_permission and "Invite" not in no_permission
    assert ask("lookup", unknown).sentence.endswith(
        "try again in a minute (guardrails.external_channels)."
    )
