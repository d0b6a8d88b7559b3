"""Shared fixtures: a real Redis with a key prefix of its own per test, and a test's own
environment and working directory for the tests that read Settings."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from tests.helpers import clean_environment

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


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting from the developer's shell, and no stray .env (the cwd is the test's own):
    Settings are only what the test gives. Modules that read Settings use it for every test."""
    clean_environment(monkeypatch)
    monkeypatch.chdir(tmp_path)
