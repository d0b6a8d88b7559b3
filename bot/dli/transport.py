"""DLI's HTTP transport: aiohttp's connection pool behind httpx, every failure an httpx error."""

from __future__ import annotations

import urllib.request
from collections.abc import Mapping
from typing import Final, NamedTuple

import aiohttp
import httpx
from aiohttp.http_exceptions import ContentEncodingError
from multidict import CIMultiDict
from yarl import URL

from bot.errors import ConfigError

_HTTP_VERSION: Final = b"HTTP/1.1"
# The server closed before a whole answer arrived, or sent something that is not HTTP.
_INCOMPLETE: Final = (
    aiohttp.ServerDisconnectedError,
    aiohttp.ClientPayloadError,
    aiohttp.ClientResponseError,
)


class Answer(NamedTuple):
    """A complete HTTP answer: status, case-insensitive headers and the (decoded) body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


def timeouts(timeout: Mapping[str, float | None]) -> aiohttp.ClientTimeout:
    """httpx's timeouts (as in its `timeout` extension) in aiohttp's terms.

    aiohttp's `connect` covers waiting for a pooled connection as well as opening one, so it
    carries httpx's pool timeout while `sock_connect` bounds the connecting alone. aiohttp has
    no write timeout: DLI requests carry no body, or a few bytes, to be slow with.
    """
    return aiohttp.ClientTimeout(
        total=None,
        connect=timeout.get("pool"),
        sock_connect=timeout.get("connect"),
        sock_read=timeout.get("read"),
    )


def transport_error(exc: aiohttp.ClientError | OSError) -> httpx.RequestError:
    """The httpx exception that means what an aiohttp failure means, by type alone."""
    name = type(exc).__name__
    if isinstance(exc, aiohttp.ClientPayloadError) and isinstance(
        exc.__cause__, ContentEncodingError
    ):
        # The answer arrived whole but cannot be decompressed: not the network's fault.
        return httpx.DecodingError(name)
    # Most specific first: aiohttp's timeouts are also connection errors and TimeoutErrors.
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(name)
    if isinstance(exc, TimeoutError):
        return httpx.ReadTimeout(name)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx.ConnectError(name)
    if isinstance(exc, _INCOMPLETE):
        return httpx.RemoteProtocolError(name)
    if isinstance(exc, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
        return httpx.UnsupportedProtocol(name)
    return httpx.ReadError(name)


def _env_proxy(url: httpx.URL) -> str | None:
    """The proxy the *_PROXY / NO_PROXY variables name for `url`, as httpx would have used."""
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(url.scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass(url.host):
        return None
    if not proxy.startswith(("http://", "https://")):
        raise ConfigError(f"only http(s) proxies are supported ({url.scheme}_proxy)")
    return proxy


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Pooled keep-alive HTTP/1.1 to one origin over aiohttp, as httpx transport or directly.

    Not httpcore: its pool does work quadratic in the open connections on every request
    (encode/httpcore#1035), and aiohttp's C parser is cheaper per request too.
    `send` is the direct way (no httpx objects at all) for callers that sign their own headers;
    `handle_async_request` serves httpx clients, e.g. with an auth flow of their own.
    """

    def __init__(
        self, origin: httpx.URL, *, max_connections: int = 100, keepalive_expiry: float = 30.0
    ) -> None:
        self._max_connections = max_connections
        self._keepalive_expiry = keepalive_expiry
        self._proxy = _env_proxy(origin)
        # httpx's own defaults: certifi's CAs, or SSL_CERT_FILE / SSL_CERT_DIR when set.
        self._ssl = httpx.create_ssl_context() if origin.scheme == "https" else None
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        # Made on first use: a session belongs to the running event loop.
        connector = aiohttp.TCPConnector(
            limit=self._max_connections,
            keepalive_timeout=self._keepalive_expiry,
            ssl=self._ssl if self._ssl is not None else True,
        )
        session = aiohttp.ClientSession(
            connector=connector,
            # DLI's API is stateless (every request is signed); httpx keeps its own cookies.
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        # aiohttp silently re-sends an idempotent request once when the server closes the
        # connection (aio-libs/aiohttp#10790); the caller's retry policy alone decides that.
        session._retry_connection = False
        self._session = session
        return session

    async def send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        limits: aiohttp.ClientTimeout,
        *,
        body: bytes | None = None,
    ) -> Answer:
        """One request; `url` goes on the wire exactly as given (it is already encoded), `body`
        exactly as given (its Content-Type among `headers`)."""
        session = self._session or self._open()
        try:
            async with session.request(
                method,
                URL(url, encoded=True),
                headers=headers,
                data=body,
                allow_redirects=False,
                timeout=limits,
                proxy=self._proxy,
            ) as response:
                return Answer(response.status, response.headers, await response.read())
        except (aiohttp.ClientError, OSError) as exc:
            raise transport_error(exc) from exc

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session or self._open()
        try:
            async with session.request(
                request.method,
                URL(str(request.url), encoded=True),
                headers=CIMultiDict(request.headers.multi_items()),
                data=await request.aread() or None,
                allow_redirects=False,
                timeout=timeouts(request.extensions.get("timeout", {})),
                proxy=self._proxy,
                # httpx decodes the body itself, by the Content-Encoding it is given.
                auto_decompress=False,
                skip_auto_headers=("Accept-Encoding", "User-Agent", "Content-Type"),
            ) as response:
                body = await response.read()
                raw_headers = response.raw_headers
                status, reason = response.status, response.reason
        except (aiohttp.ClientError, OSError) as exc:
            raise transport_error(exc) from exc
        extensions = {"http_version": _HTTP_VERSION}
        if reason:
            extensions["reason_phrase"] = reason.encode("latin-1", "replace")
        return httpx.Response(
            status, headers=list(raw_headers), content=body, extensions=extensions
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
