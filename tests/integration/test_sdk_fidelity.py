"""Huawei's official DLI SDK (a test-only oracle) reads the fake: the fake speaks the real API.

The SDK signs with Huawei's own signer, so these tests also prove that the fake's gateway verifies
real signatures (including the extra headers the SDK signs, such as X-Project-Id and User-Agent).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from bot.local.demo import DEMO_ACCESS_KEY, DEMO_PROJECT_ID, DEMO_SECRET_KEY, demo_connections
from bot.local.fake_dli import FakeDli

WITHVPC = "4c693ecc-bab8-4113-a838-129cedc9a563"
# Fields the fake keeps that the SDK's models do not (routes) or that only filter (tags).
NOT_IN_SDK_MODELS = ("routes", "tags", "isPrivis")


@pytest.fixture(scope="module")
def sdk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """The SDK's classes, imported with HOME in a temporary folder (it writes there on import)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(tmp_path_factory.mktemp("home")))
        from huaweicloudsdkcore.auth.credentials import BasicCredentials
        from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
        from huaweicloudsdkdli.v1 import (
            CreateConnectivityTaskRequest,
            CreateConnectivityTaskRequestBody,
            DliClient,
            ListEnhancedConnectionsRequest,
            ShowConnectivityTaskRequest,
            ShowEnhancedConnectionRequest,
        )

        yield SimpleNamespace(
            BasicCredentials=BasicCredentials,
            ClientRequestException=ClientRequestException,
            DliClient=DliClient,
            List=ListEnhancedConnectionsRequest,
            Show=ShowEnhancedConnectionRequest,
            CreateTest=CreateConnectivityTaskRequest,
            CreateTestBody=CreateConnectivityTaskRequestBody,
            ShowTest=ShowConnectivityTaskRequest,
        )


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeDli]:
    """The fake on its own event loop in a thread, since the SDK's client is synchronous."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fake-dli", daemon=True)
    thread.start()
    server = FakeDli(demo_connections())
    try:
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(timeout=10)
        yield server
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(timeout=10)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def client(sdk: SimpleNamespace, fake: FakeDli, secret_key: str = DEMO_SECRET_KEY) -> Any:
    credentials = sdk.BasicCredentials(DEMO_ACCESS_KEY, secret_key, DEMO_PROJECT_ID)
    return (
        sdk.DliClient.new_builder().with_credentials(credentials).with_endpoints([fake.url]).build()
    )


def as_api_json(model: Any) -> Any:
    """An SDK model object back in the API's JSON spelling, from its parsed attributes only."""
    if isinstance(model, list):
        return [as_api_json(item) for item in model]
    if not hasattr(model, "openapi_types"):
        return model
    return {
        model.attribute_map[attr]: as_api_json(getattr(model, attr))
        for attr in model.openapi_types
        if getattr(model, attr) is not None
    }


def as_sdk_sees_it(connection: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in connection.items() if k not in NOT_IN_SDK_MODELS}


def by_creation(connections: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(connections, key=lambda c: (c["create_time"], c["id"]))


@pytest.mark.parametrize("connection", demo_connections(), ids=lambda c: c["name"])
def test_sdk_shows_every_demo_connection(
    sdk: SimpleNamespace, fake: FakeDli, connection: dict[str, Any]
) -> None:
    response = client(sdk, fake).show_enhanced_connection(sdk.Show(connection_id=connection["id"]))
    assert as_api_json(response) == {
        "is_success": True,
        "message": "",
        **as_sdk_sees_it(connection),
    }


def test_sdk_parses_the_seed_connection_fields(sdk: SimpleNamespace, fake: FakeDli) -> None:
    response = client(sdk, fake).show_enhanced_connection(sdk.Show(connection_id=WITHVPC))
    assert (response.name, response.status, response.create_time) == (
        "withvpc",
        "ACTIVE",
        1566888011125,
    )
    queue = response.available_queue_info[0]
    assert (queue.name, queue.status, queue.update_time) == (
        "resource_mode_1",
        "ACTIVE",
        1566889577861,
    )
    assert [(h.name, h.ip) for h in response.hosts] == [
        ("ecs-97f8-0001", "192.168.0.1"),
        ("ecs-97f8-0002", "192.168.0.2"),
    ]


def test_sdk_lists_everything_with_limit_0(sdk: SimpleNamespace, fake: FakeDli) -> None:
    response = client(sdk, fake).list_enhanced_connections(sdk.List(limit=0))
    expected = [
        {**as_sdk_sees_it(c), "isPrivis": c.get("isPrivis", True)}
        for c in by_creation(demo_connections())
    ]
    assert as_api_json(response) == {
        "is_success": True,
        "message": "",
        "count": len(expected),
        "connections": expected,
    }
    privis = {c.name: c.is_privis for c in response.connections}
    assert privis["css-search-logs"] is False
    pools = next(c for c in response.connections if c.name == "kafka-stream-pools")
    assert [p.status for p in pools.elastic_resource_pools] == ["ACTIVE", "FAILED"]
    assert pools.ipv6_enable is True


def test_sdk_pages_and_filters(sdk: SimpleNamespace, fake: FakeDli) -> None:
    fake.clear_requests()
    active = [c for c in by_creation(demo_connections()) if c["status"] == "ACTIVE"]
    response = client(sdk, fake).list_enhanced_connections(
        sdk.List(limit=2, offset=1, status="active")
    )
    assert [c.id for c in response.connections] == [c["id"] for c in active[1:3]]
    assert response.count == 2
    (recorded,) = fake.requests
    assert recorded.query == "limit=2&offset=1&status=active"
    assert recorded.access_key == DEMO_ACCESS_KEY
    # The SDK signs more than host and date; the fake verified all of them.
    assert "x-project-id" in recorded.headers["authorization"]


def test_sdk_sees_unknown_connection_as_dli_0002(sdk: SimpleNamespace, fake: FakeDli) -> None:
    fake.clear_requests()
    with pytest.raises(sdk.ClientRequestException) as caught:
        client(sdk, fake).show_enhanced_connection(sdk.Show(connection_id="no-such-connection"))
    assert (caught.value.status_code, caught.value.error_code) == (400, "DLI.0002")
    assert caught.value.request_id == fake.requests[-1].request_id


def test_sdk_with_a_wrong_secret_key_gets_apigw_0301(sdk: SimpleNamespace, fake: FakeDli) -> None:
    wrong = client(sdk, fake, secret_key="not-the-demo-secret")
    with pytest.raises(sdk.ClientRequestException) as caught:
        wrong.show_enhanced_connection(sdk.Show(connection_id=WITHVPC))
    assert (caught.value.status_code, caught.value.error_code) == (401, "APIGW.0301")
    assert caught.value.request_id


def test_sdk_runs_a_connectivity_test_checking_then_reachable(
    sdk: SimpleNamespace, fake: FakeDli
) -> None:
    fake.clear_requests()
    fake.reachable = {"172.16.1.10"}
    fake.checking_polls = 1
    dli = client(sdk, fake)
    body = sdk.CreateTestBody(address="172.16.1.10:3306")
    created = dli.create_connectivity_task(sdk.CreateTest(queue_name="sql_prod", body=body))
    assert (created.is_success, created.message) == (True, "")
    assert isinstance(created.task_id, int)
    polls = [
        dli.show_connectivity_task(
            sdk.ShowTest(queue_name="sql_prod", task_id=str(created.task_id))
        )
        for _ in range(2)
    ]
    assert [p.connectivity for p in polls] == ["CHECKING", "REACHABLE"]
    assert polls[-1].message == (
        f"Get node connectivity status successfully for addressId:{created.task_id}"
    )
    post = fake.requests[0]
    assert (post.method, post.path) == (
        "POST",
        f"/v1.0/{DEMO_PROJECT_ID}/queues/sql_prod/connection-test",
    )
    # The SDK signed its JSON body; the fake verified the payload hash.
    assert post.status == 200 and post.access_key == DEMO_ACCESS_KEY


def test_sdk_sees_an_unreachable_address_and_an_unknown_queue(
    sdk: SimpleNamespace, fake: FakeDli
) -> None:
    fake.reachable = set()
    fake.checking_polls = 0
    dli = client(sdk, fake)
    created = dli.create_connectivity_task(
        sdk.CreateTest(queue_name="sql_prod", body=sdk.CreateTestBody(address="db.internal"))
    )
    shown = dli.show_connectivity_task(
        sdk.ShowTest(queue_name="sql_prod", task_id=str(created.task_id))
    )
    assert shown.connectivity == "UNREACHABLE"
    with pytest.raises(sdk.ClientRequestException) as caught:
        dli.create_connectivity_task(
            sdk.CreateTest(queue_name="no_such_queue", body=sdk.CreateTestBody(address="x.y"))
        )
    assert (caught.value.status_code, caught.value.error_code) == (400, "DLI.0002")
