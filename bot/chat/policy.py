"""`/dliconn policy`: what the channel allows, who its operators are, and what the asker may do."""

from __future__ import annotations

from dataclasses import dataclass

from bot.blocks.guardrails import policy_message
from bot.chat.replies import Reply
from bot.config import VERBS, Deployment
from bot.policy import ChannelFacts, Person, allow_rule, decide

_DEFAULT_RULE = "the default: every verb but test"


@dataclass(frozen=True)
class PolicyView:
    deployment: Deployment

    def describe(self, channel: ChannelFacts, person: Person) -> Reply:
        cid = channel.channel_id
        rules = self.deployment.channel(cid)
        guardrails = self.deployment.guardrails
        yours = [v for v in VERBS if decide(guardrails, rules, v, channel, person).allowed]
        message = policy_message(
            cid,
            sharing=_sharing(channel, guardrails.external_channels),
            verbs=rules.allowed_verbs,
            verbs_rule=allow_rule(cid)
            if rules.allow is not None
            else "default: every verb but test",
            operators=[] if channel.own_dm else rules.operators or [],
            yours=yours,
            projects=self.deployment.visible_projects(cid),
        )
        # Never shared in the channel: it names people.
        return Reply(message, shareable=False)


def _sharing(channel: ChannelFacts, mode: str) -> str:
    if channel.own_dm:
        return "your direct messages with the bot: you are its only operator"
    if channel.external is None:
        return "unknown (Slack would not say just now): changes are refused until it does"
    if channel.external:
        rule = {
            "deny": "the bot answers nothing here",
            "read": "lookups, lists and history only",
            "allow": "this channel's own rules apply",
        }[mode]
        return (
            f"shared with another organisation (Slack Connect); external_channels = {mode}: {rule}"
        )
    return "private, this organisation only" if channel.private else "this organisation only"
