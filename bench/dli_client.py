"""DLI client benchmark: our async DliClient against Huawei's official Python SDK, one fake DLI."""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any, Final

from bench.common import (
    LATENCY,
    Row,
    Timer,
    ratio_at_most,
    speedup_at_least,
    standard_fake,
    standard_ids,
)
from bot.dli.auth import AkSkAuth
from bot.dli.client import DliClient
from bot.local.demo import (
    DEMO_ACCESS_KEY,
    DEMO_PROJECT_ID,
    DEMO_SECRET_KEY,
)
from bot.metrics import Metrics

CONCURRENCY: Final = 50
ROUNDS: Final = 3  # concurrent runs per client; the median one is reported

SdkClient = Any  # the SDK ships no type information


@dataclass(frozen=True)
class _Sdk:
    """The SDK classes the benchmark uses."""

    credentials: Callable[..., Any]
    http_config: Any
    sync_client: Any
    async_client: Any
    show_request: Callable[..., Any]


@contextmanager
def _sdk() -> Iterator[_Sdk]:
    """The SDK, imported and used with HOME in a throwaway folder: it writes ~/.huaweicloud."""
    with tempfile.TemporaryDirectory(prefix="dliconn-bench-home-") as home:
        previous = os.environ.get("HOME")
        os.environ["HOME"] = home
        try:
            from huaweicloudsdkcore.auth.credentials import BasicCredentials
            from huaweicloudsdkcore.http.http_config import HttpConfig
            from huaweicloudsdkdli.v1 import (
                DliAsyncClient,
                DliClient,
                ShowEnhancedConnectionRequest,
            )

            yield _Sdk(
                BasicCredentials,
                HttpConfig,
                DliClient,
                DliAsyncClient,
                ShowEnhancedConnectionRequest,
            )
        finally:
            if previous is None:
                os.environ.pop("HOME", None)
            else:
                os.environ["HOME"] = previous


def _sdk_client(sdk: _Sdk, cls: Any, url: str) -> SdkClient:
    config = sdk.http_config.get_default_config()
    # Its urllib3 pool keeps 10 connections by default; 50 threads would otherwise keep
    # reconnecting, which would make the baseline look worse than it has to be.
    config.pool_maxsize = CONCURRENCY
    credentials = sdk.credentials(DEMO_ACCESS_KEY, DEMO_SECRET_KEY, DEMO_PROJECT_ID)
    client = (
        cls.new_builder()
        .with_http_config(config)
        .with_credentials(credentials)
        .with_endpoints([url])
        .build()
    )
    logging.getLogger(f"HuaweiCloud-SDK-{cls.__name__}").setLevel(logging.CRITICAL)
    return client


def _check(got: str | None, wanted: str) -> None:
    # A fast wrong answer must not pass as a fast answer.
    if got != wanted:
        raise RuntimeError(f"asked for connection {wanted}, got {got}")


@asynccontextmanager
async def _our_client(url: str, lookups: int) -> AsyncIterator[DliClient]:
    """Our client as the bot runs it (bot.services): AK/SK auth and metrics recorded.

    Leaving, it checks that every one of `lookups` lookups was counted (a retry counts too):
    the figures are only honest if the bookkeeping production pays for was done.
    """
    metrics = Metrics()
    auth = AkSkAuth(DEMO_ACCESS_KEY, DEMO_SECRET_KEY, project_id=DEMO_PROJECT_ID)
    async with DliClient(url, DEMO_PROJECT_ID, auth=auth, metrics=metrics) as client:
        yield client
    counted = metrics.registry.get_sample_value(
        "dliconn_dli_request_seconds_count", {"operation": "show"}
    )
    if counted is None or counted < lookups:
        raise RuntimeError(f"{lookups} lookups made, {counted} counted in the metrics")


async def _ours_sequential(url: str, ids: Sequence[str]) -> Timer:
    async with _our_client(url, 1 + len(ids)) as client:
        await client.get_connection(ids[0])  # warm-up: TCP connection, lazy imports
        with Timer() as timer:
            for connection_id in ids:
                _check((await client.get_connection(connection_id)).value.id, connection_id)
    return timer


async def _median_round(
    run: Callable[[Sequence[str]], Awaitable[None] | None], ids: Sequence[str]
) -> Timer:
    """`run` over the first CONCURRENCY ids to warm up (it opens the connections, and starts the
    threads, that every round reuses), then over all `ids` ROUNDS times: the median round."""

    async def batch(part: Sequence[str]) -> None:
        running = run(part)
        if running is not None:
            await running

    await batch(ids[:CONCURRENCY])
    timers = []
    for _ in range(ROUNDS):
        with Timer() as timer:
            await batch(ids)
        timers.append(timer)
    return sorted(timers, key=lambda timer: timer.wall)[len(timers) // 2]


async def _ours_concurrent(url: str, ids: Sequence[str]) -> Timer:
    async with _our_client(url, CONCURRENCY + ROUNDS * len(ids)) as client:
        gate = asyncio.Semaphore(CONCURRENCY)

        async def show(connection_id: str) -> None:
            async with gate:
                _check((await client.get_connection(connection_id)).value.id, connection_id)

        async def run(batch: Sequence[str]) -> None:
            await asyncio.gather(*(show(connection_id) for connection_id in batch))

        return await _median_round(run, ids)


def _sdk_sequential(sdk: _Sdk, url: str, ids: Sequence[str]) -> Timer:
    client = _sdk_client(sdk, sdk.sync_client, url)
    client.show_enhanced_connection(sdk.show_request(connection_id=ids[0]))
    with Timer() as timer:
        for connection_id in ids:
            shown = client.show_enhanced_connection(sdk.show_request(connection_id=connection_id))
            _check(shown.id, connection_id)
    return timer


async def _sdk_thread_pool(sdk: _Sdk, url: str, ids: Sequence[str]) -> Timer:
    client = _sdk_client(sdk, sdk.sync_client, url)

    def show(connection_id: str) -> None:
        shown = client.show_enhanced_connection(sdk.show_request(connection_id=connection_id))
        _check(shown.id, connection_id)

    with ThreadPoolExecutor(CONCURRENCY, thread_name_prefix="sdk-bench") as pool:

        def run(batch: Sequence[str]) -> None:
            for _ in pool.map(show, batch):
                pass  # iterating re-raises a failed call's exception

        return await _median_round(run, ids)


async def _sdk_async_client(sdk: _Sdk, url: str, ids: Sequence[str]) -> Timer:
    client = _sdk_client(sdk, sdk.async_client, url)

    def run(batch: Sequence[str]) -> None:
        futures = [
            client.show_enhanced_connection_async(sdk.show_request(connection_id=connection_id))
            for connection_id in batch
        ]
        for future, connection_id in zip(futures, batch, strict=True):
            _check(future.result().id, connection_id)

    return await _median_round(run, ids)


async def run() -> list[Row]:
    """Our DliClient vs the official huaweicloudsdkdli client (300 shows, 20 ms RTT)."""
    ids = standard_ids()
    with standard_fake() as fake, _sdk() as sdk:
        ours_sequential = await _ours_sequential(fake.url, ids)
        sdk_sequential = _sdk_sequential(sdk, fake.url, ids)
        ours_concurrent = await _ours_concurrent(fake.url, ids)
        sdk_pool = await _sdk_thread_pool(sdk, fake.url, ids)
        sdk_async = await _sdk_async_client(sdk, fake.url, ids)

    per_lookup_ms = 1000 / len(ids)
    sequential = f"{len(ids)} sequential shows"
    concurrent = f"{len(ids)} shows, concurrency {CONCURRENCY}"
    floor_ms = -(-len(ids) // CONCURRENCY) * LATENCY * 1000
    return [
        Row(
            f"{sequential}: CPU per lookup",
            ours_sequential.cpu * per_lookup_ms,
            sdk_sequential.cpu * per_lookup_ms,
            "ms",
            ratio_at_most(0.5),
            note="baseline: the SDK's sync DliClient; client process CPU only "
            "(time.process_time), the fake runs in a process of its own",
        ),
        Row(
            f"{sequential}: wall per lookup",
            ours_sequential.wall * per_lookup_ms,
            sdk_sequential.wall * per_lookup_ms,
            "ms",
        ),
        Row(
            f"{concurrent}: wall total vs DliAsyncClient",
            ours_concurrent.wall * 1000,
            sdk_async.wall * 1000,
            "ms",
            speedup_at_least(5),
            note="baseline: the SDK's DliAsyncClient, all futures submitted at once; it runs "
            "at most 8 at a time (huaweicloudsdkcore's HttpClient has a fixed "
            f"ThreadPoolExecutor(max_workers=8)); median of {ROUNDS} rounds",
        ),
        Row(
            f"{concurrent}: wall total vs 50 SDK threads",
            ours_concurrent.wall * 1000,
            sdk_pool.wall * 1000,
            "ms",
            note=f"baseline: the SDK's sync DliClient in a ThreadPoolExecutor({CONCURRENCY}), "
            f"urllib3 pool of {CONCURRENCY}; no client can beat {floor_ms:g} ms "
            f"({len(ids)}/{CONCURRENCY} round trips of {LATENCY * 1000:g} ms)",
        ),
        Row(
            f"{concurrent}: CPU per lookup vs 50 SDK threads",
            ours_concurrent.cpu * per_lookup_ms,
            sdk_pool.cpu * per_lookup_ms,
            "ms",
        ),
    ]
