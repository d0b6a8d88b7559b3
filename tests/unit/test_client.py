"""DliClient against httpx.MockTransport and a few real sockets: mapping, retries, paging, paths."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import AsyncIterator, Callable, Generator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import __version__
from bot.dli.auth import AkSkAuth
from bot.dli.client import DliClient, error_for_response
from bot.dli.models import Connection
from bot.dli.signing import canonical_query, parse_authorization
from bot.dli.transport import AiohttpTransport
from bot.errors import (
    AuthFailed,
    BadResponse,
    ConfigError,
    DliError,
    Forbidden,
    NotFound,
    Throttled,
    Unavailable,
    dli_detail,
)
from bot.metrics import Metrics
from bot.retry import RetryPolicy
from tests.fakes.iam import serve
from tests.helpers import free_port

PROJECT = "0123456789abcdef0123456789abcdef"
PREFIX = f"/v2.0/{PROJECT}/datasource/enhanced-connections"
CONN_ID = "4c693ecc-bab8-4113-a838-129cedc9a563"
SECRET = "sk-must-never-leak-4711"

Handler = Callable[[httpx.Request], httpx.Response]


def connection(conn_id: str = CONN_ID, **fields: Any) -> dict[str, Any]:
    return {
        "id": conn_id,
        "name": f"conn-{conn_id[:8]}",
        "status": "ACTIVE",
        "available_queue_info": [
            {
                "status": "FAILED",
                "name": "q1",
                "peer_id": "peer-1",
                "err_msg": "route unreachable",
                "update_time": 1566889577861,
            }
        ],
        "create_time": 1566888011125,
        **fields,
    }


def shown(conn_id: str = CONN_ID) -> dict[str, Any]:
    return {"is_success": True, "message": "", **connection(conn_id)}


def listed(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"is_success": True, "message": "", "count": len(items), "connections": items}


def error(status: int, code: str | None = None, msg: str = "", **extra: Any) -> httpx.Response:
    body: dict[str, Any] = {"error_msg": msg, **extra}
    if code is not None:
        body["error_code"] = code
    return httpx.Response(status, json=body)


class CountingAuth(httpx.Auth):
    """Stamps each run of the auth flow, the way the AK/SK signer stamps X-Sdk-Date."""

    def __init__(self) -> None:
        self.runs = 0

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self.runs += 1
        request.headers["X-Sdk-Date"] = f"run-{self.runs}"
        request.headers["Authorization"] = f"SDK-HMAC-SHA256 Access=AK, Signature={SECRET}"
        yield request


class Upstream:
    """A scripted DLI: answers come from a list (the last one repeats) or a function."""

    def __init__(self, *answers: httpx.Response | Exception | Handler) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []
        self.closed = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers[min(len(self.requests), len(self.answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, httpx.Response):
            return answer
        return answer(request)

    @property
    def paths(self) -> list[str]:
        return [r.url.path for r in self.requests]


class ClosingTransport(httpx.MockTransport):
    def __init__(self, upstream: Upstream) -> None:
        super().__init__(upstream)
        self.upstream = upstream

    async def aclose(self) -> None:
        self.upstream.closed = True


class Harness:
    def __init__(self) -> None:
        self.delays: list[float] = []
        self.auth = CountingAuth()
        self.metrics = Metrics()

    async def sleep(self, seconds: float) -> None:
        self.delays.append(seconds)

    def client(
        self,
        upstream: Upstream | None = None,
        *,
        base_url: str = "http://dli.test",
        **kwargs: Any,
    ) -> DliClient:
        return DliClient(
            base_url,
            PROJECT,
            auth=self.auth,
            transport=ClosingTransport(upstream) if upstream else None,
            sleep=self.sleep,
            rng=random.Random(7),
            metrics=self.metrics,
            **kwargs,
        )

    def sample(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
def harness() -> Harness:
    return Harness()


async def show(harness: Harness, *answers: httpx.Response | Exception | Handler) -> Upstream:
    """Runs one get_connection against scripted answers; re-raises what the client raised."""
    upstream = Upstream(*answers)
    async with harness.client(upstream) as client:
        await client.get_connection(CONN_ID)
    return upstream


async def raised(harness: Harness, *answers: httpx.Response | Exception | Handler) -> DliError:
    with pytest.raises(DliError) as info:
        await show(harness, *answers)
    return info.value


# --- success -------------------------------------------------------------------------------


async def test_show_returns_the_connection_with_its_request_id(harness: Harness) -> None:
    upstream = Upstream(httpx.Response(200, json=shown(), headers={"X-Request-Id": "req-1"}))
    async with harness.client(upstream) as client:
        fetched = await client.get_connection(CONN_ID)
    assert fetched.request_id == "req-1"
    assert fetched.value.id == CONN_ID
    assert [q.err_msg for q in fetched.value.failed] == ["route unreachable"]
    # The answer's envelope is not part of the connection callers keep.
    assert "is_success" not in fetched.value.to_api()
    assert "message" not in fetched.value.to_api()
    assert upstream.paths == [f"{PREFIX}/{CONN_ID}"]
    assert upstream.closed


async def test_requests_identify_the_client(harness: Harness) -> None:
    upstream = await show(harness, httpx.Response(200, json=shown()))
    headers = upstream.requests[0].headers
    assert headers["User-Agent"] == f"dliconn/{__version__}"
    assert headers["Accept"] == "application/json"
    assert headers["X-Project-Id"] == PROJECT
    assert upstream.requests[0].method == "GET"


async def test_base_url_path_prefix_is_kept(harness: Harness) -> None:
    upstream = Upstream(httpx.Response(200, json=shown()))
    async with harness.client(upstream, base_url="http://proxy.test/dli/") as client:
        await client.get_connection(CONN_ID)
    assert upstream.paths == [f"/dli{PREFIX}/{CONN_ID}"]


# --- the error mapping ---------------------------------------------------------------------

MAPPING = [
    (400, "DLI.0002", NotFound),
    (404, "DLI.0023", NotFound),
    (404, None, NotFound),
    (401, "APIGW.0301", AuthFailed),
    (401, "APIGW.0307", AuthFailed),
    (401, "APIGW.0305", AuthFailed),
    (401, None, AuthFailed),
    (403, "APIGW.0302", Forbidden),
    (403, None, Forbidden),
    (429, None, Throttled),
    (429, "APIGW.0308", Throttled),
    (429, "APIG.0308", Throttled),
    (400, "APIGW.0308", Throttled),
    (500, None, Unavailable),
    (502, None, Unavailable),
    (503, "APIGW.0613", Unavailable),
    (400, "DLI.0999", Unavailable),
    (500, "DLI.0999", Unavailable),
    (400, "DLI.0001", DliError),
    (409, None, DliError),
    (302, None, BadResponse),
]


@pytest.mark.parametrize(("status", "code", "kind"), MAPPING)
async def test_status_and_code_map_by_meaning(
    harness: Harness, status: int, code: str | None, kind: type[DliError]
) -> None:
    answer = error(status, code, "what DLI said")
    answer.headers["X-Request-Id"] = "req-42"
    upstream = Upstream(answer)
    async with harness.client(upstream, retry=RetryPolicy(attempts=1)) as client:
        with pytest.raises(DliError) as info:
            await client.get_connection(CONN_ID)
    exc = info.value
    assert type(exc) is kind
    assert (exc.status, exc.code, exc.request_id) == (status, code, "req-42")
    assert "what DLI said" in str(exc)
    assert "req-42" in str(exc)


async def test_signature_failure_hints_at_clock_skew_and_keys(harness: Harness) -> None:
    exc = await raised(harness, error(401, "APIGW.0301", "Incorrect IAM authentication"))
    assert "15 minutes" in exc.message
    assert "X-Sdk-Date" in exc.message
    assert "AK/SK" in exc.message


async def test_expired_token_says_so(harness: Harness) -> None:
    exc = await raised(harness, error(401, "APIGW.0307", "The token must be updated"))
    assert "expired" in exc.message


async def test_error_without_json_body_maps_by_status(harness: Harness) -> None:
    page = httpx.Response(404, text="<html>gone</html>", headers={"X-Request-Id": "r"})
    exc = await raised(harness, page)
    assert type(exc) is NotFound
    assert (exc.status, exc.code, exc.request_id) == (404, None, "r")


async def test_request_id_comes_from_the_body_without_a_header(harness: Harness) -> None:
    exc = await raised(harness, error(403, "APIGW.0302", "denied", request_id="body-id"))
    assert exc.request_id == "body-id"


async def test_request_id_header_wins_over_the_body(harness: Harness) -> None:
    answer = error(403, "APIGW.0302", "denied", request_id="body-id")
    answer.headers["X-Request-Id"] = "header-id"
    exc = await raised(harness, answer)
    assert exc.request_id == "header-id"


async def test_dli_message_is_truncated(harness: Harness) -> None:
    exc = await raised(harness, error(403, None, "x" * 10_000))
    assert "x" * 200 in exc.message
    assert len(exc.message) < 500


async def test_error_message_field_is_used_when_error_msg_is_missing(harness: Harness) -> None:
    answer = httpx.Response(400, json={"is_success": False, "message": "bad queue name"})
    exc = await raised(harness, answer)
    assert type(exc) is DliError
    assert "bad queue name" in exc.message


# --- bad responses -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, text="<html>not json</html>"),
        httpx.Response(200, content=b"\xff\xfe{"),
        httpx.Response(200),
        httpx.Response(200, json=[shown()]),
        httpx.Response(200, json={"is_success": True, "name": "no id"}),
        httpx.Response(200, json={**shown(), "id": ["not", "an", "id"]}),
    ],
)
async def test_unusable_answers_are_bad_responses_and_not_retried(
    harness: Harness, answer: httpx.Response
) -> None:
    answer.headers["X-Request-Id"] = "req-bad"
    upstream = Upstream(answer)
    async with harness.client(upstream) as client:
        with pytest.raises(BadResponse) as info:
            await client.get_connection(CONN_ID)
    assert info.value.request_id == "req-bad"
    assert info.value.status == 200
    assert len(upstream.requests) == 1
    assert harness.delays == []


async def test_is_success_false_reports_its_message(harness: Harness) -> None:
    body = {"is_success": False, "message": "connection is being deleted", "request_id": "b-1"}
    exc = await raised(harness, httpx.Response(200, json=body))
    assert type(exc) is BadResponse
    assert "connection is being deleted" in exc.message
    assert exc.request_id == "b-1"


async def test_schema_errors_name_fields_not_values(harness: Harness) -> None:
    body = {**shown(), "id": {"name": SECRET}}
    exc = await raised(harness, httpx.Response(200, json=body))
    assert type(exc) is BadResponse
    assert "id" in exc.message
    assert SECRET not in str(exc)


async def test_an_unreadable_value_is_warned_about_by_path_and_type_never_by_value(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    body = {**shown(), "hosts": [{"name": SECRET, "ip": ["not", "a", "string"]}]}
    async with harness.client(Upstream(httpx.Response(200, json=body))) as client:
        found = (await client.get_connection(CONN_ID)).value

    assert found.hosts[0].name == SECRET and found.hosts[0].ip == ""
    assert found.failed[0].err_msg == "route unreachable"
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "hosts.0.ip: array" in warning.getMessage()
    assert SECRET not in caplog.text


def _page(items: list[dict[str, Any]], offset: int, limit: int) -> httpx.Response:
    return httpx.Response(200, json=listed(items[offset : offset + limit]))


async def test_a_connection_without_an_id_is_skipped_without_ending_paging_early(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    items = [connection(f"conn-{i}") for i in range(5)]
    items[1] = {"name": "no-id", "status": "FAILED"}
    items[3] = {**items[3], "id": 3}

    def answer(request: httpx.Request) -> httpx.Response:
        query = request.url.params
        return _page(items, int(query["offset"]), int(query["limit"]))

    async with harness.client(Upstream(answer)) as client:
        walked = [c.id async for c in client.iter_connections(page_size=2)]
        listed_ids = [c.id async for c in client.iter_listed(page_size=2)]

    assert walked == listed_ids == ["conn-0", "conn-2", "conn-4"]
    skips = [r.getMessage() for r in caplog.records if "without a readable id" in r.getMessage()]
    assert len(skips) == 2  # once each, though two walks read them
    assert any("no-id" in m for m in skips)


async def test_a_list_with_no_readable_id_at_all_is_a_bad_response(harness: Harness) -> None:
    entries = [{"name": "a"}, {"id": None}, "junk"]
    answer = httpx.Response(200, json={"is_success": True, "count": 3, "connections": entries})
    async with harness.client(Upstream(answer)) as client:
        with pytest.raises(BadResponse):
            await client.list_connections()
        with pytest.raises(BadResponse):
            [c async for c in client.iter_listed(page_size=0)]


# --- retries -------------------------------------------------------------------------------


async def test_retry_after_is_honoured(harness: Harness) -> None:
    throttled = error(429, "APIGW.0308", "slow down")
    throttled.headers["Retry-After"] = "7"
    upstream = await show(harness, throttled, httpx.Response(200, json=shown()))
    assert harness.delays == [7.0]
    assert len(upstream.requests) == 2


async def test_retry_after_date_is_bounded_by_the_policy(harness: Harness) -> None:
    throttled = error(429)
    later = datetime.now(UTC) + timedelta(hours=1)
    throttled.headers["Retry-After"] = format_datetime(later, usegmt=True)
    upstream = Upstream(throttled, httpx.Response(200, json=shown()))
    async with harness.client(upstream, retry=RetryPolicy(max_retry_after=12.5)) as client:
        await client.get_connection(CONN_ID)
    assert harness.delays == [12.5]


async def test_throttled_error_carries_retry_after(harness: Harness) -> None:
    throttled = error(429)
    throttled.headers["Retry-After"] = "3"
    upstream = Upstream(throttled)
    async with harness.client(upstream, retry=RetryPolicy(attempts=1)) as client:
        with pytest.raises(Throttled) as info:
            await client.get_connection(CONN_ID)
    assert info.value.retry_after == 3.0


async def test_retries_are_bounded_and_the_last_error_is_raised(harness: Harness) -> None:
    def failing(request: httpx.Request) -> httpx.Response:
        answer = error(503, None, "busy")
        answer.headers["X-Request-Id"] = f"try-{len(upstream.requests)}"
        return answer

    upstream = Upstream(failing)
    policy = RetryPolicy(attempts=3, base=0.5, cap=1.0)
    async with harness.client(upstream, retry=policy) as client:
        with pytest.raises(Unavailable) as info:
            await client.get_connection(CONN_ID)
    assert len(upstream.requests) == 3
    assert info.value.request_id == "try-3"
    assert len(harness.delays) == 2
    assert all(0.0 <= d <= 1.0 for d in harness.delays)


async def test_each_attempt_runs_the_auth_flow_again(harness: Harness) -> None:
    upstream = await show(
        harness, error(500), error(400, "DLI.0999"), httpx.Response(200, json=shown())
    )
    assert [r.headers["X-Sdk-Date"] for r in upstream.requests] == ["run-1", "run-2", "run-3"]
    assert harness.auth.runs == 3


@pytest.mark.parametrize(
    "answer",
    [
        error(404, "DLI.0023"),
        error(400, "DLI.0002"),
        error(401, "APIGW.0301"),
        error(403, "APIGW.0302"),
        error(400, "DLI.0001"),
        httpx.Response(200, text="nope"),
    ],
)
async def test_only_throttling_and_unavailability_are_retried(
    harness: Harness, answer: httpx.Response
) -> None:
    upstream = Upstream(answer, httpx.Response(200, json=shown()))
    async with harness.client(upstream) as client:
        with pytest.raises(DliError):
            await client.get_connection(CONN_ID)
    assert len(upstream.requests) == 1
    assert harness.delays == []


TRANSPORT_FAILURES = [
    httpx.ConnectTimeout("connect timed out"),
    httpx.ReadTimeout("read timed out"),
    httpx.PoolTimeout("pool exhausted"),
    httpx.ConnectError("refused"),
    httpx.ReadError("reset by peer"),
    httpx.RemoteProtocolError("peer closed connection without sending complete message body"),
]


@pytest.mark.parametrize("failure", TRANSPORT_FAILURES, ids=lambda e: type(e).__name__)
async def test_transport_failures_are_unavailable_after_retries(
    harness: Harness, failure: Exception
) -> None:
    upstream = Upstream(failure)
    async with harness.client(upstream) as client:
        with pytest.raises(Unavailable) as info:
            await client.get_connection(CONN_ID)
    assert len(upstream.requests) == 4
    assert len(harness.delays) == 3
    assert not isinstance(info.value, httpx.HTTPError)
    assert type(failure).__name__ in info.value.message


async def test_transport_failure_then_success_recovers(harness: Harness) -> None:
    upstream = await show(harness, httpx.ReadError("reset"), httpx.Response(200, json=shown()))
    assert len(upstream.requests) == 2


@pytest.mark.parametrize(
    "failure",
    [
        *TRANSPORT_FAILURES,
        httpx.DecodingError("bad gzip"),
        httpx.TooManyRedirects("loop"),
        httpx.ProxyError("proxy said no"),
        httpx.UnsupportedProtocol("gopher"),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_no_raw_httpx_exception_escapes(harness: Harness, failure: Exception) -> None:
    upstream = Upstream(failure)
    async with harness.client(upstream) as client:
        for call in (
            lambda: client.get_connection(CONN_ID),
            lambda: client.list_connections(name="x"),
        ):
            # A DliError, and nothing else: not the raw httpx error, and not a quiet return.
            with pytest.raises(DliError):
                await call()


async def test_refused_connection_is_unavailable(harness: Harness) -> None:
    client = harness.client(base_url=f"http://127.0.0.1:{free_port()}", retry=RetryPolicy(2))
    async with client:
        with pytest.raises(Unavailable, match="ConnectError"):
            await client.get_connection(CONN_ID)
    assert len(harness.delays) == 1


@pytest.fixture
async def silent_server() -> AsyncIterator[int]:
    """A real server that accepts connections and never answers."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


async def test_read_timeout_is_enforced_and_unavailable(
    harness: Harness, silent_server: int
) -> None:
    client = harness.client(
        base_url=f"http://127.0.0.1:{silent_server}", timeout=0.2, retry=RetryPolicy(2)
    )
    async with client:
        with pytest.raises(Unavailable, match="ReadTimeout"):
            await client.get_connection(CONN_ID)
    assert len(harness.delays) == 1


# --- listing and paging --------------------------------------------------------------------


async def test_list_query_is_encoded_canonically(harness: Harness) -> None:
    upstream = Upstream(httpx.Response(200, json=listed([connection()])))
    async with harness.client(upstream) as client:
        fetched = await client.list_connections(
            name="my conn",
            status="failed",
            tags={"env": "prod", "team": "data"},
            limit=5,
            offset=10,
        )
    assert [c.id for c in fetched.value.connections] == [CONN_ID]
    url = upstream.requests[0].url
    assert url.path == PREFIX
    assert dict(url.params) == {
        "name": "my conn",
        "status": "failed",
        "tags": "env=prod,team=data",
        "limit": "5",
        "offset": "10",
    }
    # What the signer canonicalises is exactly what goes on the wire.
    assert url.query.decode() == canonical_query(url.params.multi_items())


async def test_list_without_filters_sends_no_query(harness: Harness) -> None:
    upstream = Upstream(httpx.Response(200, json=listed([])))
    async with harness.client(upstream) as client:
        await client.list_connections()
    assert upstream.requests[0].url.query == b""


@pytest.mark.parametrize("tags", [{"a,b": "c"}, {"a": "b=c"}, {"a=": "b"}])
async def test_ambiguous_tags_are_refused(harness: Harness, tags: dict[str, str]) -> None:
    upstream = Upstream(httpx.Response(200, json=listed([])))
    async with harness.client(upstream) as client:
        with pytest.raises(ValueError, match="separators"):
            await client.list_connections(tags=tags)
    assert upstream.requests == []


def paged_project(
    total: int, *, ignore_offset: bool = False
) -> Callable[[httpx.Request], httpx.Response]:
    """A list endpoint over `total` connections that honours limit/offset like DLI."""
    ids = [f"00000000-0000-0000-0000-{n:012d}" for n in range(total)]

    def answer(request: httpx.Request) -> httpx.Response:
        limit = int(request.url.params.get("limit", "100"))
        offset = 0 if ignore_offset else int(request.url.params.get("offset", "0"))
        window = ids[offset:] if limit == 0 else ids[offset : offset + limit]
        return httpx.Response(200, json=listed([connection(i) for i in window]))

    return answer


def offsets(upstream: Upstream) -> list[tuple[str | None, str | None]]:
    return [(r.url.params.get("limit"), r.url.params.get("offset")) for r in upstream.requests]


@pytest.mark.parametrize(
    ("total", "page_size", "expected_offsets"),
    [
        (7, 3, ["0", "3", "6"]),
        (6, 3, ["0", "3", "6"]),
        (2, 3, ["0"]),
        (0, 100, ["0"]),
    ],
)
async def test_iter_connections_walks_pages_until_a_short_one(
    harness: Harness, total: int, page_size: int, expected_offsets: list[str]
) -> None:
    upstream = Upstream(paged_project(total))
    async with harness.client(upstream) as client:
        ids = [c.id async for c in client.iter_connections(page_size=page_size, status="ACTIVE")]
    assert ids == [f"00000000-0000-0000-0000-{n:012d}" for n in range(total)]
    assert offsets(upstream) == [(str(page_size), o) for o in expected_offsets]
    assert all(r.url.params["status"] == "ACTIVE" for r in upstream.requests)


async def test_page_size_zero_is_one_request_for_everything(harness: Harness) -> None:
    upstream = Upstream(paged_project(250))
    async with harness.client(upstream) as client:
        ids = [c.id async for c in client.iter_connections(page_size=0)]
    assert len(ids) == 250
    assert offsets(upstream) == [("0", "0")]


async def test_paging_that_never_advances_stops(harness: Harness) -> None:
    upstream = Upstream(paged_project(10, ignore_offset=True))
    async with harness.client(upstream) as client:
        with pytest.raises(BadResponse, match="did not advance"):
            _ = [c.id async for c in client.iter_connections(page_size=4)]
    assert len(upstream.requests) == 2


async def test_shifted_pages_do_not_repeat_connections(harness: Harness) -> None:
    first = [connection(f"id-{n}") for n in range(3)]
    # A connection was deleted meanwhile, so the next page starts one item later than expected.
    second = [connection("id-2"), connection("id-3")]
    upstream = Upstream(
        httpx.Response(200, json=listed(first)), httpx.Response(200, json=listed(second))
    )
    async with harness.client(upstream) as client:
        ids = [c.id async for c in client.iter_connections(page_size=3)]
    assert ids == ["id-0", "id-1", "id-2", "id-3"]


async def test_list_retries_like_show(harness: Harness) -> None:
    upstream = Upstream(error(503), paged_project(2))
    async with harness.client(upstream) as client:
        ids = [c.id async for c in client.iter_connections()]
    assert len(ids) == 2
    assert len(upstream.requests) == 2


# --- hostile connection ids ----------------------------------------------------------------

HOSTILE_IDS = [
    "../../x",
    "a/b",
    "%2e%2e",
    "%2F",
    "..",
    ".",
    "",
    "ü",
    "连接",
    "a b",
    "a?limit=0",
    "a#frag",
    "a\nb",
    "x" * 500,
]


@pytest.mark.parametrize("conn_id", HOSTILE_IDS)
async def test_impossible_ids_are_not_found_without_a_request(
    harness: Harness, conn_id: str
) -> None:
    upstream = Upstream(httpx.Response(200, json=shown()))
    async with harness.client(upstream) as client:
        with pytest.raises(NotFound):
            await client.get_connection(conn_id)
    assert upstream.requests == []


def _show_once(conn_id: str) -> list[httpx.Request]:
    harness = Harness()
    upstream = Upstream(error(404, "DLI.0023"))

    async def run() -> None:
        async with harness.client(upstream) as client:
            with pytest.raises(NotFound):
                await client.get_connection(conn_id)

    asyncio.run(run())
    return upstream.requests


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(
        st.text(max_size=40),
        st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,40}", fullmatch=True),
        st.sampled_from(HOSTILE_IDS),
    )
)
def test_no_id_changes_the_path_prefix(conn_id: str) -> None:
    requests = _show_once(conn_id)
    assert len(requests) <= 1
    for request in requests:
        raw = request.url.raw_path.decode("ascii")
        assert raw.startswith(PREFIX + "/")
        segment = raw.removeprefix(PREFIX + "/")
        assert "/" not in segment
        assert "?" not in segment
        assert segment not in ("", ".", "..")
        assert unquote(segment) == conn_id


def test_plain_ids_do_reach_dli() -> None:
    assert [r.url.path for r in _show_once("conn-1.v2_a")] == [f"{PREFIX}/conn-1.v2_a"]


# --- metrics and logs ----------------------------------------------------------------------


async def test_metrics_count_latency_per_operation_and_errors_by_kind(harness: Harness) -> None:
    upstream = Upstream(
        httpx.Response(200, json=shown()),
        error(404, "DLI.0023"),
        error(503),
        httpx.Response(200, json=listed([])),
    )
    async with harness.client(upstream) as client:
        await client.get_connection(CONN_ID)
        with pytest.raises(NotFound):
            await client.get_connection(CONN_ID)
        await client.list_connections()
    assert harness.sample("dliconn_dli_request_seconds_count", operation="show") == 2
    assert harness.sample("dliconn_dli_request_seconds_count", operation="list") == 2
    assert harness.sample("dliconn_dli_errors_total", kind="not_found") == 1
    assert harness.sample("dliconn_dli_errors_total", kind="unavailable") == 1
    assert harness.sample("dliconn_dli_errors_total", kind="throttled") == 0


async def test_retries_and_failures_are_logged_with_request_id_but_no_secrets(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    first = error(503, None, "busy")
    first.headers["X-Request-Id"] = "req-retry"
    last = error(401, "APIGW.0301", "signature mismatch")
    last.headers["X-Request-Id"] = "req-final"
    caplog.set_level(logging.DEBUG, logger="bot.dli.client")
    exc = await raised(harness, first, last)
    assert type(exc) is AuthFailed
    messages = [r.getMessage() for r in caplog.records if r.name == "bot.dli.client"]
    assert any("req-retry" in m and "retrying" in m for m in messages)
    assert any("req-final" in m and "auth_failed" in m for m in messages)
    assert SECRET not in caplog.text
    assert SECRET not in str(exc)
    assert "Authorization" not in caplog.text


async def test_each_attempt_is_logged_with_its_number_kind_code_and_request_id(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    first = error(429, "APIGW.0308", "slow down")
    first.headers.update({"X-Request-Id": "req-1", "Retry-After": "2"})
    last = error(503)
    last.headers["X-Request-Id"] = "req-2"
    caplog.set_level(logging.DEBUG, logger="bot.dli.client")
    async with harness.client(Upstream(first, last), retry=RetryPolicy(attempts=2)) as client:
        with pytest.raises(Unavailable):
            await client.get_connection(CONN_ID)
    assert [r.getMessage() for r in caplog.records if r.name == "bot.dli.client"] == [
        "DLI show attempt 1/2: throttled APIGW.0308 (request id req-1); retrying in 2.00s",
        "DLI show failed on attempt 2/2: unavailable 503 (request id req-2)",
    ]


async def test_is_success_false_carries_dli_error_code_and_status(harness: Harness) -> None:
    body = {"is_success": False, "message": "queue busy", "error_code": "DLI.0001"}
    exc = await raised(harness, httpx.Response(200, json=body, headers={"X-Request-Id": "r-9"}))
    assert type(exc) is BadResponse
    assert (exc.status, exc.code, exc.request_id) == (200, "DLI.0001", "r-9")


# --- construction --------------------------------------------------------------------------


@pytest.mark.parametrize("base_url", ["dli.example.com", "ftp://dli.example.com", "http://"])
def test_bad_base_url_is_a_config_error(base_url: str) -> None:
    with pytest.raises(ConfigError, match="base URL"):
        DliClient(base_url, PROJECT, auth=None)


async def test_negative_paging_arguments_are_refused(harness: Harness) -> None:
    upstream = Upstream(httpx.Response(200, json=listed([])))
    async with harness.client(upstream) as client:
        with pytest.raises(ValueError, match="negative"):
            await client.list_connections(limit=-1)
        with pytest.raises(ValueError, match="negative"):
            _ = [c async for c in client.iter_connections(page_size=-1)]
    assert upstream.requests == []


# --- AK/SK over the built-in transport (no httpx request objects on the way) ------------------

FIXED_DATE = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def aksk(**options: Any) -> AkSkAuth:
    return AkSkAuth("AK-TEST", SECRET, project_id=PROJECT, clock=lambda: FIXED_DATE, **options)


@asynccontextmanager
async def recording_dli(
    *answers: tuple[int, bytes, dict[str, str]],
) -> AsyncIterator[tuple[str, list[web.Request]]]:
    """A real HTTP server on a free port answering show requests from `answers` in turn."""
    seen: list[web.Request] = []

    async def answer(request: web.Request) -> web.Response:
        seen.append(request)
        status, body, headers = answers[min(len(seen), len(answers)) - 1]
        return web.Response(status=status, body=body, headers=headers)

    app = web.Application()
    app.router.add_get(PREFIX + "/{connection_id}", answer)
    async with serve(app) as url:
        yield url, seen


def shown_bytes(**extra: Any) -> bytes:
    return json.dumps({**shown(), **extra}).encode()


async def test_aksk_requests_match_the_httpx_path_byte_for_byte(harness: Harness) -> None:
    ok = (200, shown_bytes(), {"X-Request-Id": "r-1"})
    async with recording_dli(ok) as (url, seen):
        async with DliClient(url, PROJECT, auth=aksk()) as direct:
            fetched_direct = await direct.get_connection(CONN_ID)
        # An explicit transport goes through httpx (and its auth flow) instead.
        through_httpx = DliClient(
            url, PROJECT, auth=aksk(), transport=AiohttpTransport(httpx.URL(url))
        )
        async with through_httpx:
            fetched_httpx = await through_httpx.get_connection(CONN_ID)

    assert fetched_direct == fetched_httpx
    direct_request, httpx_request = seen
    assert direct_request.raw_path == httpx_request.raw_path == f"{PREFIX}/{CONN_ID}"
    for name in ("Authorization", "X-Sdk-Date", "Host", "X-Project-Id", "User-Agent", "Accept"):
        assert direct_request.headers[name] == httpx_request.headers[name]
    parsed = parse_authorization(direct_request.headers["Authorization"])
    assert parsed is not None
    assert parsed[1] == ["host", "x-project-id", "x-sdk-date"]


async def test_aksk_retries_are_signed_again_and_counted(harness: Harness) -> None:
    clock = iter(FIXED_DATE + timedelta(seconds=n) for n in range(10))
    auth = AkSkAuth("AK-TEST", SECRET, project_id=PROJECT, clock=lambda: next(clock))
    unavailable = (503, b'{"error_code": "APIGW.0613"}', {"X-Request-Id": "r-1"})
    async with recording_dli(unavailable, (200, shown_bytes(), {})) as (url, seen):
        client = DliClient(url, PROJECT, auth=auth, sleep=harness.sleep, metrics=harness.metrics)
        async with client:
            await client.get_connection(CONN_ID)
    assert len({r.headers["Authorization"] for r in seen}) == 2
    assert [r.headers["X-Sdk-Date"] for r in seen] == ["20260102T030405Z", "20260102T030406Z"]
    assert harness.sample("dliconn_dli_request_seconds_count", operation="show") == 2
    assert harness.sample("dliconn_dli_errors_total", kind="unavailable") == 1


async def test_aksk_read_timeout_is_enforced_and_unavailable(
    harness: Harness, silent_server: int
) -> None:
    url = f"http://127.0.0.1:{silent_server}"
    client = DliClient(
        url, PROJECT, auth=aksk(), timeout=0.2, sleep=harness.sleep, retry=RetryPolicy(2)
    )
    async with client:
        with pytest.raises(Unavailable, match="ReadTimeout"):
            await client.get_connection(CONN_ID)
    assert len(harness.delays) == 1


async def test_aksk_refused_connection_is_unavailable(harness: Harness) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    client = DliClient(url, PROJECT, auth=aksk(), sleep=harness.sleep, retry=RetryPolicy(2))
    async with client:
        with pytest.raises(Unavailable, match="ConnectError"):
            await client.get_connection(CONN_ID)
    assert len(harness.delays) == 1


async def test_aksk_undecodable_body_is_a_bad_response_not_retried(harness: Harness) -> None:
    broken = (200, b"not gzip", {"Content-Encoding": "gzip"})
    async with (
        recording_dli(broken) as (url, seen),
        DliClient(url, PROJECT, auth=aksk(), sleep=harness.sleep) as client,
    ):
        with pytest.raises(BadResponse, match="DecodingError"):
            await client.get_connection(CONN_ID)
    assert len(seen) == 1


# --- decoding ------------------------------------------------------------------------------


async def test_connection_is_the_answer_without_its_envelope(harness: Harness) -> None:
    body = {**shown(), "hosts": [{"name": "db", "ip": "10.0.0.9", "zone": "az1"}], "later": 1}
    upstream = Upstream(httpx.Response(200, json=body))
    async with harness.client(upstream) as client:
        fetched = await client.get_connection(CONN_ID)
    expected = Connection.model_validate(
        {k: v for k, v in body.items() if k not in ("is_success", "message")}
    )
    assert type(fetched.value) is Connection
    assert fetched.value == expected
    assert fetched.value.to_api() == expected.to_api()
    assert fetched.value.model_extra == {"later": 1}
    assert fetched.value.hosts[0].model_extra == {"zone": "az1"}
    assert len(upstream.requests) == 1


async def test_request_id_of_a_success_comes_from_the_body_without_a_header(
    harness: Harness,
) -> None:
    upstream = Upstream(httpx.Response(200, json={**shown(), "request_id": "body-ok"}))
    async with harness.client(upstream) as client:
        fetched = await client.get_connection(CONN_ID)
    assert fetched.request_id == "body-ok"


def test_an_error_keeps_dlis_own_words_apart_from_ours() -> None:
    busy = error_for_response(503, "DLI.0999", "Service  busy,\n retry", {}, request_id="r1")
    silent = error_for_response(503, None, "", {})
    assert busy.message == "DLI is unavailable (HTTP 503): Service busy, retry"
    # DLI's own words stay as DLI sent them, every byte; only our log line is squeezed.
    assert (dli_detail(busy), busy.request_id) == ("Service  busy,\n retry", "r1")
    long = error_for_response(503, "DLI.0999", "x" * 5000, {})
    assert dli_detail(long) == "x" * 5000 and len(long.message) < 400
    assert dli_detail(silent) == "" and silent.message == "DLI is unavailable (HTTP 503)"
