"""Integration fixtures: a running FakeDli with the demo data and a real DliClient pointed at it;
the whole `serve` stack on its defaults (a module that needs it configured has its own `stack`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from bot.dli.client import DliClient
from bot.local.fake_dli import FakeDli
from tests.fakes.dli import RecordingSleep, client_for, running_fake
from tests.fakes.slack_stack import SlackStack, slack_stack


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


@pytest.fixture
async def stack(
    isolated: None, key_prefix: str, redis_client: aioredis.Redis
) -> AsyncIterator[SlackStack]:
    """slack_stack(key_prefix), started; Redis keys under the prefix are dropped afterwards."""
    async with slack_stack(key_prefix) as running:
        yield running
