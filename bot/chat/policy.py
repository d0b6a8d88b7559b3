"""`/dliconn policy`: what the channel allows, who its operators are, and what the asker may do."""

from __future__ import annotations

from dataclasses import dataclass

from bot.blocks.guardrails import policy_message
from bot.chat.replies import Reply
from bot.config import VERBS, Deployment
from bot.i18n import _
from bot.policy import ChannelFacts, Person, allow_rule, decide


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
            else _("default: every verb but {verb}").format(verb="test"),
            operators=[] if channel.own_dm else rules.operators or [],
            yours=yours,
            projects=self.deployment.visible_projects(cid),
        )
        # Never shared in the channel: it names people.
        return Reply(message, shareable=False)


def _sharing(channel: ChannelFacts, mode: str) -> str:
    """Who the channel is shared with, and what follows from it, in the reader's language."""
    if channel.own_dm:
        return _("your direct messages with the bot: you are its only operator")
    if channel.external is not False:
        rule = {
            "deny": _("the bot answers nothing here"),
            "read": _("lookups, lists and history only"),
            "allow": _("this channel's own rules apply"),
        }[mode]
        if channel.external:
            said = _("shared with another organisation (Slack Connect); {setting}: {rule}")
        elif channel.unseen == "not_member":
            said = _("unknown (the bot cannot see this conversation: invite it), so counted as "
                     "shared; {setting}: {rule}")  # fmt: skip
        elif channel.unseen == "missing_scope":
            said = _("unknown (the bot's Slack app lacks the permission to see this conversation: "
                     "re-install it from manifest.yml), so counted as shared; {setting}: "
                     "{rule}")  # fmt: skip
        else:
            said = _("unknown (Slack would not say), so counted as shared; {setting}: {rule}")
        return said.format(setting=f"external_channels = {mode}", rule=rule)
    if channel.private:
        return _("private, this organisation only")
    return _("this organisation only")
