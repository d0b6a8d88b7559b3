"""Async DLI enhanced-connection client: requests, bounded retries, and the one error mapping."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Final, Protocol, TypeVar
from urllib.parse import quote

import aiohttp
import httpx
from prometheus_client import Histogram
from pydantic import BaseModel, ValidationError

from bot import __version__
from bot.dli.auth import AkSkAuth
from bot.dli.ids import sendable
from bot.dli.models import (
    Connection,
    ConnectivityResult,
    ConnectivityTask,
    Fetched,
    ListConnectionsResponse,
    ListedConnection,
    ListedConnections,
    ShowConnectionResponse,
    salvage,
)
from bot.dli.signing import canonical_query
from bot.dli.targets import address_problem, explained, is_queue_name
from bot.dli.transport import AiohttpTransport, Answer, timeouts
from bot.errors import (
    AuthFailed,
    BadResponse,
    ConfigError,
    DliError,
    ErrorIds,
    Forbidden,
    NotFound,
    Throttled,
    Unavailable,
)
from bot.lifecycle import Closing
from bot.metrics import Metrics
from bot.retry import RetryPolicy, parse_retry_after

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

REQUEST_ID_HEADER: Final = "X-Request-Id"
# Set on a list answer whose unreadable entries were dropped: how many, for paging.
SKIPPED: Final = "dliconn_skipped_entries"
MAX_DETAIL_CHARS: Final = 300

_NOT_FOUND_CODES: Final = frozenset({"DLI.0002", "DLI.0023"})
_THROTTLED_CODES: Final = frozenset({"APIGW.0308", "APIG.0308"})
_UNAVAILABLE_CODES: Final = frozenset({"DLI.0999", "APIGW.0613"})
_SIGNATURE_CODE: Final = "APIGW.0301"
_EXPIRED_CODE: Final = "APIGW.0307"
_ENVELOPE_FIELDS: Final = {"is_success", "message"}
_JSON_BODY: Final = {"Content-Type": "application/json;charset=UTF-8"}


def _truncate(text: str, limit: int = MAX_DETAIL_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _with_detail(summary: str, detail: str) -> str:
    detail = _truncate(detail)
    return f"{summary}: {detail}" if detail else summary


def error_for_response(
    status: int,
    code: str | None,
    message: str,
    headers: Mapping[str, str],
    *,
    request_id: str | None = None,
) -> DliError:
    """The exception a non-success DLI/gateway answer means; the only status/code mapping.

    `message` is the body's error_msg (or message); `request_id` is the body's, used when the
    response carries no X-Request-Id header.
    """
    request_id = headers.get(REQUEST_ID_HEADER) or request_id
    ids: ErrorIds = {
        "status": status,
        "code": code,
        "request_id": request_id,
        # DLI's words as it sent them: shown exactly (and visibly cut) where a person reads them;
        # only our own account of the error, for the log, is squeezed onto one short line.
        "detail": message or None,
    }
    # Codes first: DLI reports its server errors as 400 + DLI.0999, and the gateway's codes are
    # more precise than the status they travel with.
    if status == 429 or code in _THROTTLED_CODES:
        retry_after = parse_retry_after(headers.get("Retry-After"))
        summary = "DLI is throttling requests"
        if retry_after is not None:
            summary += f" (retry after {retry_after:g}s)"
        return Throttled(_with_detail(summary, message), retry_after=retry_after, **ids)
    if status >= 500 or code in _UNAVAILABLE_CODES:
        return Unavailable(_with_detail(f"DLI is unavailable (HTTP {status})", message), **ids)
    if status == 404 or code in _NOT_FOUND_CODES:
        return NotFound(_with_detail("DLI has no such connection", message), **ids)
    if status == 401:
        if code == _SIGNATURE_CODE:
            summary = (
                "DLI rejected the request signature: check that the AK/SK pair is right and "
                "that this host's clock is within 15 minutes of real time (X-Sdk-Date)"
            )
        elif code == _EXPIRED_CODE:
            summary = "DLI rejected the IAM token as expired or invalid; it must be renewed"
        else:
            summary = "DLI rejected the credentials"
        return AuthFailed(_with_detail(summary, message), **ids)
    if status == 403:
        summary = "the credentials lack permission for this DLI operation"
        return Forbidden(_with_detail(summary, message), **ids)
    if 400 <= status < 500:
        # DLI rejected the request itself (bad parameter and the like): not the answer's fault.
        return DliError(_with_detail(f"DLI refused the request (HTTP {status})", message), **ids)
    return BadResponse(_with_detail(f"unexpected HTTP {status} from DLI", message), **ids)


def _error_for_transport(exc: httpx.HTTPError) -> DliError:
    # Only the exception's type: its text may quote URLs and is not ours to pass on.
    name = type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return Unavailable(f"DLI did not answer in time ({name})")
    if isinstance(exc, httpx.TransportError):
        return Unavailable(f"could not talk to DLI ({name})")
    return BadResponse(f"unusable answer from DLI ({name})")


def _body_request_id(body: object) -> str | None:
    if isinstance(body, dict):
        value = body.get("request_id")
        if isinstance(value, str) and value:
            return value
    return None


def _text_field(body: object, *names: str) -> str:
    if isinstance(body, dict):
        for name in names:
            value = body.get(name)
            if isinstance(value, str) and value:
                return value
    return ""


def _json_or_none(content: bytes) -> object:
    try:
        return json.loads(content)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError alike
        return None


def _error_for_answer(answer: Answer) -> DliError:
    body = _json_or_none(answer.body)
    return error_for_response(
        answer.status,
        _text_field(body, "error_code") or None,
        _text_field(body, "error_msg", "message"),
        answer.headers,
        request_id=_body_request_id(body),
    )


def _decode(answer: Answer, model: type[M], bad_data: BadDataLog) -> Fetched[M]:
    """A 2xx answer as `model`, or BadResponse when it is not a successful one of that shape."""
    try:
        # The usual answer, validated straight from its bytes; anything unusual (including a
        # failure the validated envelope reports) takes the long way below to be described.
        value = model.model_validate_json(answer.body)
    except ValidationError:
        pass
    else:
        request_id = answer.headers.get(REQUEST_ID_HEADER) or _body_request_id(value.model_extra)
        if getattr(value, "is_success", True) is not False:
            if bad_data:
                bad_data.readable(_view(model), _ids(value))
            return Fetched(value, request_id)
    return _decode_slowly(answer, model, bad_data)


def _view(model: type[BaseModel]) -> str:
    # The watcher's reduced list sees fewer fields than a show: its own memory, or the two
    # would take turns reporting one connection.
    return "listed" if model is ListedConnections else "full"


def _ids(value: BaseModel) -> list[str]:
    connections = getattr(value, "connections", None)
    if connections is None:
        return [str(getattr(value, "id", ""))]
    return [c.id for c in connections]


def _failed_attempt(attempt: int, attempts: int, exc: DliError) -> str:
    """A failed attempt as the retry loop logs it: which one, then the error's kind, code (else
    status) and request id."""
    where = f"attempt {attempt}/{attempts}"
    return f"{where}: {exc.kind} {exc.code or exc.status} (request id {exc.request_id})"


def _decode_slowly(answer: Answer, model: type[M], bad_data: BadDataLog) -> Fetched[M]:
    body = _json_or_none(answer.body)
    request_id = answer.headers.get(REQUEST_ID_HEADER) or _body_request_id(body)
    ids: ErrorIds = {"status": answer.status, "request_id": request_id}
    if not isinstance(body, dict):
        what = "not a JSON object" if answer.body else "empty"
        raise BadResponse(f"DLI answered with a body that is {what}", **ids)
    if body.get("is_success") is False:
        message = _text_field(body, "message", "error_msg") or ""
        ids["code"] = _text_field(body, "error_code") or None
        ids["detail"] = message or None
        raise BadResponse(
            _with_detail("DLI reported failure", message or "no message given"), **ids
        )
    try:
        return Fetched(model.model_validate(body), request_id)
    except ValidationError as exc:
        salvaged = _read_field_by_field(body, model, bad_data)
        if salvaged is not None:
            return Fetched(salvaged, request_id)
        # Field locations only: the offending values may be long or sensitive.
        where = ", ".join(".".join(map(str, e["loc"])) or "(root)" for e in exc.errors()[:3])
        raise BadResponse(
            _with_detail("DLI answered with an unexpected shape", where), **ids
        ) from None


# The connection type inside each list answer, read one by one when the whole page fails.
_ENTRY: Final[Mapping[type[BaseModel], type[Any]]] = {
    ListConnectionsResponse: Connection,
    ListedConnections: ListedConnection,
}


def _read_field_by_field(body: dict[str, Any], model: type[M], bad_data: BadDataLog) -> M | None:
    """The answer with each value that cannot be read shown as unknown, or None.

    One bad value must not blind every surface (and the watcher) to the rest of its
    connection, above all the statuses and err_msgs that say what failed: only that value is
    lost. A connection without a readable id is skipped (nothing could refer to it), and an
    answer with nothing readable at all is a change of format, not one bad record: None, so
    that the watcher counts it as DLI failing instead of every connection disappearing.
    """
    if not issubclass(model, Connection | ListConnectionsResponse | ListedConnections):
        return None  # only connections are worth reading in part; any other answer is whole
    entry_kind = _ENTRY.get(model)
    entries = body.get("connections")
    if entry_kind is None or not isinstance(entries, list):
        whole = salvage(model, body, required=("id", "connections"))
        if whole is None:
            return None
        bad_data.report(_view(model), str(body.get("id")), whole.dropped)
        return whole.value
    readable: list[dict[str, Any]] = []
    skipped = 0
    for entry in entries:
        one = salvage(entry_kind, entry) if isinstance(entry, dict) else None
        if one is None:
            skipped += 1
            bad_data.skipped(entry)
            continue
        bad_data.report(_view(model), str(entry["id"]), one.dropped)
        readable.append(one.data)
    if entries and not readable:
        return None
    # Paging goes by what DLI served, skipped ones included (see `_served`).
    page = {**body, "connections": readable}
    if skipped:
        page |= {"count": len(readable), SKIPPED: skipped}
    rest = salvage(model, page, required=("connections",))
    return None if rest is None else rest.value


class BadDataLog:
    """Warns about a connection's unreadable values once per change, not on every poll.

    The watcher reads the same list every few seconds: the same bad value would warn each
    time. Remembers, per connection id, what was last reported (a bounded, least recently
    used memory); a connection that reads cleanly again is forgotten, so a relapse warns.
    """

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._reported: OrderedDict[str, tuple[str, ...]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._reported)

    def report(self, view: str, connection_id: str, dropped: tuple[str, ...]) -> None:
        key = f"{view} {connection_id.lower()}"
        if not dropped:
            self._reported.pop(key, None)
            return
        if self._remember(key, dropped):
            log.warning("DLI sent connection %s with values that could not be read (shown as "
                        "unknown): %s", _truncate(connection_id, 64),
                        _truncate(", ".join(dropped)))  # fmt: skip

    def skipped(self, entry: object) -> None:
        name = entry.get("name") if isinstance(entry, dict) else None
        label = repr(_truncate(name, 64)) if isinstance(name, str) else "(no name)"
        # Keyed by name, which is all it has: its id is what could not be read.
        if self._remember(f"skipped {label}", ("no id",)):
            log.warning("DLI listed a connection without a readable id; skipped: %s", label)

    def readable(self, view: str, connection_ids: Iterable[str]) -> None:
        for connection_id in connection_ids:
            self._reported.pop(f"{view} {connection_id.lower()}", None)

    def _remember(self, key: str, fingerprint: tuple[str, ...]) -> bool:
        """True when `fingerprint` is news for `key` (and so worth a warning)."""
        if self._reported.get(key) == fingerprint:
            self._reported.move_to_end(key)
            return False
        self._reported[key] = fingerprint
        self._reported.move_to_end(key)
        while len(self._reported) > self._size:
            self._reported.popitem(last=False)
        return True


def _tags_value(tags: Mapping[str, str]) -> str:
    for key, value in tags.items():
        if any(sep in part for part in (key, value) for sep in ",="):
            raise ValueError("tag keys and values cannot contain ',' or '=' (DLI's separators)")
    return ",".join(f"{key}={value}" for key, value in tags.items())


def _base_url(text: str) -> httpx.URL:
    # The URL itself is not echoed: it may carry userinfo.
    problem = ConfigError("the DLI base URL must look like http(s)://host[:port][/prefix]")
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL:
        raise problem from None
    if url.scheme not in ("http", "https") or not url.host:
        raise problem
    return url


def _list_query(
    *,
    name: str | None = None,
    status: str | None = None,
    tags: Mapping[str, str] | None = None,
    limit: int | None = None,
    offset: int | None = None,
) -> list[tuple[str, str]]:
    if (limit is not None and limit < 0) or (offset is not None and offset < 0):
        raise ValueError("limit and offset must not be negative")
    params = {"name": name, "status": status, "limit": limit, "offset": offset}
    query = [(key, str(value)) for key, value in params.items() if value is not None]
    if tags:
        query.append(("tags", _tags_value(tags)))
    return query


def _served(answer: ListConnectionsResponse | ListedConnections) -> int:
    """Entries DLI put on a page: the ones read plus any skipped as unreadable."""
    skipped = (answer.model_extra or {}).get(SKIPPED, 0)
    return len(answer.connections) + (skipped if isinstance(skipped, int) else 0)


class _Identified(Protocol):
    @property
    def id(self) -> str: ...


Listed = TypeVar("Listed", bound=_Identified)


async def _walk(
    page: Callable[[int, int], Awaitable[tuple[Sequence[Listed], int, str | None]]],
    page_size: int,
) -> AsyncIterator[Listed]:
    """The connections of `page(limit, offset)` calls, as `DliClient.iter_connections` walks."""
    if page_size < 0:
        raise ValueError("page_size must not be negative")
    seen: set[str] = set()
    offset = 0
    while True:
        # `served`: how many DLI put on the page, counting any it sent that could not be read,
        # so a skipped one neither ends the walk early nor shifts the offset.
        connections, served, request_id = await page(page_size, offset)
        fresh = [c for c in connections if c.id not in seen]
        for connection in fresh:
            seen.add(connection.id)
            yield connection
        if page_size == 0 or served < page_size:
            return
        if not fresh:
            raise BadResponse(
                f"DLI paging did not advance at offset {offset}", request_id=request_id
            )
        offset += served


class DliClient(Closing):
    """Reads enhanced datasource connections of one project; every failure is a DliError."""

    def __init__(
        self,
        base_url: str,
        project_id: str,
        *,
        auth: httpx.Auth | None,
        timeout: float = 10.0,
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen, so sharing it is safe
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        metrics: Metrics | None = None,
        max_connections: int = 100,
    ) -> None:
        url = _base_url(base_url)
        if not project_id:
            raise ConfigError("DLI_PROJECT_ID is empty")
        self.project_id = project_id
        self._prefix = f"/v2.0/{quote(project_id, safe='')}/datasource/enhanced-connections"
        self._queues = f"/v1.0/{quote(project_id, safe='')}/queues"
        self._retry = retry
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._metrics = metrics
        # Looking a labelled child up costs more than observing it: once per operation.
        self._latency: dict[str, Histogram] = {}
        self._bad_data = BadDataLog()
        # A dead endpoint should fail fast so the retries still fit in a user's patience.
        http_timeout = httpx.Timeout(
            connect=min(timeout, 5.0), read=timeout, write=timeout, pool=timeout
        )
        headers = {
            "User-Agent": f"dliconn/{__version__}",
            "Accept": "application/json",
            # The official SDK sends it too; the gateway may use it to route project-scoped
            # calls.
            "X-Project-Id": project_id,
        }
        own = None
        if transport is None:
            own = AiohttpTransport(url, max_connections=max_connections)
        self._http = httpx.AsyncClient(
            base_url=url,
            auth=auth,
            transport=transport or own,
            timeout=http_timeout,
            headers=headers,
            follow_redirects=False,
        )
        # AK/SK signing (or none) over our own transport needs no httpx request and response
        # objects: building them costs more CPU than everything else a lookup does. Any other
        # auth flow or transport goes through httpx.
        self._direct: _Direct | None = None
        if own is not None and (auth is None or isinstance(auth, AkSkAuth)):
            self._direct = _Direct(own, url, headers, auth, timeouts(http_timeout.as_dict()))

    async def aclose(self) -> None:
        await self._http.aclose()

    def _connection_path(self, connection_id: str) -> str:
        """The show path for an id, which is always one percent-encoded path segment.

        get_connection's id check already rules out anything that needs encoding; quoting anyway
        keeps the path safe should that check ever be loosened.
        """
        return f"{self._prefix}/{quote(connection_id, safe='')}"

    async def get_connection(self, connection_id: str) -> Fetched[Connection]:
        """One connection by id. An id that cannot be a DLI id is NotFound without a request."""
        if not sendable(connection_id):
            raise NotFound(f"no connection has the id {_truncate(connection_id, 80)!r}")
        shown = await self._fetch(
            "show", self._connection_path(connection_id), [], ShowConnectionResponse
        )
        return Fetched(_without_envelope(shown.value), shown.request_id)

    async def list_connections(
        self,
        *,
        name: str | None = None,
        status: str | None = None,
        tags: Mapping[str, str] | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> Fetched[ListConnectionsResponse]:
        """One page of connections (DLI's default page is 100; `limit=0` means all)."""
        query = _list_query(name=name, status=status, tags=tags, limit=limit, offset=offset)
        return await self._fetch("list", self._prefix, query, ListConnectionsResponse)

    async def iter_connections(
        self,
        *,
        page_size: int = 100,
        name: str | None = None,
        status: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> AsyncIterator[Connection]:
        """Every matching connection, page by page until a short page; `page_size=0`: one call.

        A connection seen on an earlier page is not yielded again (pages shift when connections
        are created meanwhile), and a full page with nothing new stops the walk with BadResponse
        rather than looping forever on a server that ignores `offset`.
        """

        async def page(limit: int, offset: int) -> tuple[Sequence[Connection], int, str | None]:
            fetched = await self.list_connections(
                name=name, status=status, tags=tags, limit=limit, offset=offset
            )
            return fetched.value.connections, _served(fetched.value), fetched.request_id

        async for connection in _walk(page, page_size):
            yield connection

    async def iter_listed(
        self, *, page_size: int = 100, tags: Mapping[str, str] | None = None
    ) -> AsyncIterator[ListedConnection]:
        """`iter_connections` for a poller: each connection reduced to its id, name, status and
        bindings, for a fraction of the CPU and memory of whole `Connection`s."""

        async def page(
            limit: int, offset: int
        ) -> tuple[Sequence[ListedConnection], int, str | None]:
            query = _list_query(tags=tags, limit=limit, offset=offset)
            fetched = await self._fetch("list", self._prefix, query, ListedConnections)
            return fetched.value.connections, _served(fetched.value), fetched.request_id

        async for connection in _walk(page, page_size):
            yield connection

    async def create_connectivity_task(self, queue: str, address: str) -> Fetched[ConnectivityTask]:
        """Start DLI's test of whether `queue` reaches `address` (`host[:port]`): the task id.

        The queue must be a plain name and the address an IPv4 address or a domain name with an
        optional port 1-65535; anything else is ValueError, before any request.
        """
        path = self._test_path(queue)
        problem = address_problem(address)
        if problem is not None:
            raise ValueError(explained(problem))
        body = json.dumps({"address": address}).encode()
        # Retried like a read: a test changes nothing, so one started twice costs only a task.
        return await self._fetch("test_create", path, [], ConnectivityTask, body=body)

    async def show_connectivity_task(self, queue: str, task_id: str) -> Fetched[ConnectivityResult]:
        """Where one connectivity test stands: REACHABLE, UNREACHABLE, CHECKING, or DLI's word."""
        if not sendable(task_id):
            raise ValueError("a task id is a plain token (DLI gives numbers)")
        path = f"{self._test_path(queue)}/{quote(task_id, safe='')}"
        return await self._fetch("test_show", path, [], ConnectivityResult)

    def _test_path(self, queue: str) -> str:
        if not is_queue_name(queue):
            raise ValueError("a queue name is letters, digits, _ and - (at most 128)")
        # Quoted although the check leaves nothing to encode: the path stays safe should it
        # ever be loosened.
        return f"{self._queues}/{quote(queue, safe='')}/connection-test"

    async def _fetch(
        self,
        operation: str,
        path: str,
        query: list[tuple[str, str]],
        model: type[M],
        *,
        body: bytes | None = None,
    ) -> Fetched[M]:
        """A GET (a POST of the JSON `body`, when given) decoded as `model`, retried while the
        failure is Throttled or Unavailable."""
        # The query goes on the wire exactly in its canonical (signed) form.
        wire_query = canonical_query(query)
        attempts = self._retry.attempts
        for attempt in range(1, attempts + 1):
            started = time.perf_counter()
            try:
                fetched = await self._exchange(path, query, wire_query, model, body)
            except DliError as exc:
                self._observe(operation, started, exc)
                failure = _failed_attempt(attempt, attempts, exc)
                if not exc.retryable or attempt >= attempts:
                    level = logging.DEBUG if isinstance(exc, NotFound) else logging.WARNING
                    log.log(level, "DLI %s failed on %s", operation, failure)
                    raise
                retry_after = exc.retry_after if isinstance(exc, Throttled) else None
                delay = self._retry.delay(attempt, retry_after, self._rng)
                log.info("DLI %s %s; retrying in %.2fs", operation, failure, delay)
                await self._sleep(delay)
            else:
                self._observe(operation, started, None)
                return fetched
        raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover

    async def _exchange(
        self,
        path: str,
        query: list[tuple[str, str]],
        wire_query: str,
        model: type[M],
        body: bytes | None,
    ) -> Fetched[M]:
        try:
            if self._direct is not None:
                answer = await self._direct.send(path, query, wire_query, body)
            else:
                url = f"{path}?{wire_query}" if query else path
                answer = await self._send_through_httpx(url, body)
        except httpx.HTTPError as exc:
            raise _error_for_transport(exc) from exc
        if not 200 <= answer.status < 300:
            raise _error_for_answer(answer)
        return _decode(answer, model, self._bad_data)

    async def _send_through_httpx(self, url: str, body: bytes | None) -> Answer:
        # A new request() each time, so the auth flow signs again with a fresh X-Sdk-Date.
        if body is None:
            response = await self._http.get(url)
        else:
            response = await self._http.post(url, content=body, headers=_JSON_BODY)
        return Answer(response.status_code, response.headers, response.content)

    def _observe(self, operation: str, started: float, error: DliError | None) -> None:
        if self._metrics is None:
            return
        latency = self._latency.get(operation)
        if latency is None:
            latency = self._latency[operation] = self._metrics.dli_latency.labels(operation)
        latency.observe(time.perf_counter() - started)
        if error is not None:
            self._metrics.dli_errors.labels(kind=error.kind).inc()


class _Direct:
    """Requests over our transport, signed here with AK/SK (when given), a fresh signature each."""

    def __init__(
        self,
        transport: AiohttpTransport,
        base_url: httpx.URL,
        headers: Mapping[str, str],
        auth: AkSkAuth | None,
        timeout: aiohttp.ClientTimeout,
    ) -> None:
        self._transport = transport
        self._host = base_url.netloc.decode("ascii")
        self._origin = f"{base_url.scheme}://{self._host}"
        # Joined as httpx joins a relative URL onto its base_url: the base's path is a prefix.
        self._root = base_url.raw_path.partition(b"?")[0].decode("ascii").rstrip("/")
        self._headers = dict(headers)
        self._auth = auth
        self._timeout = timeout

    async def send(
        self, path: str, query: list[tuple[str, str]], wire_query: str, body: bytes | None
    ) -> Answer:
        """A GET, or a POST of the JSON `body` when there is one."""
        path = self._root + path
        headers = self._headers.copy()
        method = "GET" if body is None else "POST"
        if body is not None:
            headers.update(_JSON_BODY)
        if self._auth is not None:
            self._auth.stamp(
                headers, method=method, host=self._host, path=path, query=query, body=body or b""
            )
        url = f"{self._origin}{path}?{wire_query}" if query else self._origin + path
        return await self._transport.send(method, url, headers, self._timeout, body=body)


def _without_envelope(shown: ShowConnectionResponse) -> Connection:
    """The connection in a show answer: the envelope belongs to the answer, not to the
    connection callers keep and re-serialise.

    Every value was validated as part of the answer already, by the very field definitions
    `Connection` has, so the connection is assembled from them rather than validated again.
    """
    extra = {k: v for k, v in (shown.model_extra or {}).items() if k not in _ENVELOPE_FIELDS}
    fields = {name: getattr(shown, name) for name in Connection.model_fields}
    return Connection.model_construct({*fields, *extra}, **fields, **extra)
