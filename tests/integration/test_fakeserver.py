"""The fake DLI gateway over real HTTP: API shape, auth, faults, request log, control API."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Generator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from bot.dli import signing
from bot.dli.models import ListConnectionsResponse, ShowConnectionResponse
from bot.local.demo import (
    DEMO_ACCESS_KEY,
    DEMO_PROJECT_ID,
    DEMO_SECRET_KEY,
    demo_connections,
    demo_uuid,
    synthetic_connections,
)
from bot.local.fake_dli import FakeDli, Fault, fingerprint

API = f"/v2.0/{DEMO_PROJECT_ID}/datasource/enhanced-connections"
WITHVPC = "4c693ecc-bab8-4113-a838-129cedc9a563"
FAILING = demo_uuid("connection/orders-mysql-peering")
POOLS = demo_uuid("connection/kafka-stream-pools")
NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def sign(
    request: httpx.Request,
    *,
    access_key: str = DEMO_ACCESS_KEY,
    secret_key: str = DEMO_SECRET_KEY,
    now: datetime | None = None,
) -> None:
    """Sign in place with the project's signing core, the way a well-behaved client does."""
    request.headers["X-Sdk-Date"] = signing.sdk_date(now)
    request.headers["Host"] = request.url.netloc.decode()
    query = parse_qsl(request.url.query.decode(), keep_blank_values=True)
    request.headers["Authorization"] = signing.authorization(
        access_key, secret_key, request.method, request.url.path, query, request.headers, b""
    )


class Signer(httpx.Auth):
    def __init__(self, **options: Any) -> None:
        self.options = options

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        sign(request, **self.options)
        yield request


@pytest.fixture
async def fake() -> AsyncIterator[FakeDli]:
    async with FakeDli(demo_connections(), clock=lambda: NOW) as server:
        yield server


def make_client(fake: FakeDli, **signer_options: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=fake.url, auth=Signer(**signer_options))


@pytest.fixture
async def client(fake: FakeDli) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(fake, now=NOW) as http:
        yield http


async def list_ids(client: httpx.AsyncClient, **params: Any) -> list[str]:
    response = await client.get(API, params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == len(body["connections"])
    return [c["id"] for c in body["connections"]]


def sorted_demo_ids() -> list[str]:
    return [c["id"] for c in sorted(demo_connections(), key=lambda c: (c["create_time"], c["id"]))]


# -- the demo data set ---------------------------------------------------------------------------


def test_demo_data_is_deterministic_and_parses() -> None:
    connections = demo_connections()
    assert connections == demo_connections()
    assert len({c["id"] for c in connections}) == len(connections)
    by_name = {c["name"]: c for c in connections}
    assert by_name["withvpc"]["id"] == WITHVPC
    assert by_name["withvpc"]["create_time"] == 1566888011125
    assert len(by_name["etl-fleet-200"]["available_queue_info"]) == 200
    assert {c["status"] for c in connections} == {"ACTIVE", "DELETED"}
    statuses = {q["status"] for c in connections for q in c["available_queue_info"]}
    assert statuses == {"ACTIVE", "FAILED", "CREATING"}
    failing = ShowConnectionResponse.model_validate(by_name["orders-mysql-peering"])
    assert len(failing.failed) == 4
    assert all(q.err_msg for q in failing.failed)
    pools = ShowConnectionResponse.model_validate(by_name["kafka-stream-pools"])
    assert pools.ipv6_enable is True
    assert [r.cidr for r in pools.routes] == ["10.20.0.0/16", "10.30.0.0/24"]
    assert [p.status for p in pools.elastic_resource_pools] == ["ACTIVE", "FAILED"]


def test_demo_credentials_do_not_look_real() -> None:
    assert "DEMO" in DEMO_ACCESS_KEY
    assert "not-a-real" in DEMO_SECRET_KEY
    assert len(DEMO_PROJECT_ID) == 32
    int(DEMO_PROJECT_ID, 16)


def test_synthetic_connections_fail_in_the_given_share() -> None:
    generated = synthetic_connections(1000, failing_ratio=0.01)
    failing = [
        c for c in generated if any(q["status"] == "FAILED" for q in c["available_queue_info"])
    ]
    assert len(failing) == 10
    assert generated == synthetic_connections(1000, failing_ratio=0.01)
    with pytest.raises(ValueError, match="failing_ratio"):
        synthetic_connections(1, failing_ratio=2)


# -- show and list -------------------------------------------------------------------------------


async def test_show_returns_the_seed_example_as_dli_does(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{API}/{WITHVPC}")
    assert response.status_code == 200
    seed = next(c for c in demo_connections() if c["id"] == WITHVPC)
    assert response.json() == {"is_success": True, "message": "", **seed}
    assert len(response.headers["X-Request-Id"]) == 32


async def test_show_hides_list_only_and_filter_only_fields(client: httpx.AsyncClient) -> None:
    body = (await client.get(f"{API}/{FAILING}")).json()
    assert "isPrivis" not in body
    assert "tags" not in body
    assert body["name"] == "orders-mysql-peering"


async def test_unknown_connection_is_dli_0002(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{API}/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 400
    assert response.json()["error_code"] == "DLI.0002"


async def test_request_ids_are_unique(client: httpx.AsyncClient) -> None:
    ids = {(await client.get(f"{API}/{WITHVPC}")).headers["X-Request-Id"] for _ in range(5)}
    assert len(ids) == 5


async def test_list_returns_everything_sorted_by_creation(client: httpx.AsyncClient) -> None:
    response = await client.get(API)
    parsed = ListConnectionsResponse.model_validate_json(response.content)
    assert [c.id for c in parsed.connections] == sorted_demo_ids()
    assert parsed.count == len(demo_connections())
    privis = {c.name: c.is_privis for c in parsed.connections}
    assert privis["css-search-logs"] is False
    assert privis["withvpc"] is True
    assert all("tags" not in c for c in response.json()["connections"])


async def test_list_pages_with_limit_and_offset(client: httpx.AsyncClient) -> None:
    everything = sorted_demo_ids()
    assert await list_ids(client, limit=3, offset=2) == everything[2:5]
    assert await list_ids(client, limit=0) == everything
    assert await list_ids(client, limit=0, offset=6) == everything[6:]
    assert await list_ids(client, offset=100) == []


async def test_list_defaults_to_100_and_limit_0_means_all() -> None:
    async with FakeDli(synthetic_connections(250)) as fake, make_client(fake) as client:
        assert len(await list_ids(client)) == 100
        assert len(await list_ids(client, limit=0)) == 250
        assert len(await list_ids(client, limit=0, offset=200)) == 50


async def test_list_filters(client: httpx.AsyncClient) -> None:
    deleted = await list_ids(client, status="deleted")
    assert deleted == [demo_uuid("connection/legacy-oracle-link")]
    assert len(await list_ids(client, status="ACTIVE")) == len(demo_connections()) - 1
    assert await list_ids(client, name="orders-mysql") == [FAILING]
    assert await list_ids(client, tags="env=prod,team=streaming") == [POOLS]
    assert len(await list_ids(client, tags="env=prod")) == 3


async def test_list_rejects_a_bad_limit(client: httpx.AsyncClient) -> None:
    response = await client.get(API, params={"limit": "-1"})
    assert (response.status_code, response.json()["error_code"]) == (400, "DLI.0001")


# -- gateway authentication ----------------------------------------------------------------------


async def test_wrong_secret_key_is_apigw_0301(fake: FakeDli) -> None:
    async with httpx.AsyncClient(auth=Signer(secret_key="wrong", now=NOW)) as client:
        response = await client.get(f"{fake.url}{API}/{WITHVPC}")
    assert response.status_code == 401
    body = response.json()
    assert body["error_code"] == "APIGW.0301"
    assert body["error_msg"].startswith("Incorrect IAM authentication information")
    assert body["request_id"] == response.headers["X-Request-Id"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic Zm9vOmJhcg=="},
        {"Authorization": f"SDK-HMAC-SHA256 Access={DEMO_ACCESS_KEY}, Signature=00"},
    ],
)
async def test_missing_or_malformed_authorization_is_apigw_0301(
    fake: FakeDli, headers: dict[str, str]
) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{fake.url}{API}/{WITHVPC}", headers=headers)
    assert (response.status_code, response.json()["error_code"]) == (401, "APIGW.0301")


async def test_unknown_access_key_is_apigw_0301(fake: FakeDli) -> None:
    async with httpx.AsyncClient(auth=Signer(access_key="NOSUCHAK", now=NOW)) as client:
        response = await client.get(f"{fake.url}{API}/{WITHVPC}")
    assert (response.status_code, response.json()["error_code"]) == (401, "APIGW.0301")


@pytest.mark.parametrize(
    ("offset", "status"),
    [(timedelta(minutes=20), 401), (timedelta(minutes=-20), 401), (timedelta(minutes=10), 200)],
)
async def test_signature_expires_after_15_minutes_of_skew(
    fake: FakeDli, offset: timedelta, status: int
) -> None:
    async with httpx.AsyncClient(auth=Signer(now=NOW + offset)) as client:
        response = await client.get(f"{fake.url}{API}/{WITHVPC}")
    assert response.status_code == status
    if status == 401:
        assert response.json()["error_code"] == "APIGW.0301"
        assert "expired" in response.json()["error_msg"]


async def test_a_query_changed_after_signing_is_rejected(fake: FakeDli) -> None:
    request = httpx.Request("GET", f"{fake.url}{API}?limit=1")
    sign(request, now=NOW)
    tampered = httpx.Request("GET", f"{fake.url}{API}?limit=0", headers=request.headers)
    async with httpx.AsyncClient() as client:
        assert (await client.send(request)).status_code == 200
        assert (await client.send(tampered)).status_code == 401


async def test_host_and_date_must_be_signed(fake: FakeDli) -> None:
    request = httpx.Request("GET", f"{fake.url}{API}/{WITHVPC}")
    request.headers["X-Sdk-Date"] = signing.sdk_date(NOW)
    to_sign = signing.string_to_sign(
        "GET", request.url.path, [], request.headers, ["x-sdk-date"], b""
    )
    request.headers["Authorization"] = (
        f"{signing.ALGORITHM} Access={DEMO_ACCESS_KEY}, SignedHeaders=x-sdk-date, "
        f"Signature={signing.signature(DEMO_SECRET_KEY, to_sign)}"
    )
    async with httpx.AsyncClient() as client:
        response = await client.send(request)
    assert (response.status_code, response.json()["error_code"]) == (401, "APIGW.0301")


async def test_wrong_project_is_forbidden(client: httpx.AsyncClient) -> None:
    response = await client.get(API.replace(DEMO_PROJECT_ID, "f" * 32) + f"/{WITHVPC}")
    assert (response.status_code, response.json()["error_code"]) == (403, "APIGW.0302")


async def test_unknown_api_is_apigw_0101(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/v1.0/{DEMO_PROJECT_ID}/queues")
    assert (response.status_code, response.json()["error_code"]) == (404, "APIGW.0101")
    assert response.headers["X-Request-Id"]


async def test_tokens_are_accepted_and_logged_only_as_fingerprints() -> None:
    async with (
        FakeDli(demo_connections(), tokens={"known-token"}) as fake,
        httpx.AsyncClient(base_url=fake.url) as client,
    ):
        ok = await client.get(f"{API}/{WITHVPC}", headers={"X-Auth-Token": "known-token"})
        bad = await client.get(f"{API}/{WITHVPC}", headers={"X-Auth-Token": "other"})
        assert ok.status_code == 200
        assert (bad.status_code, bad.json()["error_code"]) == (401, "APIGW.0307")
        logged = [r.headers["x-auth-token"] for r in fake.requests]
        assert logged == [fingerprint("known-token"), fingerprint("other")]
        assert "known-token" not in repr(fake.requests)


async def test_iam_password_login_issues_expiring_tokens() -> None:
    now = [NOW]
    users = {"alice": "correct horse"}
    async with (
        FakeDli(demo_connections(), users=users, clock=lambda: now[0]) as fake,
        httpx.AsyncClient(base_url=fake.url) as client,
    ):

        async def login(password: str) -> httpx.Response:
            user = {"name": "alice", "password": password, "domain": {"name": "acme"}}
            identity = {"methods": ["password"], "password": {"user": user}}
            return await client.post("/v3/auth/tokens", json={"auth": {"identity": identity}})

        assert (await login("wrong")).status_code == 401
        issued = await login("correct horse")
        assert issued.status_code == 201
        assert issued.json()["token"]["expires_at"] == "2025-01-03T03:04:05.000Z"
        token = {"X-Auth-Token": issued.headers["X-Subject-Token"]}
        assert (await client.get(f"{API}/{WITHVPC}", headers=token)).status_code == 200
        now[0] += timedelta(hours=24)
        expired = await client.get(f"{API}/{WITHVPC}", headers=token)
        assert (expired.status_code, expired.json()["error_code"]) == (401, "APIGW.0307")


# -- faults --------------------------------------------------------------------------------------


async def test_throttle_fault_fires_the_given_number_of_times(
    fake: FakeDli, client: httpx.AsyncClient
) -> None:
    fake.inject(Fault.throttle(retry_after=2, times=2))
    responses = [await client.get(f"{API}/{WITHVPC}") for _ in range(3)]
    assert [r.status_code for r in responses] == [429, 429, 200]
    assert responses[0].headers["Retry-After"] == "2"
    assert responses[0].json()["error_code"] == "APIGW.0308"
    assert fake.faults == []


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        (Fault.server_error(), 500, "DLI.0999"),
        (Fault.server_error(status=503, code="APIGW.0613"), 503, "APIGW.0613"),
        (Fault.dli_error("DLI.0999"), 400, "DLI.0999"),
        (Fault.dli_error("DLI.0023", "no related resources"), 400, "DLI.0023"),
    ],
)
async def test_error_faults(
    fake: FakeDli, client: httpx.AsyncClient, fault: Fault, status: int, code: str
) -> None:
    fake.inject(fault)
    for _ in range(2):  # without `times` the fault stays
        response = await client.get(f"{API}/{WITHVPC}")
        assert (response.status_code, response.json()["error_code"]) == (status, code)
    assert response.headers["X-Request-Id"]


async def test_malformed_fault_answers_200_with_non_json(
    fake: FakeDli, client: httpx.AsyncClient
) -> None:
    fake.inject(Fault.malformed(times=1))
    response = await client.get(API)
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()


async def test_success_false_fault(fake: FakeDli, client: httpx.AsyncClient) -> None:
    fake.inject(Fault.success_false("Connection service is busy.", times=1))
    response = await client.get(f"{API}/{WITHVPC}")
    assert response.status_code == 200
    assert response.json() == {"is_success": False, "message": "Connection service is busy."}


async def test_drop_fault_closes_without_a_response(
    fake: FakeDli, client: httpx.AsyncClient
) -> None:
    fake.inject(Fault.drop(times=1))
    with pytest.raises(httpx.RemoteProtocolError):
        await client.get(f"{API}/{WITHVPC}")
    assert (await client.get(f"{API}/{WITHVPC}")).status_code == 200
    assert [r.status for r in fake.requests] == [None, 200]


async def test_latency_fault_delays_then_answers() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async with FakeDli(demo_connections(), sleep=sleep) as fake:
        fake.inject(Fault.latency(2.5, times=1))
        fake.inject(Fault.throttle(times=1))
        async with make_client(fake) as client:
            assert (await client.get(f"{API}/{WITHVPC}")).status_code == 429
            assert (await client.get(f"{API}/{WITHVPC}")).status_code == 200
    assert slept == [2.5]


async def test_faults_can_be_scoped_to_a_connection_or_operation(
    fake: FakeDli, client: httpx.AsyncClient
) -> None:
    fake.inject(Fault.dli_error(connection_id=FAILING))
    fake.inject(Fault.server_error(status=503, operation="list"))
    assert (await client.get(f"{API}/{FAILING}")).status_code == 400
    assert (await client.get(f"{API}/{WITHVPC}")).status_code == 200
    assert (await client.get(API)).status_code == 503
    fake.clear_faults()
    assert (await client.get(API)).status_code == 200


async def test_faults_come_after_authentication(fake: FakeDli) -> None:
    fake.inject(Fault.throttle())
    async with httpx.AsyncClient(auth=Signer(secret_key="wrong", now=NOW)) as client:
        response = await client.get(f"{fake.url}{API}/{WITHVPC}")
    assert response.status_code == 401


# -- request log, mutation helpers, control endpoints ---------------------------------------------


async def test_request_log_records_what_arrived(fake: FakeDli, client: httpx.AsyncClient) -> None:
    await client.get(API, params={"limit": 2, "status": "active"})
    await client.get(f"{API}/nope")
    first, second = fake.requests
    assert (first.method, first.path, first.query) == ("GET", API, "limit=2&status=active")
    assert (first.status, first.error_code, first.access_key) == (200, None, DEMO_ACCESS_KEY)
    assert first.headers["authorization"].startswith("SDK-HMAC-SHA256 Access=DEMOAK")
    assert (second.status, second.error_code) == (400, "DLI.0002")
    assert first.request_id != second.request_id
    fake.clear_requests()
    assert fake.requests == []


async def test_set_queue_changes_status_and_update_time(
    fake: FakeDli, client: httpx.AsyncClient
) -> None:
    fake.set_queue(POOLS, "pool_stream_b", "ACTIVE")
    fake.set_queue(WITHVPC, "resource_mode_1", "FAILED", "peering removed")
    pools = ShowConnectionResponse.model_validate((await client.get(f"{API}/{POOLS}")).json())
    assert pools.failed == []
    listed = ListConnectionsResponse.model_validate((await client.get(API)).json())
    withvpc = next(c for c in listed.connections if c.id == WITHVPC)
    assert [(q.status, q.err_msg, q.update_time) for q in withvpc.failed] == [
        ("FAILED", "peering removed", NOW)
    ]
    with pytest.raises(KeyError):
        fake.set_queue(WITHVPC, "no_such_queue", "FAILED")


async def test_put_and_remove(fake: FakeDli, client: httpx.AsyncClient) -> None:
    new = {**demo_connections()[0], "id": "11111111-2222-3333-4444-555555555555", "name": "copy"}
    fake.put(new)
    assert (await client.get(f"{API}/{new['id']}")).json()["name"] == "copy"
    assert new["id"] in await list_ids(client, limit=0)
    fake.remove(WITHVPC)
    assert (await client.get(f"{API}/{WITHVPC}")).status_code == 400
    assert WITHVPC not in await list_ids(client, limit=0)
    assert [c["id"] for c in fake.connections] == await list_ids(client, limit=0)


async def test_control_endpoints_drive_the_fake(fake: FakeDli, client: httpx.AsyncClient) -> None:
    async with httpx.AsyncClient(base_url=f"{fake.url}/_fake") as control:
        fault = {"kind": "throttle", "retry_after": 3, "times": 1}
        assert (await control.post("/faults", json=fault)).status_code == 201
        throttled = await client.get(f"{API}/{WITHVPC}")
        assert (throttled.status_code, throttled.headers["Retry-After"]) == (429, "3")

        assert (await control.post("/faults", json={"kind": "melt"})).status_code == 400
        await control.post("/faults", json={"kind": "drop"})
        assert (await control.delete("/faults")).status_code == 200
        assert (await client.get(f"{API}/{WITHVPC}")).status_code == 200

        extra = {**demo_connections()[0], "id": "abc", "name": "from-control"}
        assert (await control.post("/connections", json=extra)).status_code == 201
        assert (await client.get(f"{API}/abc")).json()["name"] == "from-control"
        assert "abc" in [c["id"] for c in (await control.get("/connections")).json()]

        change = {"connection_id": "abc", "queue_name": "resource_mode_1", "status": "FAILED"}
        assert (await control.patch("/queue", json=change)).status_code == 200
        queue = (await client.get(f"{API}/abc")).json()["available_queue_info"][0]
        assert queue["status"] == "FAILED"
        missing = {**change, "queue_name": "nope"}
        assert (await control.patch("/queue", json=missing)).status_code == 404

        assert (await control.delete("/connections/abc")).status_code == 200
        assert (await control.delete("/connections/abc")).status_code == 404
        assert (await client.get(f"{API}/abc")).status_code == 400

        log = (await control.get("/requests")).json()
        assert [r["status"] for r in log] == [429, 200, 200, 200, 400]
        assert log[0]["error_code"] == "APIGW.0308"
        await control.delete("/requests")
        assert (await control.get("/requests")).json() == []


async def test_url_needs_a_running_server() -> None:
    fake = FakeDli()
    with pytest.raises(RuntimeError):
        _ = fake.url


async def test_standalone_process_serves_synthetic_connections() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.local.fake_dli",
        "--port",
        "0",
        "--generate",
        "300",
        "--failing-ratio",
        "0.1",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        url = (await asyncio.wait_for(process.stdout.readline(), timeout=15)).decode().strip()
        async with httpx.AsyncClient(base_url=url, auth=Signer()) as client:
            body = (await client.get(API, params={"limit": 0})).json()
        assert body["count"] == 300
        failing = [
            c
            for c in body["connections"]
            if any(q["status"] == "FAILED" for q in c["available_queue_info"])
        ]
        assert len(failing) == 30
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), timeout=10) == 0
