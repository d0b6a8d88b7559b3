"""Integration fixtures: a running FakeDli with the demo data and a real DliClient pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.dli.client import DliClient
from bot.local.fake_dli import FakeDli
from tests.fakes.dli import RecordingSleep, client_for, running_fake


@pytest.fixture
async def fake_dli() -> AsyncIterator[FakeDli]:
    async with running_fake() as fake:
        yield fake


@pytest.fixture
def no_wait_sleep() -> RecordingSleep:
    """The sleep `dli_client` retries with: returns at once, keeps the delays for assertions."""
    return RecordingSleep()


@pytest.fixture
async def dli_client(fake_dli: FakeDli, no_wait_sleep: RecordingSleep) -> AsyncIterator[DliClient]:
    async with client_for(fake_dli, sleep=no_wait_sleep) as client:
        yield client
