"""The guardrails' one decision: may this person use this verb in this channel? Pure, plain data.

Every Slack surface and the console ask `decide` before they look anything up or change
anything. The facts it needs (is the channel shared with another organisation, is it the person's
own DM, which user groups the person is in) are gathered by `bot.slack.facts`; here they are
only data, so the whole policy is one table-tested function.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from bot.config import VERBS, ChannelConfig, Guardrails, Verb
from bot.i18n import DEFAULT_LOCALE, _, speaking

_FORMATTER: Final = string.Formatter()

#: What a request may be: a verb of the file, or one of the requests that show no connection
#: data (`help`, and `policy`, answered like it) or the channel's own audit trail.
#: What a request asks to do: a verb of dliconn.toml, or help, the audit trail, or the policy
#: view (`/dliconn policy`, which tells the person what they themselves may do).
#: `post`: the watcher's alerts and notices into a channel (nobody asks; see `decide`).
Request = Verb | Literal["help", "audit", "policy", "post"]

#: Verbs that only read; in a Slack Connect channel with `external_channels = "read"` these stay.
READ_VERBS: Final[frozenset[Request]] = frozenset({"lookup", "list", "history"})
#: Verbs that change something; with `operators`, only operators may use them, and every use is
#: audited.
GUARDED_VERBS: Final[frozenset[Verb]] = frozenset({"watch", "mute", "ack", "test"})
#: Requests for operators only: the changes, and the trail of them (it names people).
OPERATOR_REQUESTS: Final[frozenset[Request]] = frozenset({*GUARDED_VERBS, "audit"})


def asks_about_operators(request: Request) -> bool:
    """Whether the person's operator standing (their user groups) is needed to answer: for an
    operator request, and for the policy view, which says what the person may change."""
    return request in OPERATOR_REQUESTS or request == "policy"


def verb_phrase(request: Request) -> str:
    """How a verb reads in a refusal, in the reader's language: "Only members of @oncall may
    <phrase> in #payments"."""
    return {
        "lookup": _("look connections up"),
        "list": _("list connections"),
        "history": _("see a connection's history"),
        "watch": _("watch or unwatch connections"),
        "mute": _("mute alerts"),
        "ack": _("acknowledge alerts"),
        "test": _("run connectivity tests"),
        "help": _("ask the bot anything"),
        "audit": _("see the audit trail"),
        "policy": _("see what this channel allows"),
        "post": _("post alerts"),
    }[request]


Why = Literal[
    "external_channel",  # a Slack Connect channel under external_channels = "deny" / "read"
    "verb_not_allowed",  # the channel's `allow` (or the default) leaves the verb out
    "sharing_unknown",  # Slack would not say just now whether it is shared: treated as shared
    "sharing_unseen",  # the bot cannot see the conversation, so nor whether it is shared
    "sharing_no_scope",  # the app lacks the scope to describe this kind of conversation
    "external_user",  # a person from another organisation never passes an operators check
    "not_operator",  # `operators` is set and the person is not one of them
    "groups_unknown",  # Slack would not list an operators group: fail closed
]


#: Why Slack says the bot cannot see a conversation: it is not a member (a private channel or
#: group DM it was not invited to, a DM between other people), or the app lacks the scope for
#: that kind of conversation (a group DM without `mpim:read`, an install older than a scope).
Unseen = Literal["not_member", "missing_scope"]


@dataclass(frozen=True)
class ChannelFacts:
    """What Slack says about a channel. `external` None: Slack would not say."""

    channel_id: str
    external: bool | None = False
    private: bool = False
    #: A direct message with the bot whose other member is the person asking.
    own_dm: bool = False
    #: Slack says the bot cannot see the conversation, and why (then `external` is None unless
    #: an event's envelope said); None: it can, or Slack would not say.
    unseen: Unseen | None = None


@dataclass(frozen=True)
class Person:
    """Who asks: their id, whether they belong to another organisation, and their user groups
    among the ones that matter (`unknown_groups`: groups Slack would not list just now)."""

    user_id: str
    external: bool = False
    groups: frozenset[str] = frozenset()
    unknown_groups: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Decision:
    """allowed, or refused by `rule` (a dotted key of dliconn.toml) for reason `why`."""

    allowed: bool
    request: Request
    channel_id: str
    rule: str | None = None
    why: Why | None = None
    #: The channel's operators, for "Only members of … may …".
    operators: tuple[str, ...] = field(default_factory=tuple)
    unknown_groups: tuple[str, ...] = field(default_factory=tuple)

    @property
    def sentence(self) -> str:
        """The refusal in one plain sentence (ids as they are) naming its rule, in the current
        language: for the fallback text and wherever it is shown. `logged` is the log's."""
        if self.allowed:
            return _("allowed")
        text = "".join(p if isinstance(p, str) else _(" or ").join(p.ids) for p in self.parts())
        return _("{refusal} ({rule}).").format(refusal=text, rule=self.rule)

    @property
    def logged(self) -> str:
        """`sentence` in English, whoever asked: for the operators' log."""
        with speaking(DEFAULT_LOCALE):
            return self.sentence

    def parts(self) -> list[str | Ids]:
        """The refusal's words in the current language, with the ids (channel, people, groups)
        apart for the builder. Rendered when shown: the decision itself holds only its rule,
        reason and ids."""
        match self.why:
            case "external_channel":
                template = _("{channel} is shared with another organisation (Slack Connect), so "
                             "the bot may not {action} here")  # fmt: skip
            case "verb_not_allowed":
                template = _("This channel may not {action}")
            case "sharing_unknown":
                template = _("Slack would not say just now whether {channel} is shared with "
                             "another organisation, so the bot may not {action} here; try again "
                             "in a minute")  # fmt: skip
            case "sharing_unseen":
                template = _("The bot cannot see {channel} (it is not a member, or this is a "
                             "direct message between people), so it cannot tell whether it is "
                             "shared with another organisation and may not {action} here. Invite "
                             "the bot (if you just invited it, try again in a few seconds), or "
                             "ask in a channel it is in")  # fmt: skip
            case "sharing_no_scope":
                template = _("The bot's Slack app lacks the permission to see {channel} "
                             "(re-install it from manifest.yml), so it cannot tell whether it is "
                             "shared with another organisation and may not {action} "
                             "here")  # fmt: skip
            case "groups_unknown":
                template = _("Slack would not list the members of {groups} just now, so only the "
                             "operators named directly may {action} in {channel}")  # fmt: skip
            case "external_user":
                template = _("People from another organisation may not {action} in {channel}")
            case _:
                template = _("Only members of {people} may {action} in {channel}")
        slots: dict[str, str | Ids] = {
            "action": verb_phrase(self.request),
            "channel": Ids((self.channel_id,)),
            "people": Ids(self.operators),
            "groups": Ids(self.unknown_groups),
        }
        parts: list[str | Ids] = []
        for literal, name, _spec, _conversion in _FORMATTER.parse(template):
            for part in ([literal] if literal else []) + ([slots[name]] if name else []):
                if isinstance(part, str) and parts and isinstance(parts[-1], str):
                    parts[-1] += part
                else:
                    parts.append(part)
        return parts


@dataclass(frozen=True)
class Ids:
    """Slack ids inside a refusal: a channel, or people and groups joined with "or"."""

    ids: tuple[str, ...]


def operator_rule(channel_id: str) -> str:
    return f"channels.{channel_id}.operators"


def allow_rule(channel_id: str) -> str:
    return f"channels.{channel_id}.allow"


EXTERNAL_RULE: Final = "guardrails.external_channels"
#: The refusal for a channel whose sharing is unknown, by why Slack would not describe it.
_UNSURE: Final[dict[Unseen | None, Why]] = {
    "not_member": "sharing_unseen",
    "missing_scope": "sharing_no_scope",
    None: "sharing_unknown",
}


def offers(rules: ChannelConfig, verb: Verb) -> bool:
    """Whether a channel's cards and alerts offer a button for `verb` (one not offered by
    default, like `test`): its `allow` names it. Who may press it is `decide`d when pressed."""
    return verb in rules.allowed_verbs


def decide(
    guardrails: Guardrails,
    rules: ChannelConfig,
    request: Request,
    channel: ChannelFacts,
    person: Person,
) -> Decision:
    """Allow, or refuse with the rule that refused and why. Order: the Slack Connect rule, the
    channel's verbs, then (for changes and the audit trail) who the person is."""
    cid = channel.channel_id
    operators = tuple(rules.operators or ())

    def refuse(rule: str, why: Why, unknown: Sequence[str] = ()) -> Decision:
        return Decision(False, request, cid, rule, why, operators, tuple(unknown))

    guarded = request in OPERATOR_REQUESTS
    mode = guardrails.external_channels
    if request == "post":
        # An alert is kept out only where Slack says the channel is shared: one Slack will not
        # describe (the bot not in it, a scope missing, Slack failing) still gets it, so a
        # Slack hiccup cannot swallow an alert.
        if channel.external and mode == "deny":
            return refuse(EXTERNAL_RULE, "external_channel")
        return Decision(True, request, cid)
    if channel.external is not False and mode != "allow":
        # Sharing unknown (a conversation the bot cannot see, or Slack failing with nothing
        # remembered) counts as shared: the guardrail keeps data out when unsure. Help, which
        # shows nothing of DLI, is still answered there, and the refusal says what to do.
        said = channel.external is not None
        if (mode == "deny" and (said or request != "help")) or (mode == "read" and guarded):
            return refuse(EXTERNAL_RULE, "external_channel" if said else _UNSURE[channel.unseen])
    if request in VERBS and request not in rules.allowed_verbs:
        return refuse(allow_rule(cid), "verb_not_allowed")
    if not guarded:
        return Decision(True, request, cid)
    if person.external and (operators or channel.own_dm):
        return refuse(operator_rule(cid), "external_user")
    if not operators or channel.own_dm:
        # No operators: everyone may (the contract's default). A DM with the bot is the
        # person's own channel: they are its operator.
        return Decision(True, request, cid)
    if person.user_id in operators or person.groups & set(operators):
        return Decision(True, request, cid)
    unknown = sorted(person.unknown_groups & set(operators))
    if unknown:
        return refuse(operator_rule(cid), "groups_unknown", unknown)
    return refuse(operator_rule(cid), "not_operator")
