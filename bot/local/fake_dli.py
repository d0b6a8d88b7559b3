"""A fake DLI API gateway + enhanced-connection service, for tests, benchmarks and demo mode.

It speaks the real wire protocol: AK/SK ("SDK-HMAC-SHA256") signatures are verified the way the
gateway does it, errors have the gateway's and DLI's shapes and status codes, and every response
carries an `X-Request-Id`. On top of that it keeps a request log, lets tests change connections
while it runs, and injects faults (latency, throttling, 5xx, DLI errors, garbage, dropped
connections), either in-process or over unsigned JSON control endpoints under `/_fake/`.

Choices where the real service is not documented:
- A project id in the path other than the configured one gets 403 APIGW.0302, after
  authentication (the gateway authenticates first, then authorises).
- Unknown paths get 404 APIGW.0101 without authentication, like an unpublished API.
- `name` filters by case-insensitive substring; the list is sorted by create_time, then id.
- A connection's `tags` (`[{"key", "value"}]`) only serve the `tags` filter; they are not
  returned. `isPrivis` is only returned by the list, defaulting to true.
- Faults apply to authenticated DLI requests only (not to control endpoints nor IAM).
- Connectivity tests: the queues are those bound to any connection (plus `queues`); another
  queue gets 400 DLI.0002. A task answers `CHECKING` to its first `checking_polls` polls, then
  `REACHABLE` when its address, or its host without the port, is in `reachable`, else
  `UNREACHABLE`. An address that is not `host[:port]` gets 400 DLI.0001, an unknown task id
  400 DLI.0002.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import hashlib
import hmac
import json
import signal
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal
from urllib.parse import parse_qsl

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.dli import signing
from bot.lifecycle import LocalServer
from bot.local.demo import (
    DEMO_ACCESS_KEY,
    DEMO_PROJECT_ID,
    DEMO_SECRET_KEY,
    demo_connections,
    synthetic_connections,
)
from bot.local.dli_rules import (
    BOUND_KEYS,
    ConnectivityTests,
    ListQuery,
    Refusal,
    listed_fields,
    shown_fields,
)

CONTROL_PREFIX: Final = "/_fake/"
_API_PREFIX: Final = "/v2.0/{project_id}/datasource/enhanced-connections"
_TEST_PREFIX: Final = "/v1.0/{project_id}/queues/{queue_name}/connection-test"
_JSON: Final = "application/json"
_DEFAULT_LIMIT: Final = 100
_BODY_CACHE_SIZE: Final = 256
# Headers whose values are bearer secrets: the request log keeps only a fingerprint of them.
_SECRET_HEADERS: Final = frozenset({"x-auth-token", "x-security-token"})

_REQUEST_ID: Final = web.RequestKey("request_id", str)
_ACCESS_KEY: Final = web.RequestKey("access_key", str)
_ERROR_CODE: Final = web.ResponseKey("error_code", str)
_DROPPED: Final = web.ResponseKey("dropped", bool)

Operation = Literal["show", "list", "test_create", "test_show"]
FaultKind = Literal[
    "latency", "throttle", "server_error", "dli_error", "malformed", "drop", "success_false"
]


def fingerprint(secret: str) -> str:
    """How the request log shows a secret header: enough to compare, useless to replay."""
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()[:12]


class Fault(BaseModel):
    """One injected misbehaviour. Scope it to a connection (show only) or an operation.

    `times=None` keeps it until cleared; otherwise it fires that many times and disappears.
    Latency faults delay the request and let it go on; the first other matching fault answers.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: FaultKind
    connection_id: str | None = None
    operation: Operation | None = None
    times: int | None = Field(default=None, ge=1)
    seconds: float = Field(default=0.0, ge=0)
    retry_after: int = Field(default=1, ge=0)
    status: int = 500
    # Empty: the kind's usual code (APIGW.0308 for throttle, DLI.0999 for the error kinds).
    code: str = ""
    message: str = ""

    @classmethod
    def latency(cls, seconds: float, **scope: Any) -> Fault:
        return cls(kind="latency", seconds=seconds, **scope)

    @classmethod
    def throttle(cls, retry_after: int = 1, code: str = "", **scope: Any) -> Fault:
        return cls(kind="throttle", retry_after=retry_after, code=code, **scope)

    @classmethod
    def server_error(cls, status: int = 500, code: str = "", **scope: Any) -> Fault:
        return cls(kind="server_error", status=status, code=code, **scope)

    @classmethod
    def dli_error(cls, code: str = "", message: str = "", **scope: Any) -> Fault:
        return cls(kind="dli_error", code=code, message=message, **scope)

    @classmethod
    def malformed(cls, **scope: Any) -> Fault:
        return cls(kind="malformed", **scope)

    @classmethod
    def drop(cls, **scope: Any) -> Fault:
        return cls(kind="drop", **scope)

    @classmethod
    def success_false(cls, message: str = "Internal error.", **scope: Any) -> Fault:
        return cls(kind="success_false", message=message, **scope)

    def matches(self, operation: Operation, connection_id: str | None) -> bool:
        if self.operation is not None and self.operation != operation:
            return False
        return self.connection_id is None or self.connection_id == connection_id


@dataclass(frozen=True)
class RecordedRequest:
    """One DLI/IAM request as the fake saw it; `status` is None when the fault dropped it.

    Header names are lower-cased; secret header values (tokens) are kept only as fingerprints.
    """

    method: str
    path: str
    query: str
    headers: dict[str, str]
    status: int | None
    error_code: str | None
    request_id: str
    access_key: str | None = None


@dataclass
class _ActiveFault:
    fault: Fault
    remaining: int | None


@dataclass(frozen=True)
class _Reply:
    status: int
    body: bytes
    error_code: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = _JSON
    drop: bool = False


class _Rejected(Exception):
    def __init__(self, reply: _Reply) -> None:
        super().__init__(reply.error_code)
        self.reply = reply


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _error(
    status: int,
    code: str,
    message: str,
    request_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> _Reply:
    body: dict[str, Any] = {"error_code": code, "error_msg": message}
    if request_id is not None:  # the gateway adds it to its own errors; DLI's have none
        body["request_id"] = request_id
    return _Reply(status, _dumps(body), code, headers or {})


def _answer(answer: dict[str, Any] | Refusal) -> _Reply:
    """A rule's answer (dli_rules) as DLI sends it."""
    if isinstance(answer, tuple):
        return _error(*answer)
    return _Reply(200, _dumps({"is_success": True, "message": "", **answer}))


def _auth_error(detail: str, request_id: str) -> _Reply:
    return _error(
        401, "APIGW.0301", f"Incorrect IAM authentication information: {detail}", request_id
    )


class FakeDli(LocalServer, ConnectivityTests):
    """The fake DLI endpoint. Use `async with FakeDli(...) as fake:` and point a client at `url`.

    `control_routes=False` leaves out the unsigned `/_fake/` endpoints (they then get the
    gateway's 404 like any unknown path): the demo backend is reachable from a browser on the
    same host, and nothing there may inject faults or rewrite its data.
    """

    def __init__(
        self,
        connections: Iterable[Mapping[str, Any]] = (),
        *,
        project_id: str = DEMO_PROJECT_ID,
        credentials: Mapping[str, str] | None = None,
        tokens: set[str] | None = None,
        users: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_skew: timedelta = timedelta(minutes=15),
        token_ttl: timedelta = timedelta(hours=24),
        max_recorded: int = 10_000,
        control_routes: bool = True,
        queues: Iterable[str] = (),
        reachable: Iterable[str] = (),
        checking_polls: int = 1,
    ) -> None:
        ConnectivityTests.__init__(self, queues, reachable, checking_polls)
        self.project_id = project_id
        self._control_routes = control_routes
        self._credentials = dict(
            credentials if credentials is not None else {DEMO_ACCESS_KEY: DEMO_SECRET_KEY}
        )
        # Token -> expiry (None: never). `users` maps IAM user name -> password.
        self._tokens: dict[str, datetime | None] = dict.fromkeys(tokens or ())
        self._users = dict(users or {})
        self._clock = clock or (lambda: datetime.now(UTC))
        self._sleep = sleep
        self._max_skew = max_skew
        self._token_ttl = token_ttl
        self._connections: dict[str, dict[str, Any]] = {}
        self._show_json: dict[str, bytes] = {}
        self._item_json: dict[str, bytes] = {}
        self._order: list[str] | None = None
        self._list_cache: dict[tuple[str, ...], bytes] = {}
        self._faults: list[_ActiveFault] = []
        self._requests: deque[RecordedRequest] = deque(maxlen=max_recorded)
        for connection in connections:
            self.put(connection)

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.root

    def application(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        if self._control_routes:
            self._add_control_routes(app.router)
        app.router.add_get(_API_PREFIX, self._list)
        app.router.add_get(f"{_API_PREFIX}/{{connection_id}}", self._show)
        app.router.add_post(_TEST_PREFIX, self._create_test)
        app.router.add_get(f"{_TEST_PREFIX}/{{task_id}}", self._show_test)
        app.router.add_post("/v3/auth/tokens", self._iam_tokens)
        return app

    def _add_control_routes(self, router: web.UrlDispatcher) -> None:
        control = CONTROL_PREFIX.rstrip("/")
        router.add_get(f"{control}/requests", self._control_requests)
        router.add_delete(f"{control}/requests", self._control_clear_requests)
        router.add_post(f"{control}/faults", self._control_inject)
        router.add_delete(f"{control}/faults", self._control_clear_faults)
        router.add_get(f"{control}/connections", self._control_connections)
        router.add_post(f"{control}/connections", self._control_put)
        router.add_delete(f"{control}/connections/{{connection_id}}", self._control_remove)
        router.add_patch(f"{control}/queue", self._control_set_queue)

    # -- data -----------------------------------------------------------------------------------

    def put(self, connection: Mapping[str, Any]) -> None:
        """Add or replace a connection (a dict in the API's shape, with an `id`)."""
        stored = copy.deepcopy(dict(connection))
        if not isinstance(stored.get("id"), str) or not stored["id"]:
            raise ValueError("a connection needs a string id")
        self._connections[stored["id"]] = stored
        self._serialise(stored)
        self._order = None
        self._list_cache.clear()

    def remove(self, connection_id: str) -> None:
        del self._connections[connection_id]
        del self._show_json[connection_id]
        del self._item_json[connection_id]
        self._order = None
        self._list_cache.clear()

    def set_queue(
        self, connection_id: str, queue_name: str, status: str, err_msg: str = ""
    ) -> None:
        """Change a bound queue's or elastic resource pool's status, as DLI would over time."""
        connection = self._connections[connection_id]
        for key in BOUND_KEYS:
            for queue in connection.get(key) or []:
                if queue.get("name") == queue_name:
                    queue["status"] = status
                    queue["err_msg"] = err_msg
                    queue["update_time"] = round(self._clock().timestamp() * 1000)
                    self._serialise(connection)
                    self._list_cache.clear()
                    return
        raise KeyError(f"connection {connection_id} has no queue or pool named {queue_name}")

    def connection(self, connection_id: str) -> dict[str, Any] | None:
        stored = self._connections.get(connection_id)
        return copy.deepcopy(stored) if stored is not None else None

    @property
    def connections(self) -> list[dict[str, Any]]:
        """Copies of every connection, in list order; change them through put/set_queue."""
        return [copy.deepcopy(self._connections[i]) for i in self._sorted_ids()]

    def _serialise(self, connection: dict[str, Any]) -> None:
        connection_id = connection["id"]
        self._show_json[connection_id] = _dumps(
            {"is_success": True, "message": "", **shown_fields(connection)}
        )
        self._item_json[connection_id] = _dumps(listed_fields(connection))

    def _sorted_ids(self) -> list[str]:
        if self._order is None:
            self._order = sorted(
                self._connections,
                key=lambda i: (self._connections[i].get("create_time") or 0, i),
            )
        return self._order

    # -- tokens, faults and the request log ------------------------------------------------------

    def add_token(self, token: str, expires_at: datetime | None = None) -> None:
        self._tokens[token] = expires_at

    def revoke_tokens(self) -> None:
        """Forget every token, as if they all expired: the next token request gets APIGW.0307."""
        self._tokens.clear()

    def inject(self, fault: Fault) -> None:
        self._faults.append(_ActiveFault(fault, fault.times))

    def clear_faults(self) -> None:
        self._faults.clear()

    @property
    def faults(self) -> list[Fault]:
        return [active.fault for active in self._faults]

    @property
    def requests(self) -> list[RecordedRequest]:
        return list(self._requests)

    def clear_requests(self) -> None:
        self._requests.clear()

    def _take_faults(self, operation: Operation, connection_id: str | None) -> list[Fault]:
        """Matching latency faults plus the first other matching fault, each used up once."""
        taken: list[Fault] = []
        for active in list(self._faults):
            fault = active.fault
            if not fault.matches(operation, connection_id):
                continue
            if fault.kind != "latency" and any(f.kind != "latency" for f in taken):
                continue
            taken.append(fault)
            if active.remaining is not None:
                active.remaining -= 1
                if active.remaining == 0:
                    self._faults.remove(active)
        return taken

    # -- HTTP plumbing --------------------------------------------------------------------------

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        request_id = uuid.uuid4().hex
        if self._control_routes and request.path.startswith(CONTROL_PREFIX):
            response = await handler(request)
            response.headers["X-Request-Id"] = request_id
            return response
        request[_REQUEST_ID] = request_id
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            if exc.status not in (404, 405):
                raise
            response = self._respond(
                request,
                _error(
                    404,
                    "APIGW.0101",
                    "The API does not exist or has not been published in the environment",
                    request_id,
                ),
            )
        self._requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                query=request.query_string,
                headers={
                    k.lower(): fingerprint(v) if k.lower() in _SECRET_HEADERS else v
                    for k, v in request.headers.items()
                },
                status=None if response.get(_DROPPED) else response.status,
                error_code=response.get(_ERROR_CODE),
                request_id=request_id,
                access_key=request.get(_ACCESS_KEY),
            )
        )
        return response

    def _respond(self, request: web.Request, reply: _Reply) -> web.StreamResponse:
        response = web.Response(
            status=reply.status, body=reply.body, headers=reply.headers, content_type=None
        )
        response.headers["Content-Type"] = (
            f"{reply.content_type};charset=UTF-8"
            if reply.content_type == _JSON
            else reply.content_type
        )
        response.headers["X-Request-Id"] = request[_REQUEST_ID]
        if reply.error_code is not None:
            response[_ERROR_CODE] = reply.error_code
        if reply.drop and request.transport is not None:
            # Closing before the handler returns means no byte of the response is ever sent.
            request.transport.close()
            response[_DROPPED] = True
        return response

    async def _show(self, request: web.Request) -> web.StreamResponse:
        connection_id = request.match_info["connection_id"]
        return self._respond(
            request, await self._serve(request, "show", connection_id, self._show_body)
        )

    async def _list(self, request: web.Request) -> web.StreamResponse:
        return self._respond(request, await self._serve(request, "list", None, self._list_body))

    async def _serve(
        self,
        request: web.Request,
        operation: Operation,
        connection_id: str | None,
        answer: Callable[[web.Request], _Reply | Awaitable[_Reply]],
    ) -> _Reply:
        request_id = request[_REQUEST_ID]
        try:
            access_key = self._authenticate(request, await request.read())
        except _Rejected as rejected:
            return rejected.reply
        if access_key is not None:
            request[_ACCESS_KEY] = access_key
        if request.match_info["project_id"] != self.project_id:
            return _error(
                403,
                "APIGW.0302",
                "The IAM user is not authorized to access the API: "
                "the project id in the URL does not match the credentials",
                request_id,
            )
        for fault in self._take_faults(operation, connection_id):
            if fault.kind == "latency":
                await self._sleep(fault.seconds)
            else:
                return self._fault_reply(fault, request_id)
        reply = answer(request)
        return reply if isinstance(reply, _Reply) else await reply

    def _fault_reply(self, fault: Fault, request_id: str) -> _Reply:
        match fault.kind:
            case "throttle":
                return _error(
                    429,
                    fault.code or "APIGW.0308",
                    "The throttling threshold has been reached: policy user over ratelimit",
                    request_id,
                    headers={"Retry-After": str(fault.retry_after)},
                )
            case "server_error":
                message = fault.message or "Internal server error."
                return _error(fault.status, fault.code or "DLI.0999", message)
            case "dli_error":
                return _error(400, fault.code or "DLI.0999", fault.message or "Server-side error.")
            case "malformed":
                return _Reply(
                    200, b"<html><body>502 Bad Gateway</body></html>", None, {}, "text/html"
                )
            case "success_false":
                return _Reply(200, _dumps({"is_success": False, "message": fault.message}))
            case "drop":
                return _Reply(0, b"", drop=True)
        raise AssertionError(f"unhandled fault kind {fault.kind}")

    def _show_body(self, request: web.Request) -> _Reply:
        connection_id = request.match_info["connection_id"]
        body = self._show_json.get(connection_id)
        if body is None:
            return _error(
                400,
                "DLI.0002",
                f"The enhanced datasource connection {connection_id} does not exist.",
            )
        return _Reply(200, body)

    async def _create_test(self, request: web.Request) -> web.StreamResponse:
        return self._respond(
            request, await self._serve(request, "test_create", None, self._create_test_body)
        )

    async def _show_test(self, request: web.Request) -> web.StreamResponse:
        return self._respond(
            request, await self._serve(request, "test_show", None, self._show_test_body)
        )

    async def _create_test_body(self, request: web.Request) -> _Reply:
        queue = request.match_info["queue_name"]
        started = self.start_test(queue, await request.read(), self._connections.values())
        return _answer(started)

    def _show_test_body(self, request: web.Request) -> _Reply:
        queue, task_id = request.match_info["queue_name"], request.match_info["task_id"]
        return _answer(self.poll_test(queue, task_id, self._connections.values()))

    def _list_body(self, request: web.Request) -> _Reply:
        query = request.query
        try:
            limit = int(query.get("limit", _DEFAULT_LIMIT))
            offset = int(query.get("offset", 0))
        except ValueError:
            return _error(400, "DLI.0001", "Parameter limit and offset must be integers.")
        if limit < 0 or offset < 0:
            return _error(400, "DLI.0001", "Parameter limit and offset must not be negative.")
        wanted = ListQuery.of(query)
        cache_key = (str(limit), str(offset), wanted.status, wanted.name, query.get("tags", ""))
        body = self._list_cache.get(cache_key)
        if body is None:
            ids = [i for i in self._sorted_ids() if wanted.admits(self._connections[i])]
            page = ids[offset:] if limit == 0 else ids[offset : offset + limit]
            body = b"".join(
                [
                    b'{"is_success":true,"message":"","count":',
                    str(len(page)).encode(),
                    b',"connections":[',
                    b",".join(self._item_json[i] for i in page),
                    b"]}",
                ]
            )
            if len(self._list_cache) >= _BODY_CACHE_SIZE:
                self._list_cache.clear()
            self._list_cache[cache_key] = body
        return _Reply(200, body)

    # -- authentication, the gateway's way ------------------------------------------------------

    def _authenticate(self, request: web.Request, body: bytes) -> str | None:
        """The access key the request was signed with (None for a token); raises _Rejected."""
        request_id = request[_REQUEST_ID]
        token = request.headers.get("X-Auth-Token")
        if token is not None:
            known = token in self._tokens
            expiry = self._tokens.get(token)
            if not known or (expiry is not None and expiry <= self._clock()):
                raise _Rejected(
                    _error(
                        401,
                        "APIGW.0307",
                        "The token must be updated: it is invalid or has expired",
                        request_id,
                    )
                )
            return None
        parsed = signing.parse_authorization(request.headers.get("Authorization", ""))
        if parsed is None:
            raise _Rejected(_auth_error("missing or malformed Authorization header", request_id))
        access_key, signed, claimed = parsed
        secret_key = self._credentials.get(access_key)
        if secret_key is None:
            raise _Rejected(_auth_error(f"access key {access_key} does not exist", request_id))
        if "host" not in signed or signing.DATE_HEADER.lower() not in signed:
            raise _Rejected(_auth_error("host and x-sdk-date must be signed", request_id))
        try:
            sent_at = datetime.strptime(
                request.headers.get(signing.DATE_HEADER, ""), signing.DATE_FORMAT
            ).replace(tzinfo=UTC)
        except ValueError:
            raise _Rejected(_auth_error("X-Sdk-Date is missing or malformed", request_id)) from None
        if abs(self._clock() - sent_at) > self._max_skew:
            raise _Rejected(
                _auth_error("signature expired: X-Sdk-Date is too far from now", request_id)
            )
        # Rebuild the canonical request from what arrived: the raw path (canonical_uri decodes it
        # once) and the decoded wire query, exactly as the gateway does.
        query = parse_qsl(request.query_string, keep_blank_values=True)
        to_sign = signing.string_to_sign(
            request.method, request.raw_path.partition("?")[0], query, request.headers, signed, body
        )
        if not hmac.compare_digest(signing.signature(secret_key, to_sign), claimed):
            raise _Rejected(_auth_error("verify aksk signature fail", request_id))
        return access_key

    async def _iam_tokens(self, request: web.Request) -> web.StreamResponse:
        """IAM's password login: 201 with the token in X-Subject-Token."""
        try:
            payload = await request.json()
            identity = payload["auth"]["identity"]
            user = identity["password"]["user"]
            name, password = str(user["name"]), str(user["password"])
        except (ValueError, KeyError, TypeError):
            reply = _iam_error(400, "The request body is not a valid password authentication.")
            return self._respond(request, reply)
        known = self._users.get(name)
        if known is None or not hmac.compare_digest(known.encode(), password.encode()):
            return self._respond(request, _iam_error(401, "The username or password is wrong."))
        token = "DEMO-TOKEN-" + uuid.uuid4().hex
        expires_at = self._clock() + self._token_ttl
        self._tokens[token] = expires_at
        body = {
            "token": {
                "methods": ["password"],
                "expires_at": expires_at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                "issued_at": self._clock().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                "user": {"name": name},
            }
        }
        return self._respond(request, _Reply(201, _dumps(body), None, {"X-Subject-Token": token}))

    # -- control endpoints (unsigned, JSON) -----------------------------------------------------

    async def _control_requests(self, request: web.Request) -> web.StreamResponse:
        return web.json_response([asdict(r) for r in self._requests])

    async def _control_clear_requests(self, request: web.Request) -> web.StreamResponse:
        self.clear_requests()
        return web.json_response({"ok": True})

    async def _control_inject(self, request: web.Request) -> web.StreamResponse:
        try:
            fault = Fault.model_validate_json(await request.read())
        except ValidationError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        self.inject(fault)
        return web.json_response({"ok": True}, status=201)

    async def _control_clear_faults(self, request: web.Request) -> web.StreamResponse:
        self.clear_faults()
        return web.json_response({"ok": True})

    async def _control_connections(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.connections)

    async def _control_put(self, request: web.Request) -> web.StreamResponse:
        try:
            payload = await request.json()
            for connection in payload if isinstance(payload, list) else [payload]:
                self.put(connection)
        except (ValueError, TypeError, AttributeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"ok": True}, status=201)

    async def _control_remove(self, request: web.Request) -> web.StreamResponse:
        try:
            self.remove(request.match_info["connection_id"])
        except KeyError:
            return web.json_response({"error": "no such connection"}, status=404)
        return web.json_response({"ok": True})

    async def _control_set_queue(self, request: web.Request) -> web.StreamResponse:
        try:
            payload = await request.json()
            self.set_queue(
                str(payload["connection_id"]),
                str(payload["queue_name"]),
                str(payload["status"]),
                str(payload.get("err_msg", "")),
            )
        except KeyError as exc:
            return web.json_response({"error": f"not found or missing: {exc}"}, status=404)
        except (ValueError, TypeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"ok": True})


def _iam_error(status: int, message: str) -> _Reply:
    # IAM answers in Keystone's error shape, not the gateway's.
    title = "Unauthorized" if status == 401 else "Bad Request"
    body = {"error": {"code": status, "message": message, "title": title}}
    return _Reply(status, _dumps(body), str(status))


def _connections_from(spec: str, failing_ratio: float) -> list[dict[str, Any]]:
    if spec == "demo":
        return demo_connections()
    if spec == "none":
        return []
    return synthetic_connections(int(spec), failing_ratio)


async def _serve_forever(fake: FakeDli, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    url = await fake.start(host, port)
    print(url, flush=True)  # the one line a parent process waits for
    try:
        await stop.wait()
    finally:
        await fake.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bot.local.fake_dli", description="Run the fake DLI server standalone."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed)")
    parser.add_argument(
        "--connections", default="demo", help="'demo', 'none', or a number to synthesise"
    )
    parser.add_argument("--generate", type=int, help="synthesise this many connections")
    parser.add_argument(
        "--failing-ratio", type=float, default=0.0, help="share of synthesised connections failing"
    )
    parser.add_argument("--project-id", default=DEMO_PROJECT_ID)
    args = parser.parse_args(argv)
    spec = str(args.generate) if args.generate is not None else args.connections
    if spec not in ("demo", "none") and not spec.isdigit():
        parser.error("--connections must be 'demo', 'none' or a number")
    fake = FakeDli(_connections_from(spec, args.failing_ratio), project_id=args.project_id)
    asyncio.run(_serve_forever(fake, args.host, args.port))


if __name__ == "__main__":
    main()
