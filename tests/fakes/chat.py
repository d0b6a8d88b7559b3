"""The chat features built from real parts over an in-process DLI, for tests that need no HTTP.

    async with chat_parts(failing(connection_id(1), "orders")) as parts:
        reply = await parts.chat.lookups.card("orders", ephemeral=True)
    assert "route table quota exceeded" in text_of(reply.message)

`MockDli` answers DliClient's show, list and connectivity-test requests through
`httpx.MockTransport` from a dict of connection payloads, the way FakeDli does over a socket
(name filter by case-insensitive substring, the tags filter, FakeDli's queues and polls for the
test, DLI's error shapes, an `X-Request-Id` on every answer); it can be told to answer every
request, one operation's or one connection's with an error, or to hold requests unanswered.
Everything else is the production part: MemoryStore, ConnectionLookup, ConnectionFinder, the
memory watch backend over the deployment's routes, and `build_chat`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final

import httpx

from bot.blocks.actions import TEST_ADDRESS_INPUT, VIEW_TEST
from bot.blocks.message import Message
from bot.blocks.render import render_text
from bot.chat.chatops import ChatOps
from bot.chat.conntest import Origin
from bot.config import (
    ChannelConfig,
    Deployment,
    Guardrails,
    ProjectConfig,
    Settings,
    load_deployment,
)
from bot.dli.client import DliClient
from bot.local.dli_rules import ConnectivityTests, ListQuery, Refusal, listed_fields, shown_fields
from bot.local.fake_dli import Operation
from bot.local.fake_slack import SlackCall
from bot.lookup.cache import ConnectionLookup, ProjectRef
from bot.lookup.finder import ConnectionFinder
from bot.lookup.projects import Directory
from bot.metrics import Metrics
from bot.services import ProjectServices, Services, assemble, project_routes
from bot.slack.app import build_chat
from bot.store import MemoryStore, SafeStore
from bot.watch.backend import WatchBackend, build_watch_backends
from bot.watch.jobs import Job
from bot.watch.routes import ProjectRoutes
from bot.watch.state import Commit, WatchStore
from bot.watch.transitions import ConnState, Incident, IncidentQueue, Meta
from tests.fakes.cache import FakeClock, connection_payload
from tests.fakes.dli import TEST_RETRY, HeldSleep, RecordingSleep

PROJECT: Final = "0123456789abcdef0123456789abcdef"
#: The second project of `two_projects`: chat_parts serves it only when told `unreachable`.
OTHER_PROJECT: Final = "f" * 32
_CONNECTIONS: Final = f"/v2.0/{PROJECT}/datasource/enhanced-connections"
_SHOW = re.compile(rf"{re.escape(_CONNECTIONS)}/(?P<id>[^/]+)")
_TEST = re.compile(
    rf"/v1\.0/{PROJECT}/queues/(?P<queue>[^/]+)/connection-test(?:/(?P<task>[^/]+))?"
)


def connection_id(n: int) -> str:
    """The n-th made-up connection id (a lower-case UUID, as DLI gives them)."""
    return f"{n:08x}-0000-4000-8000-{n:012x}"


def healthy(connection_id: str, name: str, **overrides: Any) -> dict[str, Any]:
    """A connection payload with no FAILED queue or pool."""
    queues = [{"peer_id": "peer-1", "status": "ACTIVE", "name": "adhoc", "err_msg": ""}]
    overrides.setdefault("available_queue_info", queues)
    return connection_payload(connection_id, name=name, **overrides)


def failing(connection_id: str, name: str, **overrides: Any) -> dict[str, Any]:
    """A connection payload whose queue `etl_queue` is FAILED ("route table quota exceeded")."""
    return connection_payload(connection_id, name=name, **overrides)


def dli_error(status: int, code: str, message: str, request_id: str) -> httpx.Response:
    """An error answer in DLI's (and the gateway's) shape."""
    return httpx.Response(
        status,
        json={"error_code": code, "error_msg": message},
        headers={"X-Request-Id": request_id},
    )


#: (status, error_code, error_msg) of the failures tests inject with `MockDli.fail`.
Failure = Refusal
THROTTLED: Final[Failure] = (429, "APIGW.0308", "The throttling threshold has been reached")
UNAVAILABLE: Final[Failure] = (503, "APIGW.0613", "Service temporarily unavailable")
AUTH_FAILED: Final[Failure] = (401, "APIGW.0301", "Incorrect IAM authentication information")


class MockDli(ConnectivityTests):
    """DLI's show, list and connectivity-test endpoints over a dict of connection payloads (an
    httpx handler), answering by FakeDli's rules (bot.local.dli_rules).
    """

    def __init__(
        self,
        *connections: Mapping[str, Any],
        queues: Iterable[str] = (),
        reachable: Iterable[str] = (),
        checking_polls: int = 1,
    ) -> None:
        super().__init__(queues, reachable, checking_polls)
        self.connections: dict[str, dict[str, Any]] = {str(c["id"]): dict(c) for c in connections}
        self.requests: list[httpx.Request] = []
        self._failures: dict[tuple[Operation | None, str | None], httpx.Response | Exception] = {}
        self._ids = itertools.count(1)
        self._held: HeldSleep | None = None

    def put(self, connection: Mapping[str, Any]) -> None:
        self.connections[str(connection["id"])] = dict(connection)

    def remove(self, connection_id: str) -> None:
        del self.connections[connection_id]

    def fail(
        self,
        failure: Failure,
        *,
        request_id: str,
        connection_id: str | None = None,
        operation: Operation | None = None,
    ) -> None:
        """Answer every request (or only `operation`'s, or only shows of `connection_id`) with
        `failure` until `heal()`; the most specific one answers."""
        key = ("show" if connection_id else operation, connection_id)
        self._failures[key] = dli_error(*failure, request_id)

    def explode(self, error: Exception) -> None:
        """Raise `error` inside the transport: a bug, not anything DLI could answer."""
        self._failures[None, None] = error

    def heal(self) -> None:
        self._failures.clear()

    def hold(self) -> None:
        """Keep every request from now on unanswered until `release()`: DLI that is slow."""
        self._held = HeldSleep()

    async def holding(self, count: int = 1) -> None:
        """Return once `count` requests are being held at once; AssertionError if fewer arrive."""
        assert self._held is not None, "hold() first"
        await self._held.holding(count=count)

    def release(self) -> None:
        if self._held is not None:
            self._held.release()

    @property
    def held(self) -> bool:
        """Whether a request reached DLI since `hold()` and is still unanswered."""
        return self._held is not None and self._held.held

    @property
    def paths(self) -> list[str]:
        return [r.url.path for r in self.requests]

    def test_calls(self) -> list[tuple[str, str]]:
        """(method, path) of every connectivity-test request, in order."""
        return [(r.method, r.url.path) for r in self.requests if _TEST.fullmatch(r.url.path)]

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self._held is not None:
            await self._held(0.0)
        operation, named = _operation(request)
        request_id = f"req-{next(self._ids)}"
        if operation is None:
            # An unknown path, or a method it does not take: the gateway's 404, never a fault.
            return dli_error(404, "APIGW.0101", "The API does not exist", request_id)
        failure = self._failure(operation, named.get("id"))
        if isinstance(failure, Exception):
            raise failure
        if failure is not None:
            return failure
        match operation:
            case "show":
                body = self._show(named["id"])
            case "list":
                body = self._list(request.url.params)
            case "test_create":
                body = self.start_test(named["queue"], request.content, self.connections.values())
            case "test_show":
                body = self.poll_test(named["queue"], named["task"], self.connections.values())
        if isinstance(body, tuple):
            return dli_error(*body, request_id)
        return httpx.Response(
            200, json={"is_success": True, "message": "", **body},
            headers={"X-Request-Id": request_id},
        )  # fmt: skip

    def _failure(
        self, operation: Operation, connection_id: str | None
    ) -> httpx.Response | Exception | None:
        for key in ((operation, connection_id), (operation, None), (None, None)):
            if key in self._failures:
                return self._failures[key]
        return None

    def _show(self, connection_id: str) -> dict[str, Any] | Failure:
        found = self.connections.get(connection_id)
        if found is None:
            return (400, "DLI.0002", "The enhanced datasource connection does not exist.")
        return shown_fields(found)

    def _list(self, params: httpx.QueryParams) -> dict[str, Any]:
        wanted = ListQuery.of(params)
        listed = [listed_fields(c) for c in self.connections.values() if wanted.admits(c)]
        return {"count": len(listed), "connections": listed}


def _operation(request: httpx.Request) -> tuple[Operation | None, dict[str, str]]:
    """Which of DLI's operations a request is (None: none it has), and what its path names."""
    path, method = request.url.path, request.method
    if path == _CONNECTIONS:
        return ("list" if method == "GET" else None), {}
    if shown := _SHOW.fullmatch(path):
        return ("show" if method == "GET" else None), {"id": shown["id"]}
    if tested := _TEST.fullmatch(path):
        named = {"queue": tested["queue"], "task": tested["task"] or ""}
        wanted = "POST" if tested["task"] is None else "GET"
        operation: Operation = "test_create" if tested["task"] is None else "test_show"
        return (operation if method == wanted else None), named
    return None, {}


def storage_down() -> WatchBackend:
    """The watch stores over a Redis that refuses every call at once (nothing listens on port
    1), as with Redis down: for `chat_parts(watch=...)`."""
    [dead] = build_watch_backends("redis://127.0.0.1:1/0", [(PROJECT, ProjectRoutes("default"))])
    return dead


def chat_settings(**values: Any) -> Settings:
    """Settings with only what the chat side reads, never from the developer's .env."""
    values.setdefault("dliconn_watch_all_channels", "")
    values.setdefault("dliconn_incident_channels", "")
    values.setdefault("dliconn_response_type", "ephemeral")
    return Settings(_env_file=None, **values)


def two_projects(
    channels: Mapping[str, ChannelConfig] | None = None,
    *,
    aliases: tuple[str, str] = ("default", "other"),
    guardrails: Guardrails | None = None,
) -> Deployment:
    """A deployment of two projects, PROJECT (the one chat_parts serves from MockDli) and
    OTHER_PROJECT, named `aliases`, with `channels`' rules."""
    first, second = aliases
    return Deployment(
        projects=(
            ProjectConfig(alias=first, project_id=PROJECT),
            ProjectConfig(alias=second, project_id=OTHER_PROJECT),
        ),
        channels=channels or {},
        guardrails=guardrails or Guardrails(),
    )


@dataclass
class ChatParts:
    """The features (`chat`) and the real parts under them, for a test to arrange and inspect."""

    chat: ChatOps
    dli: MockDli
    clock: FakeClock
    store: MemoryStore
    lookup: ConnectionLookup
    watch: WatchBackend
    settings: Settings
    metrics: Metrics
    directory: Directory
    #: Everything the features were built from (the deployment, the audit trail).
    services: Services


@asynccontextmanager
async def chat_parts(
    *connections: Mapping[str, Any],
    settings: Settings | None = None,
    watch: WatchBackend | None = None,
    deployment: Deployment | None = None,
    unreachable: Failure | None = None,
) -> AsyncIterator[ChatParts]:
    """`build_chat` over the production parts, DLI in-process; pass `watch` for other stores,
    `deployment` for channels' rules (its first project is the one served). With `unreachable`,
    the deployment's second project (by default `two_projects()`) is served too, by a DLI that
    answers every request with that failure (a project that cannot be asked now)."""
    settings = settings or chat_settings()
    if deployment is None:
        deployment = load_deployment(settings) if unreachable is None else two_projects()
    served = deployment.projects[0]
    clock, dli, metrics = FakeClock(), MockDli(*connections), Metrics()
    store = MemoryStore(clock=clock.monotonic)
    routes = [(PROJECT, project_routes(deployment, served.alias))]
    if unreachable is not None:
        assert watch is None, "a second project needs its own watch backend"
        other = deployment.projects[1]
        routes.append((other.project_id, project_routes(deployment, other.alias)))
    backends = [watch] if watch is not None else build_watch_backends(None, routes)
    client = _client(PROJECT, dli, metrics)
    projects = [_project(served, PROJECT, client, backends[0], store, clock, settings, metrics)]
    if unreachable is not None:

        def failed(request: httpx.Request) -> httpx.Response:
            return dli_error(*unreachable, f"req-{other.alias}")

        down = _client(other.project_id, failed, metrics)
        projects.append(
            _project(other, other.project_id, down, backends[1], store, clock, settings, metrics)
        )
    services = assemble(settings, deployment, metrics, SafeStore(store), projects)
    try:
        yield ChatParts(
            build_chat(services, clock=clock.now),
            dli,
            clock,
            store,
            projects[0].lookup,
            backends[0],
            settings,
            metrics,
            services.directory,
            services,
        )
    finally:
        for project in projects:
            await project.dli.aclose()
        await backends[0].aclose()  # the first closes them all


def _client(project_id: str, dli: Callable[[httpx.Request], Any], metrics: Metrics) -> DliClient:
    return DliClient(
        "http://dli.test",
        project_id,
        auth=None,
        transport=httpx.MockTransport(dli),
        retry=TEST_RETRY,
        sleep=RecordingSleep(),
        metrics=metrics,
    )


def _project(
    config: ProjectConfig,
    project_id: str,
    client: DliClient,
    watch: WatchBackend,
    store: MemoryStore,
    clock: FakeClock,
    settings: Settings,
    metrics: Metrics,
) -> ProjectServices:
    """One served project's production parts over `client`."""
    ref = ProjectRef(config.alias, config.region)
    lookup = ConnectionLookup(
        client,
        store,
        ttl=settings.dliconn_cache_ttl,
        stale_horizon=settings.dliconn_stale_horizon,
        negative_ttl=settings.dliconn_negative_ttl,
        clock=clock.now,
        metrics=metrics,
        project=ref,
    )
    finder = ConnectionFinder(
        client,
        lookup,
        store,
        project_id=project_id,
        name_ttl=settings.dliconn_stale_horizon,
        snapshot_ttl=settings.dliconn_cache_ttl,
        clock=clock.now,
    )
    return ProjectServices(
        ref=ref, lookup=lookup, finder=finder, config=config,
        dli=client, watch=watch, demo=False,
    )  # fmt: skip


def message_of(post: SlackCall | Mapping[str, Any]) -> Message:
    """What a post (to a response_url or chat.postMessage), or its body, or a view, carries."""
    body = post.body if isinstance(post, SlackCall) else post
    return Message(str(body.get("text", "")), list(body.get("blocks") or []))


def text_of(message: Message | SlackCall | Mapping[str, Any]) -> str:
    """What a reader sees (bot.blocks.render) of a message, a post or its body, a Home view."""
    return render_text(message if isinstance(message, Message) else message_of(message))


def buttons(message: Message) -> list[tuple[str, str | None]]:
    """Every button's (action_id, value), in order, wherever it sits in the message."""
    found: list[tuple[str, str | None]] = []
    for block in message.blocks:
        elements = block.get("elements", []) if block.get("type") == "actions" else []
        accessory = block.get("accessory")
        for element in [*elements, *([accessory] if accessory else [])]:
            if element.get("type") == "button":
                found.append((str(element["action_id"]), element.get("value")))
    return found


def address_modal(origin: Origin) -> dict[str, Any]:
    """A connectivity-test modal opened from `origin`, with its address input only: enough
    for a submission that Kit refuses in the ack (view_submission_body types into it)."""
    return {
        "type": "modal", "callback_id": VIEW_TEST, "private_metadata": origin.dumps(),
        "blocks": [{"type": "input", "block_id": TEST_ADDRESS_INPUT,
                    "element": {"type": "plain_text_input", "action_id": TEST_ADDRESS_INPUT}}],
    }  # fmt: skip


async def open_alert(state: WatchStore, connection_id: str, channel: str) -> str:
    """An open incident of the connection whose alert is posted in `channel`, as the watcher
    leaves it; returns the incident id."""
    incident = Incident(
        id=f"inc-{connection_id[:8]}", connection_id=connection_id, connection_name="orders",
        kind="failed", queues=(IncidentQueue(name="etl_queue", kind="queue", since=1.0),),
        started_at=1.0,
    )  # fmt: skip
    alert = Job(id=f"alert-{incident.id}", channel=channel, kind="alert", incident_id=incident.id)
    conn = ConnState(name="orders", status="ACTIVE", incidents={incident.id: incident})
    base = (await state.load()).version
    commit = Commit(
        base, Meta(), {connection_id: conn}, incidents={incident.id: incident}, jobs=[alert]
    )
    assert await state.commit(commit, lease_token=None)
    await state.finish(alert, posted_ts="1700000000.000100")
    return incident.id
