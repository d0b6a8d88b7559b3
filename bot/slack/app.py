"""The composition root of the Slack side: `build_app(settings, services)` returns the Bolt app."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat.audit import AuditTrail
from bot.chat.chatops import ChatOps
from bot.chat.conntest import ConnTest
from bot.chat.context import ChatContext
from bot.chat.history import ConnectionHistory
from bot.chat.home import HomeTab
from bot.chat.lookups import Lookups
from bot.chat.policy import PolicyView
from bot.chat.replies import correlation_id
from bot.chat.routing import ProjectAlerts, Routing
from bot.chat.watching import Watching
from bot.config import Settings
from bot.dli.endpoints import console_url
from bot.dli.ids import normalise_id
from bot.i18n import load_catalogues
from bot.lookup.cache import Lookup
from bot.policy import offers
from bot.services import ProjectServices, Services
from bot.slack.client import Responder, make_slack_client
from bot.slack.dedupe import EventDedupe
from bot.slack.facts import Guard, SlackFacts
from bot.slack.kit import Kit
from bot.slack.languages import Languages
from bot.watch.routes import ProjectRoutes, ProjectSubscriptions, TagSet
from handlers import register_handlers

log = logging.getLogger(__name__)


class _TokenFromEnvironmentNotice(logging.Filter):
    """Drops Bolt's start-up warning that `token` is unused because `client` was given.

    Bolt reads SLACK_BOT_TOKEN from the environment itself whenever no token is passed, and
    then warns that the client (which already carries that token) wins: a warning on every
    start that asks nothing of an operator.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


_BOLT_LOG = logging.getLogger("slack_bolt")
_BOLT_LOG.addFilter(_TokenFromEnvironmentNotice())


def build_app(
    settings: Settings,
    services: Services,
    *,
    client: AsyncWebClient | None = None,
) -> AsyncApp:
    """One Bolt app per process; tests and the console pass their own client.

    The app verifies no request signature: serve it only through bot/web.py (HTTP, which
    verifies each request before the app sees it) or Socket Mode, never on a listener of its own.
    """
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    app = AsyncApp(
        client=client or make_slack_client(token, settings.slack_api_url),
        # Listeners are split into an ack (run before the HTTP answer) and lazy work (started
        # after it), so the ack goes out as soon as the request is verified. Without this Bolt
        # polls for the ack every 10 ms, and acks queue behind replies under load.
        process_before_response=True,
        # The signature is verified once, by bot.web, on the raw bytes before anything parses
        # them; HTTP reaches this app through there alone (Socket Mode and the console are not
        # signed by Slack). Empty: Bolt would otherwise read SLACK_SIGNING_SECRET itself.
        signing_secret="",
        request_verification_enabled=False,
        logger=_BOLT_LOG,
    )
    load_catalogues()
    dedupe = EventDedupe(services.store, metrics=services.metrics)
    responder = Responder(services.metrics)
    services.on_close(responder.aclose)
    facts = SlackFacts(app.client, services.metrics)
    kit = Kit(
        build_chat(services), settings, responder, services.inflight, dedupe, services.metrics,
        guard=Guard(services.deployment, facts),
        languages=Languages(services.deployment, settings.dliconn_locale, facts),
    )  # fmt: skip
    register_handlers(app, kit)
    app.error(_report_unexpected)
    return app


async def _report_unexpected(error: Exception, body: dict[str, Any]) -> None:
    """Last resort for errors that escaped a listener: logged with a reference, never shown raw."""
    log.error(
        "unhandled error [ref %s] in a %s request",
        correlation_id(),
        body.get("type") or body.get("command") or "slack",
        exc_info=error,
    )


def build_chat(services: Services, *, clock: Callable[[], datetime] | None = None) -> ChatOps:
    """The features, each given only the parts it uses."""
    now = clock or (lambda: datetime.now(UTC))
    deployment = services.deployment

    def scope(channel: str | None) -> Sequence[str] | None:
        # None: no channel at all (the console's and the CLI's own lookups) sees every project;
        # an empty id (an interaction Slack sent without one) sees none.
        if channel is None:
            return None
        return deployment.visible_projects(channel) if channel else ()

    def watch_all(channel: str) -> list[str]:
        return [
            p.alias for p in services.projects if channel in p.watch.subscriptions.static_channels
        ]

    context = ChatContext(
        services.directory, services.subscriptions, clock=now, demo=services.demo, scope=scope
    )
    conntest = ConnTest(
        context, {p.alias: p.dli for p in services.projects}, audit=services.audit,
        sleep=services.sleep,
    )  # fmt: skip
    return ChatOps(
        lookups=Lookups(
            context,
            console_url=lambda found: _console_link(services, found),
            can_test=lambda channel: offers(deployment.channel(channel), "test"),
        ),
        watching=Watching(
            context,
            {p.alias: p.watch.state for p in services.projects},
            watch_all=watch_all,
            audit=services.audit,
        ),
        home=HomeTab(context),
        routing=Routing(context, {p.alias: _alerts_of(p) for p in services.projects}),
        policy=PolicyView(deployment),
        audit=AuditTrail(services.audit),
        history=ConnectionHistory(context, {p.alias: p.watch.state for p in services.projects}),
        conntest=conntest,
    )


def _alerts_of(project: ProjectServices) -> ProjectAlerts:
    view = project.watch.subscriptions
    routes = (
        view.routes
        if isinstance(view, ProjectSubscriptions)
        else ProjectRoutes(project.alias, watch_all=view.static_channels)
    )

    async def tagged(tags: TagSet) -> frozenset[str]:
        listed = await project.dli.list_connections(tags=dict(tags), limit=0)
        return frozenset(normalise_id(c.id) for c in listed.value.connections)

    return ProjectAlerts(routes, tagged, project.watch.state)


def _console_link(services: Services, found: Lookup) -> str | None:
    """The region's DLI console (it has no link to one connection). None for demo data (its
    connections exist nowhere real) and without a region (only an endpoint: which console?)."""
    project = services.project(found.project.alias) if found.project else services.main
    if project is None or project.demo or not project.config.region:
        return None
    return console_url(project.config.region)
