"""What Slack says about a request: for the guardrails, the channel's sharing (conversations.info),
the person's user groups (usergroups.users.list) and organisation; for replies, the person's
language (users.info). Briefly cached."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import ChannelConfig, Deployment, Guardrails
from bot.metrics import Metrics
from bot.policy import (
    ChannelFacts,
    Decision,
    Person,
    Request,
    Unseen,
    asks_about_operators,
    decide,
)
from bot.slack_ids import is_usergroup_id

log = logging.getLogger(__name__)

CHANNEL_TTL: Final = 60.0
GROUP_TTL: Final = 300.0
# A person's Slack language changes rarely; a failed users.info (an install without users:read)
# is remembered for a while too, so every reply does not ask again.
LOCALE_TTL: Final = 3600.0
LOCALE_FAILURE_TTL: Final = 300.0
_LOCALES_KEPT: Final = 50_000
#: The errors by which conversations.info says the bot cannot see a conversation, not that Slack
#: is failing (Slack documents these for the method): asking again soon will not change the
#: answer, and no earlier answer about the channel stands in for it.
_UNSEEN: Final[Mapping[str, Unseen]] = {
    # A private channel or group DM the bot is not in, a DM between other people, or no such
    # conversation: Slack does not tell these apart.
    "channel_not_found": "not_member",
    # A Salesforce channel of limited access the bot was not given.
    "channel_is_limited_access": "not_member",
    # The install lacks the scope for this kind of conversation (`needed` names it).
    "missing_scope": "missing_scope",
}
#: What a failed Slack call looks like from slack_sdk: an API error, or the network's.
_SLACK_FAILURES: Final = (SlackApiError, aiohttp.ClientError, TimeoutError)


@dataclass(frozen=True)
class Asking:
    """Who asks and where, read from a payload (command, event envelope or interaction)."""

    channel: str
    user: str
    #: The person's own workspace, when the payload says (None: it does not).
    user_team: str | None = None
    #: The Events API envelope's `is_ext_shared_channel` (None: not an event).
    ext_shared: bool | None = None


def asking(body: dict[str, Any], event: dict[str, Any] | None = None) -> Asking:
    """The request's channel, person and their team, from any Slack payload."""
    event = event if event is not None else body.get("event")
    if isinstance(event, dict):
        shared = body.get("is_ext_shared_channel")
        team = event.get("user_team") or event.get("team")
        return Asking(
            str(event.get("channel") or ""),
            str(event.get("user") or ""),
            str(team) if team else None,
            shared if isinstance(shared, bool) else None,
        )
    user = body.get("user")
    if isinstance(user, dict):  # an interaction: block_actions
        channel = body.get("channel") or {}
        team = user.get("team_id")
        return Asking(
            str(channel.get("id") or "") if isinstance(channel, dict) else "",
            str(user.get("id") or ""),
            str(team) if team else None,
        )
    team = body.get("user_team_id") or body.get("team_id")  # a slash command
    return Asking(
        str(body.get("channel_id") or ""),
        str(body.get("user_id") or ""),
        str(team) if team else None,
    )


def _request(method: str, **kwargs: Any) -> tuple[str, str]:
    """A Slack request as the key of the calls under way: its method and arguments. Each request
    is sent by one path only (`home_team`, or one `_fetch_…`), so its key says what answers it."""
    return method, repr(sorted(kwargs.items()))


@dataclass
class _Cached:
    value: Any
    until: float


@dataclass(frozen=True)
class _Failed:
    """A call Slack answered with an error (its code) or not at all (the exception's name)."""

    error: str
    #: The scope a `missing_scope` answer says is needed, when it says.
    needed: str | None = None


@dataclass
class SlackFacts:
    """Answers from Slack about channels and groups, cached for CHANNEL_TTL / GROUP_TTL seconds.

    conversations.info saying the bot cannot see a conversation (it is not a member, or the app
    lacks the scope) is an answer, logged at INFO and remembered for `unseen_ttl`: the channel's
    sharing is then unknown. Any other error (a rate limit, an outage) or no answer at all is
    "Slack cannot say", logged as a warning and not cached, so the next request asks again;
    meanwhile a channel's last answer (never a "cannot see") stands in for up to
    `channel_stale_max`. Without one, the channel's sharing or the group's members are unknown,
    and the policy fails closed on them.
    """

    client: AsyncWebClient
    metrics: Metrics | None = None
    clock: Callable[[], float] = time.monotonic
    #: How long a channel's last answer still stands in while Slack fails to give a new one: a
    #: channel's sharing seldom changes, and a Slack hiccup must not make every channel unknown.
    channel_stale_max: float = 3600.0
    #: "The bot cannot see this conversation" ends the moment someone invites it, as the refusal
    #: asks them to: it is remembered only so a burst of requests (a Home tab, a retried
    #: command) asks Slack once, and an invite takes effect within seconds, not a minute.
    unseen_ttl: float = 10.0
    _channels: dict[str, _Cached] = field(default_factory=dict, repr=False)
    _groups: dict[str, _Cached] = field(default_factory=dict, repr=False)
    _locales: dict[str, _Cached] = field(default_factory=dict, repr=False)
    _home_team: str | None = field(default=None, repr=False)
    # The scopes already logged as missing: one process has one SlackFacts, and an operator
    # needs the line once, not once per request in every group DM.
    _scopes_missing: set[str | None] = field(default_factory=set, repr=False)
    # Calls under way, by request (`_request`): concurrent misses share one (a burst of commands
    # in a channel not yet cached asks Slack once, not once per command).
    _asking: dict[tuple[str, str], asyncio.Future[Any]] = field(default_factory=dict, repr=False)

    def knows(self, channel: str) -> bool:
        """Whether an answer about `channel` is still fresh (`channel` would not ask Slack)."""
        cached = self._channels.get(channel)
        return cached is not None and cached.until > self.clock()

    async def channel(self, asked: Asking) -> ChannelFacts:
        cached = self._channels.get(asked.channel)
        if cached is None or cached.until <= self.clock():  # as `knows` says
            fresh: _Cached | None = await self._shared(
                _request("conversations.info", channel=asked.channel),
                lambda: self._fetch_channel(asked.channel),
            )
            if fresh is not None:
                cached = fresh
            elif (
                cached is None
                # Only an answer stands in: "cannot see" may have ended (an invite) meanwhile.
                or not isinstance(cached.value, dict)
                or cached.until + self.channel_stale_max <= self.clock()
            ):
                return ChannelFacts(asked.channel, external=asked.ext_shared)
        channel: dict[str, Any] | Unseen = cached.value
        if not isinstance(channel, dict):
            # The envelope may still know; a DM is never anyone else's without Slack saying.
            return ChannelFacts(asked.channel, external=asked.ext_shared, unseen=channel)
        external = bool(
            channel.get("is_ext_shared") or channel.get("is_pending_ext_shared") or asked.ext_shared
        )
        return ChannelFacts(
            asked.channel,
            external=external,
            private=bool(channel.get("is_private") or channel.get("is_im")),
            own_dm=bool(channel.get("is_im")) and channel.get("user") == asked.user,
        )

    async def _fetch_channel(self, channel: str) -> _Cached | None:
        """What conversations.info says about `channel` (its fields, or why the bot cannot see
        it), remembered; None when Slack is failing.

        Remembered here, in the shared call, not by its waiters: a request that stopped waiting
        still leaves the answer for the next one.
        """
        info = await self._ask(
            "conversations.info", self.client.conversations_info, _UNSEEN.keys(), channel=channel
        )
        if isinstance(info, dict):
            cached = _Cached(info.get("channel") or {}, self.clock() + CHANNEL_TTL)
        elif info.error in _UNSEEN:
            if _UNSEEN[info.error] == "missing_scope":
                self._log_missing_scope(info.needed)
            cached = _Cached(_UNSEEN[info.error], self.clock() + self.unseen_ttl)
        else:
            return None
        self._channels[channel] = cached
        return cached

    def _log_missing_scope(self, needed: str | None) -> None:
        if needed in self._scopes_missing:
            return
        self._scopes_missing.add(needed)
        log.error(
            "Slack conversations.info: the app lacks the scope %s (re-install it from "
            "manifest.yml); conversations that need it count as shared with another organisation",
            needed or "(Slack did not say which)",
        )

    async def person(
        self, asked: Asking, channel: ChannelFacts, groups: Iterable[str] = ()
    ) -> Person:
        """The person, their organisation judged against the bot's workspace, and which of
        `groups` they are in."""
        external = False
        if channel.external is not False:
            # Only a shared channel holds people of other organisations; there, a team Slack
            # does not name counts as foreign.
            home = await self.home_team()
            external = asked.user_team is None or home is None or asked.user_team != home
        member, unknown = set(), set()
        for group in groups:
            users = await self.group_members(group)
            if users is None:
                unknown.add(group)
            elif asked.user in users:
                member.add(group)
        return Person(asked.user, external, frozenset(member), frozenset(unknown))

    async def group_members(self, group: str) -> frozenset[str] | None:
        """A user group's members, or None when Slack will not say."""
        cached = self._groups.get(group)
        if cached is not None and cached.until > self.clock():
            members: frozenset[str] = cached.value
            return members
        found: frozenset[str] | None = await self._shared(
            _request("usergroups.users.list", usergroup=group), lambda: self._fetch_group(group)
        )
        return found

    async def _fetch_group(self, group: str) -> frozenset[str] | None:
        # Remembered in the shared call, as a channel's answer is.
        listed = await self._ask(
            "usergroups.users.list", self.client.usergroups_users_list, usergroup=group
        )
        if not isinstance(listed, dict):
            return None
        members = frozenset(str(u) for u in listed.get("users") or ())
        self._groups[group] = _Cached(members, self.clock() + GROUP_TTL)
        return members

    async def user_locale(self, user: str) -> str | None:
        """The person's Slack locale (`zh-CN`, `en-US`, …), or None when Slack will not say."""
        cached = self._locales.get(user)
        if cached is not None and cached.until > self.clock():
            remembered: str | None = cached.value
            return remembered
        found: str | None = await self._shared(
            _request("users.info", user=user, include_locale=True), lambda: self._fetch_locale(user)
        )
        return found

    async def _fetch_locale(self, user: str) -> str | None:
        # Remembered in the shared call, as a channel's answer is: a reply that stopped waiting
        # (Kit's deadline) still leaves it for the next one.
        found = await self._ask(
            "users.info", self.client.users_info, user=user, include_locale=True
        )
        answered = found if isinstance(found, dict) else None
        locale = ((answered or {}).get("user") or {}).get("locale")
        locale = locale if isinstance(locale, str) and locale else None
        ttl = LOCALE_TTL if answered is not None else LOCALE_FAILURE_TTL
        if len(self._locales) >= _LOCALES_KEPT:
            self._locales.clear()  # a workspace's people, many times over: start afresh
        self._locales[user] = _Cached(locale, self.clock() + ttl)
        return locale

    async def home_team(self) -> str | None:
        if self._home_team is None:
            found = await self._shared(
                _request("auth.test"), lambda: self._ask("auth.test", self.client.auth_test)
            )
            team = found.get("team_id") if isinstance(found, dict) else None
            self._home_team = str(team) if team else None
        return self._home_team

    async def _shared(self, key: tuple[str, str], ask: Callable[[], Awaitable[Any]]) -> Any:
        """`ask()`, once for all concurrent callers with the same key."""
        asking = self._asking.get(key)
        if asking is None:
            asking = asyncio.ensure_future(ask())
            self._asking[key] = asking
            asking.add_done_callback(lambda _: self._asking.pop(key, None))
        # Shielded: one request giving up must not cancel the answer the others wait for.
        return await asyncio.shield(asking)

    async def _ask(
        self, method: str, call: Any, answers: Collection[str] = (), /, **kwargs: Any
    ) -> dict[str, Any] | _Failed:
        """Slack's answer, or how it failed; `answers`: errors that are answers, not failures."""
        try:
            response = await call(**kwargs)
        except _SLACK_FAILURES as exc:
            answered = exc.response if isinstance(exc, SlackApiError) else None
            error = (
                str(answered.get("error", "unknown"))
                if answered is not None
                else type(exc).__name__
            )
            needed = answered.get("needed") if answered is not None else None
            if error in answers:
                asked = ", ".join(f"{k}={v}" for k, v in kwargs.items())
                log.info("Slack %s (%s) answered %s", method, asked, error)
            else:
                log.warning("Slack %s failed (%s): what it would say is unknown", method, error)
            if self.metrics:
                self.metrics.slack_errors.labels(method, error).inc()
            return _Failed(error, str(needed) if needed else None)
        return dict(response.data) if isinstance(response.data, dict) else {}


@dataclass(frozen=True)
class Checked:
    """A decision and the facts it was made on (`/dliconn policy` shows them)."""

    @property
    def allowed(self) -> bool:
        return self.decision.allowed

    decision: Decision
    channel: ChannelFacts
    person: Person


@dataclass(frozen=True)
class Guard:
    """The guardrails as every surface calls them: Slack's facts gathered, `decide` asked, a
    refusal logged as a warning with its rule. Without `facts` (no Slack to ask) only an event's
    envelope says whether a channel is shared; otherwise it counts as shared (bot.policy)."""

    deployment: Deployment | None = None
    facts: SlackFacts | None = None

    async def check(self, request: Request, asked: Asking, *, quiet: bool = False) -> Checked:
        """`quiet`: a refusal that answers no one (a Home tab leaving a channel out) is not
        logged."""
        rules, guardrails = self._rules(asked.channel)
        operators = rules.operators or []
        needs_person = asks_about_operators(request)
        # Groups are asked about only when they could decide: a change, by someone not named.
        groups = (
            [o for o in operators if is_usergroup_id(o)]
            if needs_person and asked.user not in operators
            else []
        )
        if self.facts is None:
            channel = ChannelFacts(asked.channel, external=asked.ext_shared)
            person = Person(
                asked.user, external=channel.external is not False, unknown_groups=frozenset(groups)
            )
        else:
            channel = await self.facts.channel(asked)
            person = await self.facts.person(asked, channel, groups)
        decision = decide(guardrails, rules, request, channel, person)
        if not decision.allowed and not quiet:
            log.warning(
                "refused %s for %s in %s by %s: %s",
                request, asked.user, asked.channel, decision.rule, decision.logged,
            )  # fmt: skip
        return Checked(decision, channel, person)

    def warming(self, asked: Asking) -> asyncio.Future[ChannelFacts] | None:
        """Ask Slack about `asked`'s channel now, so the check that follows finds the answer
        (shared while in flight, then cached); None when nothing is to ask: no facts, no
        channel, or an answer still fresh (no task then, on the hot path of every reply)."""
        facts = self.facts
        if facts is None or not asked.channel or facts.knows(asked.channel):
            return None
        return asyncio.ensure_future(facts.channel(asked))

    async def refuses_posts(self, channel: str) -> str | None:
        """The rule that keeps the watcher's posts out of `channel`, or None (bot.policy.decide,
        request "post"). Nobody asks, so no person is looked up."""
        rules, guardrails = self._rules(channel)
        asked = Asking(channel, "")
        facts = await self.facts.channel(asked) if self.facts else ChannelFacts(channel, None)
        decision = decide(guardrails, rules, "post", facts, Person(""))
        return None if decision.allowed else decision.rule

    def _rules(self, channel: str) -> tuple[ChannelConfig, Guardrails]:
        """The channel's rules and the deployment's guardrails (defaults without a file)."""
        if self.deployment is None:
            return ChannelConfig(), Guardrails()
        return self.deployment.channel(channel), self.deployment.guardrails
