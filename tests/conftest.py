"""Shared fixtures: a real Redis with a key prefix of its own per test, and a temporary HOME."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisError

REDIS_URL = os.environ.get("DLICONN_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def key_prefix() -> str:
    """A namespace no other test uses, so tests can share one Redis server safely."""
    return f"dliconn-test:{uuid.uuid4().hex[:12]}:"


@pytest.fixture
async def redis_client(key_prefix: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(REDIS_URL, decode_responses=False)
    try:
        await client.ping()
    except RedisError as exc:  # pragma: no cover - environment problem, not a test result
        pytest.fail(f"tests need Redis at {REDIS_URL} (make test starts one): {exc}")
    yield client
    keys = [k async for k in client.scan_iter(match=f"{key_prefix}*", count=1000)]
    if keys:
        await client.delete(*keys)
    await client.aclose()
