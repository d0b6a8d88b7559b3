"""AiohttpTransport against real local servers: wire fidelity, pooling, timeouts, failure types."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiohttp
import httpx
import pytest
from aiohttp import web

from bot.dli.transport import AiohttpTransport, Answer, timeouts
from bot.errors import ConfigError
from tests.fakes.iam import serve

QUICK: dict[str, float | None] = {"connect": 0.2, "read": 0.2, "write": 0.2, "pool": 0.2}
PATIENT: dict[str, float | None] = {"connect": 5.0, "read": 5.0, "write": 5.0, "pool": 5.0}
JSON_OK = b'{"ok": true}'


@dataclass
class Recorder:
    """What a raw server saw: request heads in arrival order, and how many connections."""

    heads: list[bytes] = field(default_factory=list)
    connections: int = 0
    open_now: int = 0
    most_open: int = 0


Reply = Callable[[bytes, asyncio.StreamWriter], Awaitable[bool]]


def ok(body: bytes = JSON_OK, *, extra: bytes = b"") -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        + extra
        + b"Content-Length: %d\r\n\r\n" % len(body)
        + body
    )


async def answer_ok(head: bytes, writer: asyncio.StreamWriter) -> bool:
    writer.write(ok())
    return True


@asynccontextmanager
async def raw_server(reply: Reply = answer_ok) -> AsyncIterator[tuple[str, Recorder]]:
    """A keep-alive HTTP/1.1 server on a free port; `reply` answers each request head and says
    whether to keep the connection (False closes it)."""
    seen = Recorder()
    writers: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        seen.connections += 1
        seen.open_now += 1
        seen.most_open = max(seen.most_open, seen.open_now)
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                seen.heads.append(head)
                if not await reply(head, writer):
                    break
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            seen.open_now -= 1
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()


@asynccontextmanager
async def transport_for(url: str, **options: int) -> AsyncIterator[AiohttpTransport]:
    transport = AiohttpTransport(httpx.URL(url), **options)
    try:
        yield transport
    finally:
        await transport.aclose()


async def send(transport: AiohttpTransport, url: str, limits: dict[str, float | None]) -> Answer:
    return await transport.send("GET", url, {"Accept": "application/json"}, timeouts(limits))


def request_target(head: bytes) -> str:
    return head.split(b"\r\n", 1)[0].split(b" ")[1].decode()


# --- wire fidelity and pooling -----------------------------------------------------------------

ENCODED = "/v2.0/p/a%7Eb%2Fc%20d/x?a=1&b=x%20y&c=1%2B1%3D2~&%C3%A9="


async def test_the_url_goes_on_the_wire_exactly_as_given() -> None:
    # The signature covers the encoded path and query: a re-encoding proxy-like "fix" breaks it.
    async with raw_server() as (url, seen), transport_for(url) as transport:
        answer = await send(transport, url + ENCODED, PATIENT)
        async with httpx.AsyncClient(transport=transport) as client:
            await client.get(url + ENCODED)
    assert (answer.status, answer.body) == (200, JSON_OK)
    assert answer.headers["content-type"] == "application/json"
    assert [request_target(head) for head in seen.heads] == [ENCODED, ENCODED]


async def test_sequential_requests_share_one_connection() -> None:
    async with raw_server() as (url, seen), transport_for(url) as transport:
        for _ in range(5):
            await send(transport, url + "/x", PATIENT)
    assert (len(seen.heads), seen.connections) == (5, 1)


async def test_concurrent_requests_stay_within_max_connections() -> None:
    async with raw_server() as (url, seen), transport_for(url, max_connections=3) as transport:
        answers = await asyncio.gather(*(send(transport, url + "/x", PATIENT) for _ in range(12)))
    assert [a.status for a in answers] == [200] * 12
    assert seen.most_open <= 3


async def test_httpx_requests_keep_their_body_headers_and_answer() -> None:
    received: list[tuple[str, str | None, bytes]] = []

    async def echo(request: web.Request) -> web.Response:
        received.append((request.method, request.headers.get("X-Custom"), await request.read()))
        body = gzip.compress(b'{"echo": true}')
        return web.Response(
            status=201, reason="Made It", body=body, headers={"Content-Encoding": "gzip"}
        )

    app = web.Application()
    app.router.add_post("/things", echo)
    async with (
        serve(app) as url,
        transport_for(url) as transport,
        httpx.AsyncClient(transport=transport, base_url=url) as client,
    ):
        response = await client.post("/things", content=b"payload", headers={"X-Custom": "v"})
    assert received == [("POST", "v", b"payload")]
    assert (response.status_code, response.reason_phrase) == (201, "Made It")
    # httpx decodes what the server compressed, as it would over its own transport.
    assert response.json() == {"echo": True}


async def test_direct_answers_are_decompressed() -> None:
    async def gzipped(head: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(ok(gzip.compress(JSON_OK), extra=b"Content-Encoding: gzip\r\n"))
        return True

    async with raw_server(gzipped) as (url, _), transport_for(url) as transport:
        answer = await send(transport, url + "/x", PATIENT)
    assert answer.body == JSON_OK


# --- failures, each as the httpx exception that means the same --------------------------------


async def test_a_dropped_request_is_not_sent_again() -> None:
    # aiohttp on its own re-sends an idempotent request once when the connection drops; the
    # caller's retry policy must be the only one deciding that.
    async def drop(head: bytes, writer: asyncio.StreamWriter) -> bool:
        return False

    async with raw_server(drop) as (url, seen), transport_for(url) as transport:
        with pytest.raises(httpx.RemoteProtocolError):
            await send(transport, url + "/x", PATIENT)
        async with httpx.AsyncClient(transport=transport) as client:
            with pytest.raises(httpx.RemoteProtocolError):
                await client.get(url + "/x")
    assert len(seen.heads) == 2


async def test_an_answer_that_is_not_http_is_a_protocol_error() -> None:
    async def garbage(head: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        return False

    async with raw_server(garbage) as (url, _), transport_for(url) as transport:
        with pytest.raises(httpx.RemoteProtocolError):
            await send(transport, url + "/x", PATIENT)


async def test_a_body_that_cannot_be_decompressed_is_a_decoding_error() -> None:
    async def bad_gzip(head: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(ok(b"not gzip at all", extra=b"Content-Encoding: gzip\r\n"))
        return True

    async with raw_server(bad_gzip) as (url, _), transport_for(url) as transport:
        with pytest.raises(httpx.DecodingError):
            await send(transport, url + "/x", PATIENT)


async def silent(head: bytes, writer: asyncio.StreamWriter) -> bool:
    await asyncio.Event().wait()  # until the server shuts down
    return False


async def test_an_answer_that_never_comes_is_a_read_timeout() -> None:
    # Each request's own read timeout applies: the short ones time out while one without a
    # read timeout, on the same transport, is still waiting.
    unbounded = {**PATIENT, "read": None}
    async with raw_server(silent) as (url, _), transport_for(url) as transport:
        waiting = asyncio.create_task(send(transport, url + "/waiting", unbounded))
        try:
            with pytest.raises(httpx.ReadTimeout):
                await send(transport, url + "/x", QUICK)
            assert not waiting.done()
            # (Closing this client closes the transport too, so the check comes inside.)
            async with httpx.AsyncClient(transport=transport, timeout=0.2) as client:
                with pytest.raises(httpx.ReadTimeout):
                    await client.get(url + "/x")
                assert not waiting.done()
        finally:
            waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError, httpx.RemoteProtocolError):
            await waiting


async def test_a_refused_connection_is_a_connect_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"  # bound, never listening
        async with transport_for(url) as transport:
            with pytest.raises(httpx.ConnectError):
                await send(transport, url + "/x", PATIENT)


async def test_a_connection_that_is_never_accepted_is_a_connect_timeout() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        # With the accept queue full (one connection, for a backlog of 0), further handshakes
        # go unanswered.
        with socket.create_connection(listener.getsockname()):
            async with transport_for(url) as transport:
                with pytest.raises(httpx.ConnectTimeout):
                    await send(transport, url + "/x", QUICK)


# --- proxies from the environment, as httpx honoured them -------------------------------------


async def test_the_environment_proxy_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    async with raw_server() as (proxy_url, seen):
        monkeypatch.setenv("HTTP_PROXY", proxy_url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        async with transport_for("http://dli.test") as transport:
            answer = await send(transport, "http://dli.test/v2.0/x", PATIENT)
    assert answer.status == 200
    assert [request_target(head) for head in seen.heads] == ["http://dli.test/v2.0/x"]


async def test_no_proxy_hosts_go_direct(monkeypatch: pytest.MonkeyPatch) -> None:
    async with raw_server() as (url, seen):
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # discard port: would fail
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        async with transport_for(url) as transport:
            await send(transport, url + "/x", PATIENT)
    assert [request_target(head) for head in seen.heads] == ["/x"]


def test_an_unsupported_proxy_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "socks5://127.0.0.1:1080")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with pytest.raises(ConfigError, match="proxies"):
        AiohttpTransport(httpx.URL("https://dli.example.com"))


def test_timeouts_keep_httpx_meanings() -> None:
    limits = timeouts({"connect": 1.0, "read": 2.0, "write": 3.0, "pool": 4.0})
    assert limits == aiohttp.ClientTimeout(total=None, connect=4.0, sock_connect=1.0, sock_read=2.0)
