"""build_services end to end: demo mode, real AK/SK and IAM modes against a fake, Redis down."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.config import Settings, load_settings
from bot.local.demo import demo_connections
from bot.lookup.finder import Ambiguous
from bot.services import Services, build_services
from tests.fakes.dli import WITHVPC, dli_requests, iam_requests, running_fake
from tests.helpers import free_port

pytestmark = pytest.mark.usefixtures("isolated")

CUSTOM_AK, CUSTOM_SK = "CUSTOMAK-TEST-ONLY", "custom-secret-key-not-real-987"
CUSTOM_PROJECT = "5f0e1d2c3b4a49588776655443322110"


class RecordingTransport(httpx.AsyncHTTPTransport):
    """The ordinary transport, remembering where requests went (to find the demo server)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[httpx.URL] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(request.url)
        return await super().handle_async_request(request)


@pytest.fixture
async def services_for() -> AsyncIterator[list[Services]]:
    """Built services to close after the test, whatever it asserted."""
    built: list[Services] = []
    yield built
    for services in built:
        await services.aclose()


async def build(
    built: list[Services], settings: Settings, transport: httpx.AsyncBaseTransport | None = None
) -> Services:
    services = await build_services(settings, transport=transport)
    built.append(services)
    return services


async def assert_found_by_id_and_name(services: Services) -> None:
    by_id = await services.main.finder.find(WITHVPC)
    by_name = await services.main.finder.find("withvpc")
    assert not isinstance(by_id, Ambiguous)
    assert not isinstance(by_name, Ambiguous)
    assert by_id.connection.id == by_name.connection.id == WITHVPC


async def test_no_credentials_is_demo_mode_and_aclose_stops_the_demo_server(
    services_for: list[Services], tmp_path: Path
) -> None:
    # `isolated` moved the test into an empty directory: no `.env` can leak settings in.
    assert not (tmp_path / ".env").exists()
    transport = RecordingTransport()
    services = await build(services_for, load_settings(), transport)

    assert services.demo
    await assert_found_by_id_and_name(services)
    snapshot = await services.main.finder.snapshot()
    assert {c.id for c in snapshot.connections} == {e["id"] for e in demo_connections()}

    demo_url = transport.urls[0]
    assert demo_url.host == "127.0.0.1"
    _, writer = await asyncio.open_connection(demo_url.host, demo_url.port)  # listening now
    writer.close()
    await writer.wait_closed()
    await services.aclose()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection(demo_url.host, demo_url.port)


async def test_aksk_settings_talk_to_the_configured_endpoint(
    services_for: list[Services], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_fake(project_id=CUSTOM_PROJECT, credentials={CUSTOM_AK: CUSTOM_SK}) as fake:
        monkeypatch.setenv("HUAWEICLOUD_SDK_AK", CUSTOM_AK)
        monkeypatch.setenv("HUAWEICLOUD_SDK_SK", CUSTOM_SK)
        monkeypatch.setenv("DLI_PROJECT_ID", CUSTOM_PROJECT)
        monkeypatch.setenv("DLI_ENDPOINT", fake.url + "/")
        services = await build(services_for, load_settings())

        assert not services.demo
        await assert_found_by_id_and_name(services)
        await services.aclose()

    requests = dli_requests(fake)
    assert len(requests) == 2
    assert {r.access_key for r in requests} == {CUSTOM_AK}
    assert all(r.path.startswith(f"/v2.0/{CUSTOM_PROJECT}/") for r in requests)


async def test_iam_settings_get_a_token_from_the_configured_iam(
    services_for: list[Services], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_fake(
        project_id=CUSTOM_PROJECT, credentials={}, users={"ops-bot": "iam-pass-not-real"}
    ) as fake:
        for name, value in {
            "DLI_IAM_USER": "ops-bot",
            "DLI_IAM_PASSWORD": "iam-pass-not-real",
            "DLI_IAM_DOMAIN": "acme",
            "DLI_PROJECT_ID": CUSTOM_PROJECT,
            "DLI_ENDPOINT": fake.url,
            "DLI_IAM_ENDPOINT": fake.url,
        }.items():
            monkeypatch.setenv(name, value)
        services = await build(services_for, load_settings())

        await assert_found_by_id_and_name(services)
        await services.aclose()

    assert len(iam_requests(fake)) == 1
    assert [r.error_code for r in dli_requests(fake)] == [None, None]


async def test_redis_down_still_answers_and_logs_the_outage_once(
    services_for: list[Services], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    settings = Settings(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    services = await build(services_for, settings)

    first = await services.main.lookup.lookup(WITHVPC)
    await assert_found_by_id_and_name(services)
    await services.main.finder.snapshot()
    again = await services.main.lookup.lookup(WITHVPC)

    # Without a cache every answer is live, but every answer comes.
    assert (first.source, again.source) == ("live", "live")
    assert not services.store.healthy

    await services.aclose()  # closing beside a dead Redis is quiet too: no error, no new warning
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [(r.name, "Redis unavailable" in r.getMessage()) for r in warnings] == [
        ("bot.store", True)
    ]


async def control_answers(http: httpx.AsyncClient, base: str) -> tuple[int, int]:
    """What a fake DLI at `base` answers to a fault injection and to reading its request log."""
    fault = await http.post(f"{base}/_fake/faults", json={"kind": "server_error", "status": 503})
    log = await http.get(f"{base}/_fake/requests")
    return fault.status_code, log.status_code


async def test_the_demo_backend_serves_no_control_routes(services_for: list[Services]) -> None:
    transport = RecordingTransport()
    services = await build(services_for, load_settings(), transport)
    await services.main.finder.find(WITHVPC)
    demo = str(transport.urls[0].copy_with(path="/", query=None)).rstrip("/")
    async with running_fake() as tests_fake, httpx.AsyncClient(trust_env=False) as http:
        assert await control_answers(http, tests_fake.url) == (201, 200)  # the tests' fake has them
        assert await control_answers(http, demo) == (404, 404)
        unknown = await http.get(f"{demo}/_fake/connections")
    # Like any path the gateway does not publish.
    assert unknown.json()["error_code"] == "APIGW.0101"
    # No fault reached the demo: it still answers.
    assert not isinstance(await services.main.finder.find(WITHVPC, force=True), Ambiguous)
