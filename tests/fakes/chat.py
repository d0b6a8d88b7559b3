"""The chat features built from real parts over an in-process DLI, for tests that need no HTTP.

    async with chat_parts(failing(connection_id(1), "orders")) as parts:
        reply = await parts.chat.lookups.card("orders", ephemeral=True)
    assert "route table quota exceeded" in text_of(reply.message)

`MockDli` answers DliClient's show and list requests through `httpx.MockTransport` from a dict
of connection payloads, the way FakeDli does over a socket (name filter by case-insensitive
substring, DLI's error shapes, an `X-Request-Id` on every answer), and can be told to answer
every request, or one connection's, with an error. Everything else is the production part:
MemoryStore, ConnectionLookup, ConnectionFinder, the memory watch backend and `build_chat`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final

import httpx

from bot.blocks.message import Message
from bot.blocks.render import render_text
from bot.chat.chatops import ChatOps
from bot.config import Deployment, Settings, load_deployment
from bot.dli.client import DliClient
from bot.lookup.cache import ConnectionLookup, ProjectRef
from bot.lookup.finder import ConnectionFinder
from bot.lookup.projects import Directory
from bot.metrics import Metrics
from bot.services import ProjectServices, Services, assemble, project_routes
from bot.slack.app import build_chat
from bot.store import MemoryStore, SafeStore
from bot.watch.backend import WatchBackend, build_watch_backends
from bot.watch.jobs import Job
from bot.watch.state import Commit, WatchStore
from bot.watch.transitions import ConnState, Incident, IncidentQueue, Meta
from tests.fakes.cache import FakeClock, connection_payload
from tests.fakes.dli import TEST_RETRY, RecordingSleep

PROJECT: Final = "0123456789abcdef0123456789abcdef"
_SHOW = re.compile(rf"/v2\.0/{PROJECT}/datasource/enhanced-connections/(?P<id>[^/]+)")
_LIST = f"/v2.0/{PROJECT}/datasource/enhanced-connections"


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
Failure = tuple[int, str, str]
THROTTLED: Final[Failure] = (429, "APIGW.0308", "The throttling threshold has been reached")
UNAVAILABLE: Final[Failure] = (503, "APIGW.0613", "Service temporarily unavailable")
AUTH_FAILED: Final[Failure] = (401, "APIGW.0301", "Incorrect IAM authentication information")


class MockDli:
    """DLI's show and list endpoints over a dict of connection payloads (an httpx handler)."""

    def __init__(self, *connections: Mapping[str, Any]) -> None:
        self.connections: dict[str, dict[str, Any]] = {str(c["id"]): dict(c) for c in connections}
        self.requests: list[httpx.Request] = []
        self._failures: dict[str | None, httpx.Response | Exception] = {}
        self._ids = itertools.count(1)

    def put(self, connection: Mapping[str, Any]) -> None:
        self.connections[str(connection["id"])] = dict(connection)

    def remove(self, connection_id: str) -> None:
        del self.connections[connection_id]

    def fail(self, failure: Failure, *, request_id: str, connection_id: str | None = None) -> None:
        """Answer every request (or only shows of `connection_id`) with `failure` until
        `heal()`."""
        self._failures[connection_id] = dli_error(*failure, request_id)

    def explode(self, error: Exception) -> None:
        """Raise `error` inside the transport: a bug, not anything DLI could answer."""
        self._failures[None] = error

    def heal(self) -> None:
        self._failures.clear()

    @property
    def paths(self) -> list[str]:
        return [r.url.path for r in self.requests]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        shown = _SHOW.fullmatch(request.url.path)
        key = shown.group("id") if shown else None
        failure = self._failures.get(key) if key in self._failures else self._failures.get(None)
        if isinstance(failure, Exception):
            raise failure
        if failure is not None:
            return failure
        request_id = f"req-{next(self._ids)}"
        if shown:
            found = self.connections.get(shown.group("id"))
            if found is None:
                return dli_error(
                    400, "DLI.0002", "The enhanced datasource connection does not exist.",
                    request_id,
                )  # fmt: skip
            body = {"is_success": True, "message": "", **found}
            return httpx.Response(200, json=body, headers={"X-Request-Id": request_id})
        if request.url.path == _LIST:
            name = request.url.params.get("name", "").lower()
            status = request.url.params.get("status", "").upper()
            listed = [
                c
                for c in self.connections.values()
                if name in str(c.get("name", "")).lower()
                and (not status or str(c.get("status", "")).upper() == status)
            ]
            body = {"is_success": True, "message": "", "count": len(listed), "connections": listed}
            return httpx.Response(200, json=body, headers={"X-Request-Id": request_id})
        return dli_error(404, "APIGW.0101", "The API does not exist", request_id)


def chat_settings(**values: Any) -> Settings:
    """Settings with only what the chat side reads, never from the developer's .env."""
    values.setdefault("dliconn_watch_all_channels", "")
    values.setdefault("dliconn_incident_channels", "")
    values.setdefault("dliconn_response_type", "ephemeral")
    return Settings(_env_file=None, **values)


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
) -> AsyncIterator[ChatParts]:
    """`build_chat` over the production parts, DLI in-process; pass `watch` for other stores,
    `deployment` for channels' rules (its first project is the one served)."""
    settings = settings or chat_settings()
    clock, dli, metrics = FakeClock(), MockDli(*connections), Metrics()
    store = MemoryStore(clock=clock.monotonic)
    client = DliClient(
        "http://dli.test",
        PROJECT,
        auth=None,
        transport=httpx.MockTransport(dli),
        retry=TEST_RETRY,
        sleep=RecordingSleep(),
        metrics=metrics,
    )
    lookup = ConnectionLookup(
        client,
        store,
        ttl=settings.dliconn_cache_ttl,
        stale_horizon=settings.dliconn_stale_horizon,
        negative_ttl=settings.dliconn_negative_ttl,
        clock=clock.now,
        metrics=metrics,
    )
    finder = ConnectionFinder(
        client,
        lookup,
        store,
        project_id=PROJECT,
        name_ttl=settings.dliconn_stale_horizon,
        snapshot_ttl=settings.dliconn_cache_ttl,
        clock=clock.now,
    )
    deployment = deployment or load_deployment(settings)
    routes = project_routes(deployment, deployment.projects[0].alias)
    watch = watch or build_watch_backends(None, [(PROJECT, routes)])[0]
    project = ProjectServices(
        ref=ProjectRef("default"), lookup=lookup, finder=finder, config=deployment.projects[0],
        dli=client, watch=watch, demo=False,
    )  # fmt: skip
    services = assemble(settings, deployment, metrics, SafeStore(store), [project])
    try:
        yield ChatParts(
            build_chat(services, clock=clock.now),
            dli,
            clock,
            store,
            lookup,
            watch,
            settings,
            metrics,
            services.directory,
            services,
        )
    finally:
        await client.aclose()
        await watch.aclose()


def text_of(message: Message | Mapping[str, Any]) -> str:
    """What a reader sees (bot.blocks.render), whatever markup carries it; a Home view too."""
    if not isinstance(message, Message):
        message = Message(text="", blocks=list(message["blocks"]))
    return render_text(message)


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
