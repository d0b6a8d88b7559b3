"""Which language a reply or a post is written in: the reader's Slack locale, else the channel's."""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import Deployment
from bot.i18n import DEFAULT_LOCALE, Locale, locale_for
from bot.slack.facts import Asking, SlackFacts


@dataclass(frozen=True)
class Languages:
    """A reply to a person follows their Slack locale (users.info, cached in SlackFacts); a post
    to a channel, and a reply when Slack will not say, the channel's `locale`, else
    DLICONN_LOCALE. Without `facts` (no Slack to ask) every reply is in the channel's."""

    deployment: Deployment | None = None
    default: Locale = DEFAULT_LOCALE
    facts: SlackFacts | None = None

    def of_channel(self, channel: str) -> Locale:
        if self.deployment is None:
            return self.default
        return self.deployment.post_locale(channel, self.default)

    async def of_reader(self, asked: Asking) -> Locale:
        if self.facts is not None and asked.user:
            slack_locale = await self.facts.user_locale(asked.user)
            if slack_locale is not None:
                return locale_for(slack_locale)
        return self.of_channel(asked.channel)
