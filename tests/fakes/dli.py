"""Running FakeDli gateways and real DliClients pointed at them, for tests over real sockets.

Plain async context managers, so any test (or fixture) can combine them freely:

    async with running_fake() as fake, client_for(fake) as client:
        fetched = await client.get_connection(WITHVPC)

To use them as pytest fixtures, wrap them in a conftest (tests/integration/conftest.py does
exactly this and provides `fake_dli`, `no_wait_sleep` and `dli_client`):

    @pytest.fixture
    async def fake_dli() -> AsyncIterator[FakeDli]:
        async with running_fake() as fake:
            yield fake

Clients built here never really wait between retries: their `sleep` is a `RecordingSleep` unless
a test passes its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import httpx

from bot.dli.auth import AkSkAuth
from bot.dli.client import DliClient
from bot.local.demo import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, demo_connections, demo_uuid
from bot.local.fake_dli import FakeDli, RecordedRequest
from bot.retry import RetryPolicy

WITHVPC: Final = "4c693ecc-bab8-4113-a838-129cedc9a563"  # the demo set's documented example
FAILING: Final = demo_uuid("connection/orders-mysql-peering")
IAM_TOKENS_PATH: Final = "/v3/auth/tokens"
# Two projects' gateways, as the multi-project tests run them: prod (whose project id each test
# picks) and sg, each with a connection of its own and a twin named like the other's.
SG_PROJECT: Final = "fedcba9876543210fedcba9876543210"
IN_PROD: Final = "11111111-1111-4111-8111-111111111111"
IN_SG: Final = "22222222-2222-4222-8222-222222222222"
TWIN_PROD: Final = "33333333-3333-4333-8333-333333333333"
TWIN_SG: Final = "44444444-4444-4444-8444-444444444444"
#: Few attempts and no waiting: enough to prove retrying without slowing the suite down.
TEST_RETRY: Final = RetryPolicy(attempts=3, base=0.01, cap=0.05)


class RecordingSleep:
    """An `asyncio.sleep` stand-in that returns at once and remembers every delay asked for."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)  # still a scheduling point, as a real sleep is


class HeldSleep:
    """A sleep that lasts until `release()`: a latency fault (FakeDli's, FakeSlackApi's) that
    outlives any timeout, so "X does not wait for it" is proven while it is held.

    Release it before the fake stops, or the server waits for the held handlers on shutdown.
    """

    def __init__(self) -> None:
        self.started = 0
        #: The delays asked for, in order.
        self.delays: list[float] = []
        self._holding = asyncio.Event()
        self._gate = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.started += 1
        self.delays.append(seconds)
        self._holding.set()
        await self._gate.wait()

    # A deadline for an assertion, as FakeSlackApi.wait_for has: it fails a hang, it is not a
    # claim about speed.
    async def holding(self, timeout: float = 5.0, *, count: int = 1) -> None:  # noqa: ASYNC109
        """Return once `count` sleeps have started on the gate (all still held until
        `release()`); AssertionError if fewer start."""
        try:
            async with asyncio.timeout(timeout):
                while self.started < count:
                    self._holding.clear()
                    await self._holding.wait()
        except TimeoutError:
            raise AssertionError(
                f"{self.started} of {count} sleeps on the gate within {timeout:g}s"
            ) from None

    def release(self) -> None:
        self._gate.set()

    @property
    def held(self) -> bool:
        """Whether a sleep started and has not been released yet."""
        return self.started > 0 and not self._gate.is_set()


class SteppingClock:
    """A UTC clock that moves forward by `step` each time it is read (a new date per signature)."""

    def __init__(
        self, start: datetime | None = None, step: timedelta = timedelta(seconds=7)
    ) -> None:
        self._next = start or datetime.now(UTC)
        self._step = step
        self.readings: list[datetime] = []

    def __call__(self) -> datetime:
        now = self._next
        self._next += self._step
        self.readings.append(now)
        return now


def demo_auth(
    access_key: str = DEMO_ACCESS_KEY, secret_key: str = DEMO_SECRET_KEY, **options: Any
) -> AkSkAuth:
    """AK/SK auth with the demo credentials a default FakeDli accepts; options go to AkSkAuth."""
    return AkSkAuth(access_key, secret_key, **options)


@asynccontextmanager
async def running_fake(
    connections: Iterable[Mapping[str, Any]] | None = None, **options: Any
) -> AsyncIterator[FakeDli]:
    """A FakeDli on 127.0.0.1 and a free port, serving the demo data unless told otherwise.

    `options` go to FakeDli (project_id, credentials, users, clock, sleep, …).
    """
    fake = FakeDli(demo_connections() if connections is None else connections, **options)
    async with fake:
        yield fake


@asynccontextmanager
async def client_for(
    fake: FakeDli,
    *,
    auth: httpx.Auth | None = None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    retry: RetryPolicy = TEST_RETRY,
    request_timeout: float = 5.0,
    project_id: str | None = None,
) -> AsyncIterator[DliClient]:
    """A real DliClient for `fake`: demo AK/SK auth and a no-wait sleep unless given others."""
    client = DliClient(
        fake.url,
        project_id or fake.project_id,
        auth=auth if auth is not None else demo_auth(),
        sleep=sleep if sleep is not None else RecordingSleep(),
        retry=retry,
        timeout=request_timeout,
    )
    async with client:
        yield client


def queued(connection_id: str, name: str, **queues: str) -> dict[str, Any]:
    """An ACTIVE connection payload with one bound queue per keyword (`name=status`), no pools;
    a FAILED queue says why ("peering lost")."""
    return {
        "id": connection_id,
        "name": name,
        "status": "ACTIVE",
        "create_time": 1_700_000_000_000,
        "available_queue_info": [
            {
                "name": queue,
                "status": status,
                "peer_id": f"peer-{queue}",
                "err_msg": "peering lost" if status == "FAILED" else "",
                "update_time": None,
            }
            for queue, status in queues.items()
        ],
        "elastic_resource_pools": [],
    }


def dli_requests(fake: FakeDli) -> list[RecordedRequest]:
    """The requests the fake saw on the DLI API (IAM token requests left out)."""
    return [r for r in fake.requests if r.path.startswith("/v2.0/")]


def list_requests(fake: FakeDli) -> list[RecordedRequest]:
    """The fake's list requests, in order: a watcher polls with one per interval (and tag set)."""
    return [r for r in fake.requests if r.path.endswith("/datasource/enhanced-connections")]


def list_calls(fake: FakeDli) -> int:
    return len(list_requests(fake))


def iam_requests(fake: FakeDli) -> list[RecordedRequest]:
    return [r for r in fake.requests if r.path == IAM_TOKENS_PATH]
