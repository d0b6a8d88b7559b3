"""AK/SK signing through httpx, and IAM token auth against a real local IAM server and Redis."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from bot.dli import signing
from bot.dli.auth import AkSkAuth, IamTokenAuth
from bot.errors import AuthFailed, BadResponse, Unavailable
from bot.store import KeyValueStore, RedisStore
from tests.fakes.iam import FakeIam, serve
from tests.helpers import free_port

# Huawei's published signing example (see /work/shared/design/dli-api.md).
VECTOR_AK = "QTWAOYTTINDUT2QVKYUC"
VECTOR_SK = "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc"
VECTOR_URL = (
    "https://service.region.example.com/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs"
    "?limit=2&marker=13551d6b-755d-4757-b956-536f674975c0"
)
VECTOR_DATE = datetime(2019, 11, 15, 3, 36, 55, tzinfo=UTC)
VECTOR_SIGNATURE = "7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe"

PASSWORD = "Pa55-word-not-for-logs"
SECURITY_TOKEN = "temporary-security-token-value"
PROJECT_ID = "0123456789abcdef0123456789abcdef"


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def capture_client(sent: list[httpx.Request]) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={})

    return httpx.Client(transport=httpx.MockTransport(handler))


def wire_query(request: httpx.Request) -> str:
    return request.url.raw_path.partition(b"?")[2].decode()


def recomputed_authorization(request: httpx.Request, ak: str, sk: str) -> str:
    """What a verifying gateway computes from the request exactly as it arrived."""
    path = request.url.raw_path.partition(b"?")[0].decode()
    _, signed, _ = signing.parse_authorization(request.headers["Authorization"]) or ("", [], "")
    headers = {name: request.headers[name] for name in signed}
    return signing.authorization(
        ak, sk, request.method, path, request.url.params.multi_items(), headers, request.content
    )


# --- AK/SK -----------------------------------------------------------------------------------


def test_published_vector_end_to_end() -> None:
    sent: list[httpx.Request] = []
    auth = AkSkAuth(VECTOR_AK, VECTOR_SK, clock=lambda: VECTOR_DATE)
    with capture_client(sent) as client:
        client.get(VECTOR_URL, headers={"Content-Type": "application/json"}, auth=auth)

    (request,) = sent
    assert request.headers["Authorization"] == (
        f"SDK-HMAC-SHA256 Access={VECTOR_AK}, SignedHeaders=content-type;host;x-sdk-date, "
        f"Signature={VECTOR_SIGNATURE}"
    )
    assert request.headers["X-Sdk-Date"] == "20191115T033655Z"
    assert request.headers["Host"] == "service.region.example.com"
    assert wire_query(request) == signing.canonical_query(
        [("limit", "2"), ("marker", "13551d6b-755d-4757-b956-536f674975c0")]
    )


def test_wire_query_is_the_canonical_query() -> None:
    sent: list[httpx.Request] = []
    auth = AkSkAuth("AK", "SK", clock=lambda: VECTOR_DATE)
    params = httpx.QueryParams([("b", "x y"), ("a", "2"), ("a", "1"), ("é", ""), ("c", "1+1=2~")])
    with capture_client(sent) as client:
        client.get("https://dli.example.com/v2.0/p/things", params=params, auth=auth)

    (request,) = sent
    assert wire_query(request) == "a=1&a=2&b=x%20y&c=1%2B1%3D2~&%C3%A9="
    assert request.headers["Authorization"] == recomputed_authorization(request, "AK", "SK")


def test_no_query_sends_no_question_mark() -> None:
    sent: list[httpx.Request] = []
    with capture_client(sent) as client:
        client.get("https://dli.example.com/v2.0/p/things?", auth=AkSkAuth("AK", "SK"))
    assert sent[0].url.raw_path == b"/v2.0/p/things"


def test_every_send_gets_a_fresh_date_and_signature() -> None:
    clock = FakeClock(VECTOR_DATE)
    sent: list[httpx.Request] = []
    auth = AkSkAuth("AK", "SK", clock=clock)
    with capture_client(sent) as client:
        request = client.build_request("GET", "https://dli.example.com/v2.0/p/things?limit=0")
        client.send(request, auth=auth)
        first = (request.headers["X-Sdk-Date"], request.headers["Authorization"])
        clock.advance(timedelta(minutes=20))
        client.send(request, auth=auth)  # a retry re-sends the same request object

    assert request.headers["X-Sdk-Date"] == "20191115T035655Z"
    assert (request.headers["X-Sdk-Date"], request.headers["Authorization"]) != first
    # The previous Authorization header must not have been signed into the new one.
    assert "authorization" not in request.headers["Authorization"].split("SignedHeaders=")[1]
    assert request.headers["Authorization"] == recomputed_authorization(request, "AK", "SK")


def test_identity_headers_and_port_are_signed() -> None:
    sent: list[httpx.Request] = []
    auth = AkSkAuth("AK", "SK", project_id=PROJECT_ID, security_token=SECURITY_TOKEN)
    with capture_client(sent) as client:
        client.post("http://127.0.0.1:8080/v2.0/p/things", json={"name": "x"}, auth=auth)

    (request,) = sent
    assert request.headers["Host"] == "127.0.0.1:8080"
    assert request.headers["X-Project-Id"] == PROJECT_ID
    assert request.headers["X-Security-Token"] == SECURITY_TOKEN
    parsed = signing.parse_authorization(request.headers["Authorization"])
    assert parsed is not None
    assert parsed[1] == [
        "content-type",
        "host",
        "x-project-id",
        "x-sdk-date",
        "x-security-token",
    ]
    assert request.headers["Authorization"] == recomputed_authorization(request, "AK", "SK")


def test_aksk_repr_hides_secrets() -> None:
    auth = AkSkAuth(VECTOR_AK, VECTOR_SK, project_id=PROJECT_ID, security_token=SECURITY_TOKEN)
    for text in (repr(auth), str(auth)):
        assert VECTOR_SK not in text
        assert SECURITY_TOKEN not in text
        assert VECTOR_AK not in text


# --- IAM token ---------------------------------------------------------------------------------


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def iam(clock: FakeClock) -> FakeIam:
    return FakeIam(
        user="ops-bot", password=PASSWORD, domain="acme", project_id=PROJECT_ID, clock=clock
    )


@pytest.fixture
async def iam_url(iam: FakeIam) -> AsyncIterator[str]:
    async with serve(iam.app()) as url:
        yield url


AuthFactory = Callable[..., IamTokenAuth]


@pytest.fixture
async def make_auth(iam_url: str, clock: FakeClock) -> AsyncIterator[AuthFactory]:
    made: list[IamTokenAuth] = []

    def factory(
        *, password: str = PASSWORD, store: KeyValueStore | None = None, url: str = iam_url
    ) -> IamTokenAuth:
        auth = IamTokenAuth(
            url,
            user="ops-bot",
            password=password,
            domain="acme",
            project_id=PROJECT_ID,
            store=store,
            clock=clock,
        )
        made.append(auth)
        return auth

    yield factory
    for auth in made:
        await auth.aclose()


@pytest.fixture
async def dli(iam_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=iam_url) as client:
        yield client


async def fetch(dli: httpx.AsyncClient, iam: FakeIam, auth: IamTokenAuth) -> httpx.Response:
    return await dli.get(iam.resource_path, auth=auth)


async def test_token_is_issued_once_and_cached(
    iam: FakeIam, make_auth: AuthFactory, dli: httpx.AsyncClient
) -> None:
    auth = make_auth()
    first = await fetch(dli, iam, auth)
    second = await fetch(dli, iam, auth)

    assert (first.status_code, second.status_code) == (200, 200)
    assert iam.token_requests == [
        {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {
                            "name": "ops-bot",
                            "password": PASSWORD,
                            "domain": {"name": "acme"},
                        }
                    },
                },
                "scope": {"project": {"id": PROJECT_ID}},
            }
        }
    ]
    (token,) = iam.issued
    assert iam.resource_tokens == [token, token]
    assert iam.resource_projects == [PROJECT_ID, PROJECT_ID]


async def test_token_is_renewed_shortly_before_expiry(
    iam: FakeIam, make_auth: AuthFactory, dli: httpx.AsyncClient, clock: FakeClock
) -> None:
    auth = make_auth()
    await fetch(dli, iam, auth)
    clock.advance(iam.lifetime - timedelta(minutes=6))
    await fetch(dli, iam, auth)
    assert len(iam.token_requests) == 1

    clock.advance(timedelta(minutes=2))  # now inside the 5-minute renewal margin
    response = await fetch(dli, iam, auth)

    assert response.status_code == 200
    assert len(iam.token_requests) == 2
    assert iam.resource_tokens[2] != iam.resource_tokens[1]


async def test_concurrent_first_requests_share_one_iam_call(
    iam: FakeIam, make_auth: AuthFactory, dli: httpx.AsyncClient
) -> None:
    auth = make_auth()
    responses = await asyncio.gather(*(fetch(dli, iam, auth) for _ in range(100)))

    assert [r.status_code for r in responses] == [200] * 100
    assert len(iam.token_requests) == 1
    assert len(set(iam.resource_tokens)) == 1


async def test_rejected_token_is_renewed_once_and_the_request_retried(
    iam: FakeIam, make_auth: AuthFactory, dli: httpx.AsyncClient
) -> None:
    auth = make_auth()
    await fetch(dli, iam, auth)
    iam.revoke_all()

    response = await fetch(dli, iam, auth)

    assert response.status_code == 200
    assert len(iam.token_requests) == 2
    assert len(iam.resource_tokens) == 3
    assert iam.resource_tokens[1] == iam.resource_tokens[0]
    assert iam.resource_tokens[2] != iam.resource_tokens[1]


async def test_a_second_rejection_is_returned_not_retried(
    iam: FakeIam, make_auth: AuthFactory, dli: httpx.AsyncClient
) -> None:
    iam.reject_every_token = True
    response = await fetch(dli, iam, make_auth())

    assert response.status_code == 401
    assert response.json()["error_code"] == "APIGW.0307"
    assert len(iam.token_requests) == 2  # the first token, then one renewal
    assert len(iam.resource_tokens) == 2


@pytest.fixture
def replicas(
    make_auth: AuthFactory, redis_client: aioredis.Redis, key_prefix: str
) -> tuple[IamTokenAuth, IamTokenAuth]:
    """Two instances keeping their token in the same Redis, as two replicas do."""
    first, second = (make_auth(store=RedisStore(redis_client, prefix=key_prefix)) for _ in "12")
    return first, second


async def test_redis_store_shares_the_token_between_instances(
    iam: FakeIam,
    replicas: tuple[IamTokenAuth, IamTokenAuth],
    dli: httpx.AsyncClient,
    redis_client: aioredis.Redis,
    key_prefix: str,
) -> None:
    first, second = replicas
    await fetch(dli, iam, first)
    response = await fetch(dli, iam, second)

    assert response.status_code == 200
    assert len(iam.token_requests) == 1
    (key,) = [k async for k in redis_client.scan_iter(match=f"{key_prefix}*")]
    remaining = await redis_client.pttl(key)
    assert iam.lifetime - timedelta(minutes=1) < timedelta(milliseconds=remaining) <= iam.lifetime


async def test_rejected_token_in_redis_is_not_reused(
    iam: FakeIam, replicas: tuple[IamTokenAuth, IamTokenAuth], dli: httpx.AsyncClient
) -> None:
    first, second = replicas
    await fetch(dli, iam, first)
    iam.revoke_all()

    assert (await fetch(dli, iam, second)).status_code == 200
    assert (await fetch(dli, iam, first)).status_code == 200
    # `second` renewed after the rejection and published the new token; `first` picked it up
    # from Redis after its own rejection instead of calling IAM again.
    assert len(iam.token_requests) == 2


async def test_redis_down_still_authenticates(
    iam: FakeIam,
    make_auth: AuthFactory,
    dli: httpx.AsyncClient,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # No retries, so a refused connection fails at once instead of backing off for seconds.
    down = aioredis.Redis(port=free_port(), retry=Retry(NoBackoff(), 0))
    auth = make_auth(store=RedisStore(down))
    with caplog.at_level(logging.WARNING, logger="bot.dli.auth"):
        assert (await fetch(dli, iam, auth)).status_code == 200
        assert (await fetch(dli, iam, auth)).status_code == 200
        clock.advance(iam.lifetime)
        assert (await fetch(dli, iam, auth)).status_code == 200
    await down.aclose()

    assert len(iam.token_requests) == 2
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # one warning per outage, not one per Redis call


async def test_bad_password_is_auth_failed_without_the_password(
    iam: FakeIam, make_auth: AuthFactory, dli: httpx.AsyncClient
) -> None:
    wrong = "Wrong-Secret-9871"
    with pytest.raises(AuthFailed) as caught:
        await fetch(dli, iam, make_auth(password=wrong))

    error = caught.value
    assert error.status == 401
    assert "DLI_IAM_PASSWORD" in str(error)
    for text in (str(error), repr(error), *map(str, error.args)):
        assert wrong not in text
        assert PASSWORD not in text
    assert iam.resource_tokens == []


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ((503, {"error_code": "APIGW.0613", "error_msg": "IAM unavailable"}), Unavailable),
        ((500, "oops"), Unavailable),
        ((401, {"error_code": "APIGW.0613", "error_msg": "IAM unavailable"}), Unavailable),
        ((403, {"error": {"code": 403, "message": "forbidden"}}), AuthFailed),
        ((201, {"token": {}}), BadResponse),
        ((201, "not json"), BadResponse),
    ],
)
async def test_iam_failures_map_to_the_error_tree(
    iam: FakeIam,
    make_auth: AuthFactory,
    dli: httpx.AsyncClient,
    fault: tuple[int, object],
    expected: type[Exception],
) -> None:
    iam.fault = fault
    with pytest.raises(expected):
        await fetch(dli, iam, make_auth())


async def test_unreachable_iam_is_unavailable(
    iam: FakeIam, make_auth: AuthFactory, dli: httpx.AsyncClient
) -> None:
    auth = make_auth(url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(Unavailable):
        await fetch(dli, iam, auth)


async def test_password_and_token_never_reach_logs_or_repr(
    iam: FakeIam,
    make_auth: AuthFactory,
    dli: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    auth = make_auth()
    # httpcore's DEBUG trace dumps raw headers of every library's requests; entry points keep it
    # quiet, so everything else is captured at INFO and our own loggers at DEBUG.
    caplog.set_level(logging.INFO)
    with caplog.at_level(logging.DEBUG, logger="bot"):
        await fetch(dli, iam, auth)
        iam.revoke_all()
        await fetch(dli, iam, auth)
        with pytest.raises(AuthFailed):
            await fetch(dli, iam, make_auth(password="another-wrong-one"))

    token = await auth.token()
    secrets = [PASSWORD, "another-wrong-one", *iam.issued]
    assert len(secrets) == 4  # two tokens were issued, so the check covers both
    texts = [r.getMessage() for r in caplog.records] + [repr(auth), str(auth), repr(token)]
    assert any("IAM token issued" in text for text in texts)
    for text in texts:
        for secret in secrets:
            assert secret not in text


def test_sync_clients_are_refused() -> None:
    auth = IamTokenAuth(
        "http://127.0.0.1:1", user="u", password=PASSWORD, domain="d", project_id=PROJECT_ID
    )
    with httpx.Client() as client, pytest.raises(TypeError, match="AsyncClient"):
        client.get("http://127.0.0.1:1/x", auth=auth)
