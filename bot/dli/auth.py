"""httpx authentication for DLI: AK/SK request signing and IAM password → token with caching."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import AsyncGenerator, Callable, Generator, Iterable, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pydantic import SecretStr

from bot.dli import signing
from bot.errors import AuthFailed, BadResponse, DliError, ErrorIds, Throttled, Unavailable
from bot.store import KeyValueStore, MemoryStore, make_safe

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

PROJECT_HEADER = "X-Project-Id"
SECURITY_TOKEN_HEADER = "X-Security-Token"  # noqa: S105 (an identifier, not a secret)
AUTH_TOKEN_HEADER = "X-Auth-Token"  # noqa: S105 (an identifier, not a secret)
SUBJECT_TOKEN_HEADER = "X-Subject-Token"  # noqa: S105 (an identifier, not a secret)
TOKEN_EXPIRED_CODE = "APIGW.0307"  # noqa: S105 (an identifier, not a secret)
IAM_UNAVAILABLE_CODE = "APIGW.0613"
IAM_CREDENTIALS_HINT = "check DLI_IAM_USER, DLI_IAM_PASSWORD and DLI_IAM_DOMAIN"


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _as_utc(moment: datetime) -> datetime:
    # A naive datetime from an injected clock or from IAM is taken to be UTC already.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _reveal(secret: SecretStr | str) -> SecretStr:
    return secret if isinstance(secret, SecretStr) else SecretStr(secret)


def _masked(access_key: str) -> str:
    return f"{access_key[:4]}…" if access_key else ""


class AkSkAuth(httpx.Auth):
    """Signs every request (and every retry of it) with SDK-HMAC-SHA256 and a fresh X-Sdk-Date."""

    requires_request_body = True

    def __init__(
        self,
        access_key: str,
        secret_key: SecretStr | str,
        *,
        project_id: str | None = None,
        security_token: SecretStr | str | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._access_key = access_key
        self._secret_key = _reveal(secret_key)
        self._project_id = project_id
        self._security_token = None if security_token is None else _reveal(security_token)
        self._clock = clock or _utc_now

    def __repr__(self) -> str:
        return (
            f"AkSkAuth(access_key={_masked(self._access_key)!r}, project_id={self._project_id!r}, "
            f"security_token={'set' if self._security_token else 'unset'})"
        )

    __str__ = __repr__

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self.sign(request)
        yield request

    def sign(self, request: httpx.Request) -> None:
        """Add date, host, identity headers and Authorization; make the wire query canonical."""
        pairs = request.url.params.multi_items()
        query = signing.canonical_query(pairs)
        request.url = request.url.copy_with(query=query.encode("ascii") or None)
        self.stamp(
            request.headers,
            method=request.method,
            host=request.url.netloc.decode("ascii"),
            path=request.url.raw_path.partition(b"?")[0].decode("ascii"),
            query=pairs,
            body=request.content,
        )

    def stamp(
        self,
        headers: MutableMapping[str, str],
        *,
        method: str,
        host: str,
        path: str,
        query: Iterable[tuple[str, str]],
        body: bytes = b"",
    ) -> None:
        """Add date, host and identity headers and the Authorization signing them all.

        `path` is the percent-encoded path as sent; the query must go on the wire in its
        canonical form (`signing.canonical_query`).
        """
        # Headers sent before (a retry) still carry the previous signature, which would
        # otherwise end up among the signed headers.
        headers.pop("Authorization", None)
        headers[signing.DATE_HEADER] = signing.sdk_date(_as_utc(self._clock()))
        headers["Host"] = host
        if self._project_id:
            headers[PROJECT_HEADER] = self._project_id
        if self._security_token is not None:
            headers[SECURITY_TOKEN_HEADER] = self._security_token.get_secret_value()
        headers["Authorization"] = signing.authorization(
            self._access_key,
            self._secret_key.get_secret_value(),
            method,
            path,
            query,
            headers,
            body,
        )


@dataclass(frozen=True)
class IamToken:
    """An IAM token and when to stop using it; the value never shows in repr."""

    value: str = field(repr=False)
    expires_at: datetime
    renew_at: datetime

    def usable(self, now: datetime) -> bool:
        return now < self.renew_at

    def to_json(self) -> str:
        return json.dumps(
            {
                "value": self.value,
                "expires_at": self.expires_at.isoformat(),
                "renew_at": self.renew_at.isoformat(),
            }
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> IamToken | None:
        try:
            data = json.loads(raw)
            return cls(
                value=str(data["value"]),
                expires_at=_as_utc(datetime.fromisoformat(data["expires_at"])),
                renew_at=_as_utc(datetime.fromisoformat(data["renew_at"])),
            )
        except (ValueError, KeyError, TypeError):
            return None


class IamTokenAuth(httpx.Auth):
    """Sends an IAM token obtained with a password; one IAM call renews it for all requests."""

    def __init__(
        self,
        iam_base_url: str,
        *,
        user: str,
        password: SecretStr | str,
        domain: str,
        project_id: str,
        store: KeyValueStore | None = None,
        client: httpx.AsyncClient | None = None,
        clock: Clock | None = None,
        renew_margin: timedelta = timedelta(minutes=5),
        timeout: float = 10.0,
    ) -> None:
        self._url = iam_base_url.rstrip("/") + "/v3/auth/tokens"
        self._user = user
        self._password = _reveal(password)
        self._domain = domain
        self._project_id = project_id
        # Shared with other replicas through Redis when configured; an outage is a miss.
        self._store = make_safe(store if store is not None else MemoryStore())
        self._client = client
        self._owns_client = client is None
        self._clock = clock or _utc_now
        self._renew_margin = renew_margin
        self._timeout = timeout
        self._token: IamToken | None = None
        self._lock = asyncio.Lock()
        # Tokens are per user and project: replicas with other credentials must not share them.
        identity = "\n".join([self._url, domain, user, project_id])
        self._store_key = "iam-token:v1:" + hashlib.sha256(identity.encode()).hexdigest()[:32]

    def __repr__(self) -> str:
        return (
            f"IamTokenAuth(url={self._url!r}, user={self._user!r}, domain={self._domain!r}, "
            f"project_id={self._project_id!r})"
        )

    __str__ = __repr__

    async def aclose(self) -> None:
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        raise TypeError("IamTokenAuth needs an httpx.AsyncClient")

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self.token()
        self._apply(request, token)
        response = yield request
        if not await _token_rejected(response):
            return
        # Renew once and retry once; a second rejection goes back to the caller as a 401.
        log.info("DLI rejected the IAM token (%s); renewing it", TOKEN_EXPIRED_CODE)
        self._apply(request, await self.token(rejected=token))
        yield request

    async def token(self, *, rejected: IamToken | None = None) -> IamToken:
        """A usable token, from memory, the shared store or IAM, in that order.

        `rejected` is a token the gateway just refused: it is not handed back in its own place.
        """
        if usable := self._usable(self._token, rejected):
            return usable
        async with self._lock:
            # Whoever held the lock before us may already have renewed it.
            if usable := self._usable(self._token, rejected):
                return usable
            if usable := self._usable(await self._load_shared(), rejected):
                self._token = usable
                return usable
            fresh = await self._issue()
            self._token = fresh
            ttl = (fresh.expires_at - self._now()).total_seconds()
            if ttl > 0:
                await self._store.set(self._store_key, fresh.to_json().encode(), ttl=ttl)
            return fresh

    async def _load_shared(self) -> IamToken | None:
        raw = await self._store.get(self._store_key)
        return None if raw is None else IamToken.from_json(raw)

    def _usable(self, token: IamToken | None, rejected: IamToken | None) -> IamToken | None:
        if token is None or not token.usable(self._now()):
            return None
        if rejected is not None and token.value == rejected.value:
            return None
        return token

    def _now(self) -> datetime:
        return _as_utc(self._clock())

    def _apply(self, request: httpx.Request, token: IamToken) -> None:
        request.headers[AUTH_TOKEN_HEADER] = token.value
        request.headers[PROJECT_HEADER] = self._project_id

    async def _issue(self) -> IamToken:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout)
        issued_at = self._now()
        try:
            response = await self._client.post(self._url, json=self._token_request())
        except httpx.TransportError as exc:
            raise Unavailable(f"IAM is unreachable ({type(exc).__name__})") from exc
        _raise_for_iam_error(response)
        token = _parse_token(response, issued_at, self._renew_margin)
        log.info("IAM token issued, valid until %s", token.expires_at.isoformat())
        return token

    def _token_request(self) -> dict[str, Any]:
        user = {
            "name": self._user,
            "password": self._password.get_secret_value(),
            "domain": {"name": self._domain},
        }
        return {
            "auth": {
                "identity": {"methods": ["password"], "password": {"user": user}},
                "scope": {"project": {"id": self._project_id}},
            }
        }


async def _token_rejected(response: httpx.Response) -> bool:
    if response.status_code != httpx.codes.UNAUTHORIZED:
        return False
    await response.aread()
    return _error_code(response) == TOKEN_EXPIRED_CODE


def _error_code(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    code = body.get("error_code") if isinstance(body, dict) else None
    return code if isinstance(code, str) else None


def _raise_for_iam_error(response: httpx.Response) -> None:
    status = response.status_code
    if status in (httpx.codes.OK, httpx.codes.CREATED):
        return
    code = _error_code(response)
    context: ErrorIds = {
        "status": status,
        "code": code,
        "request_id": response.headers.get("X-Request-Id"),
    }
    error: DliError
    if status >= 500 or code == IAM_UNAVAILABLE_CODE:
        error = Unavailable(f"IAM is unavailable (HTTP {status})", **context)
    elif status == httpx.codes.TOO_MANY_REQUESTS:
        error = Throttled("IAM is throttling token requests", **context)
    elif status in (httpx.codes.UNAUTHORIZED, httpx.codes.FORBIDDEN):
        error = AuthFailed(f"IAM refused the password: {IAM_CREDENTIALS_HINT}", **context)
    else:
        error = AuthFailed(
            f"IAM refused the token request (HTTP {status}): check DLI_PROJECT_ID and "
            f"{IAM_CREDENTIALS_HINT.removeprefix('check ')}",
            **context,
        )
    raise error


def _parse_token(response: httpx.Response, issued_at: datetime, margin: timedelta) -> IamToken:
    value = response.headers.get(SUBJECT_TOKEN_HEADER)
    request_id = response.headers.get("X-Request-Id")
    try:
        expires_at = _as_utc(datetime.fromisoformat(response.json()["token"]["expires_at"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise BadResponse(
            "IAM token response has no usable token.expires_at", request_id=request_id
        ) from exc
    if not value:
        raise BadResponse(
            f"IAM token response has no {SUBJECT_TOKEN_HEADER}", request_id=request_id
        )
    # Renew a little before expiry so a request in flight never carries a dying token; for
    # short-lived tokens the margin shrinks to a tenth of the lifetime.
    lifetime = max(expires_at - issued_at, timedelta(0))
    return IamToken(
        value=value, expires_at=expires_at, renew_at=expires_at - min(margin, lifetime / 10)
    )
