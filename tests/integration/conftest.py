"""Integration fixtures: a running FakeDli with the demo data and a real DliClient pointed at it;
a test's own environment and working directory for the stacks that read Settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.dli.client import DliClient
from bot.local.fake_dli import FakeDli
from tests.fakes.dli import RecordingSleep, client_for, running_fake
from tests.fakes.slack_stack import clean_environment


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
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting from the developer's shell, and no stray .env (the cwd is the test's own):
    Settings are only what the test gives. Modules that build stacks use it for every test."""
    clean_environment(monkeypatch)
    monkeypatch.chdir(tmp_path)
