"""The DLI stack end to end over real sockets: client, auth, retries, cached lookup and finder."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis

from bot.dli import signing
from bot.dli.auth import IamTokenAuth
from bot.dli.client import DliClient
from bot.dli.models import is_unknown
from bot.errors import AuthFailed, BadResponse, Forbidden, NotFound, Unavailable
from bot.local.demo import DEMO_PROJECT_ID, DEMO_SECRET_KEY, demo_connections, demo_uuid
from bot.local.fake_dli import FakeDli, Fault, fingerprint
from bot.lookup.cache import ConnectionLookup
from bot.lookup.finder import Ambiguous, ConnectionFinder
from bot.store import KeyValueStore, MemoryStore, RedisStore
from tests.conftest import REDIS_URL
from tests.fakes.cache import FakeClock
from tests.fakes.dli import (
    FAILING,
    TEST_RETRY,
    WITHVPC,
    HeldSleep,
    RecordingSleep,
    SteppingClock,
    client_for,
    demo_auth,
    dli_requests,
    iam_requests,
    running_fake,
)

TTL, HORIZON, NEGATIVE_TTL = 30.0, 3600.0, 10.0
MISSING = demo_uuid("connection/never-created")
# Fields the model always spells out, even when the API left them out (as empty lists).
LIST_FIELDS = ("available_queue_info", "elastic_resource_pools", "hosts", "routes")
DEMO = demo_connections()


def api_view(entry: dict[str, Any], *, listed: bool) -> dict[str, Any]:
    """A demo entry as `Connection.to_api()` must render what the fake serves for it.

    Tags only serve the filter, and `isPrivis` comes with the list API only (default true).
    """
    view: dict[str, Any] = {field: [] for field in LIST_FIELDS}
    view.update({k: v for k, v in entry.items() if k not in ("tags", "isPrivis")})
    if listed:
        view["isPrivis"] = entry.get("isPrivis", True)
    return view


def in_list_order(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(entries, key=lambda e: (e.get("create_time") or 0, e["id"]))


def lookup_on(client: DliClient, store: KeyValueStore, clock: FakeClock) -> ConnectionLookup:
    return ConnectionLookup(
        client, store, ttl=TTL, stale_horizon=HORIZON, negative_ttl=NEGATIVE_TTL, clock=clock.now
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def lookup(dli_client: DliClient, clock: FakeClock) -> ConnectionLookup:
    return lookup_on(dli_client, MemoryStore(clock=clock.monotonic), clock)


@pytest.fixture
def finder(dli_client: DliClient, lookup: ConnectionLookup, clock: FakeClock) -> ConnectionFinder:
    store = MemoryStore(clock=clock.monotonic)
    return ConnectionFinder(
        dli_client,
        lookup,
        store,
        project_id=DEMO_PROJECT_ID,
        name_ttl=HORIZON,
        snapshot_ttl=TTL,
        clock=clock.now,
    )


# -- reading the demo data --------------------------------------------------------------------


async def test_show_returns_each_demo_connection_as_served(
    fake_dli: FakeDli, dli_client: DliClient
) -> None:
    fetched = [await dli_client.get_connection(entry["id"]) for entry in DEMO]

    assert [f.value.to_api() for f in fetched] == [api_view(e, listed=False) for e in DEMO]
    assert [f.request_id for f in fetched] == [r.request_id for r in fake_dli.requests]


async def test_one_unreadable_value_does_not_hide_the_rest_of_the_connection(
    fake_dli: FakeDli, dli_client: DliClient, caplog: pytest.LogCaptureFixture
) -> None:
    failing = next(c for c in demo_connections() if c["id"] == FAILING)
    queues = [{**q, "update_time": "not a number"} for q in failing["available_queue_info"]]
    fake_dli.put({**failing, "status": {"not": "a string"}, "available_queue_info": queues})

    listed = (await dli_client.list_connections(limit=0)).value
    shown = (await dli_client.get_connection(FAILING)).value
    watched = [c async for c in dli_client.iter_listed(page_size=0)]

    assert len(listed.connections) == len(watched) == len(demo_connections())
    for connection in (
        next(c for c in listed.connections if c.id == FAILING),
        shown,
        next(c for c in watched if c.id == FAILING),
    ):
        assert is_unknown(connection, "status")
        bad = connection.available_queue_info
        assert all(is_unknown(q, "update_time") and q.update_time is None for q in bad)
        assert [q.err_msg for q in bad] == [q["err_msg"] for q in queues]
        assert [q.status for q in bad] == [q["status"] for q in queues]
    assert any(FAILING in r.getMessage() for r in caplog.records)


async def test_a_connection_with_unreadable_values_still_pages_like_the_others(
    fake_dli: FakeDli, dli_client: DliClient
) -> None:
    # Sorted by create_time, the broken one lands on the first page of 3.
    fake_dli.put({"id": demo_uuid("broken"), "name": "broken", "status": 1, "create_time": 1})

    paged = [c.name async for c in dli_client.iter_connections(page_size=3)]
    listed = [c.name async for c in dli_client.iter_listed(page_size=3)]

    expected = sorted([*(c["name"] for c in demo_connections()), "broken"])
    assert sorted(paged) == expected
    assert sorted(listed) == expected


async def test_a_bad_value_is_warned_about_once_per_change_not_once_per_poll(
    fake_dli: FakeDli, dli_client: DliClient, caplog: pytest.LogCaptureFixture
) -> None:
    failing = next(c for c in demo_connections() if c["id"] == FAILING)

    async def poll(times: int = 3) -> list[str]:
        caplog.clear()
        for _ in range(times):
            [c async for c in dli_client.iter_listed(page_size=0)]
        return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]

    fake_dli.put({**failing, "status": ["ACTIVE"]})
    [first] = await poll()
    fake_dli.put({**failing, "status": ["ACTIVE"], "name": 7})
    [changed] = await poll()
    fake_dli.put(failing)
    assert await poll() == []
    fake_dli.put({**failing, "status": ["ACTIVE"]})
    [relapse] = await poll()

    assert FAILING in first and "status: array" in first
    assert "name: number" in changed
    assert relapse == first


async def test_list_returns_every_demo_connection_in_order(dli_client: DliClient) -> None:
    page = await dli_client.list_connections(limit=0)

    expected = [api_view(e, listed=True) for e in in_list_order(DEMO)]
    assert [c.to_api() for c in page.value.connections] == expected
    assert page.value.count == len(DEMO)


@pytest.mark.parametrize("page_size", [0, 1, 3, len(DEMO), 100])
async def test_iter_connections_walks_all_pages(
    fake_dli: FakeDli, dli_client: DliClient, page_size: int
) -> None:
    walked = [c.to_api() async for c in dli_client.iter_connections(page_size=page_size)]

    assert walked == [api_view(e, listed=True) for e in in_list_order(DEMO)]
    # A short page ends the walk, so an exact multiple costs one more (empty) page.
    pages = len(DEMO) // page_size + 1 if page_size else 1
    offsets = [dict(pair.split("=") for pair in r.query.split("&")) for r in fake_dli.requests]
    assert [int(q["offset"]) for q in offsets] == [i * page_size for i in range(pages)]


async def test_iter_connections_filters_by_tag(dli_client: DliClient) -> None:
    walked = [c.id async for c in dli_client.iter_connections(page_size=2, tags={"env": "prod"})]

    prod = [e for e in in_list_order(DEMO) if {"key": "env", "value": "prod"} in e.get("tags", [])]
    assert walked == [e["id"] for e in prod]
    assert len(walked) > 2  # more than one page, or the paging went unproven


# -- errors as callers see them ----------------------------------------------------------------


async def test_unknown_id_is_not_found_with_the_gateways_request_id(
    fake_dli: FakeDli, dli_client: DliClient
) -> None:
    with pytest.raises(NotFound) as caught:
        await dli_client.get_connection(MISSING)

    (request,) = fake_dli.requests
    assert caught.value.request_id == request.request_id
    assert caught.value.code == "DLI.0002"


async def test_wrong_secret_key_is_auth_failed_with_a_hint_and_no_secret(
    fake_dli: FakeDli,
) -> None:
    wrong = "not-the-secret-key-0123456789"
    auth = demo_auth(secret_key=wrong)
    async with client_for(fake_dli, auth=auth) as client:
        with pytest.raises(AuthFailed) as caught:
            await client.get_connection(WITHVPC)

    text = f"{caught.value} {caught.value!r} {auth!r}"
    assert "AK/SK" in text
    assert "clock" in text
    assert wrong not in text
    assert DEMO_SECRET_KEY not in text
    (request,) = fake_dli.requests  # not retried: another try would fail the same way
    assert caught.value.request_id == request.request_id


@pytest.mark.parametrize("skew_minutes", [-20, 20])
async def test_client_clock_far_off_is_auth_failed(fake_dli: FakeDli, skew_minutes: int) -> None:
    skewed = demo_auth(clock=lambda: datetime.now(UTC) + timedelta(minutes=skew_minutes))
    async with client_for(fake_dli, auth=skewed) as client:
        with pytest.raises(AuthFailed, match="clock"):
            await client.get_connection(WITHVPC)
    assert [r.error_code for r in fake_dli.requests] == ["APIGW.0301"]


async def test_client_clock_a_little_off_still_works(fake_dli: FakeDli) -> None:
    skewed = demo_auth(clock=lambda: datetime.now(UTC) - timedelta(minutes=10))
    async with client_for(fake_dli, auth=skewed) as client:
        assert (await client.get_connection(WITHVPC)).value.name == "withvpc"


async def test_security_token_is_sent_and_signed(fake_dli: FakeDli) -> None:
    token = "temporary-security-token-value"
    async with client_for(fake_dli, auth=demo_auth(security_token=token)) as client:
        fetched = await client.get_connection(WITHVPC)

    assert fetched.value.id == WITHVPC
    (request,) = fake_dli.requests
    assert request.headers["x-security-token"] == fingerprint(token)
    signed = request.headers["authorization"].split("SignedHeaders=")[1].split(",")[0]
    assert "x-security-token" in signed.split(";")


async def test_other_project_is_forbidden(fake_dli: FakeDli) -> None:
    async with client_for(fake_dli, project_id="another-project") as client:
        with pytest.raises(Forbidden):
            await client.get_connection(WITHVPC)
    assert [r.error_code for r in fake_dli.requests] == ["APIGW.0302"]


# -- retries ------------------------------------------------------------------------------------


async def test_throttling_is_retried_after_retry_after_with_fresh_signatures(
    fake_dli: FakeDli,
) -> None:
    fake_dli.inject(Fault.throttle(retry_after=3, times=2))
    clock = SteppingClock()
    sleep = RecordingSleep()
    async with client_for(fake_dli, auth=demo_auth(clock=clock), sleep=sleep) as client:
        fetched = await client.get_connection(WITHVPC)

    assert fetched.value.id == WITHVPC
    assert len(sleep.delays) == 2
    assert all(delay >= 3 for delay in sleep.delays)
    requests = fake_dli.requests
    assert [r.status for r in requests] == [429, 429, 200]
    assert [r.headers["x-sdk-date"] for r in requests] == [
        signing.sdk_date(t) for t in clock.readings
    ]
    assert len({r.headers["x-sdk-date"] for r in requests}) == 3
    assert len({r.headers["authorization"] for r in requests}) == 3
    assert fetched.request_id == requests[-1].request_id


# Server failures may pass on the next try: retried, then Unavailable. Unusable answers would
# only come again: BadResponse at once.
@pytest.mark.parametrize(
    ("fault", "error", "attempts"),
    [
        pytest.param(Fault.server_error(), Unavailable, TEST_RETRY.attempts, id="500"),
        pytest.param(
            Fault.server_error(status=503, code="APIGW.0613"), Unavailable, TEST_RETRY.attempts,
            id="503",
        ),
        # DLI's own "server-side error": 400 + DLI.0999
        pytest.param(Fault.dli_error(), Unavailable, TEST_RETRY.attempts, id="DLI.0999"),
        pytest.param(Fault.drop(), Unavailable, TEST_RETRY.attempts, id="drop"),
        pytest.param(Fault.malformed(), BadResponse, 1, id="html"),
        pytest.param(Fault.success_false(), BadResponse, 1, id="is_success=false"),
    ],
)  # fmt: skip
async def test_failures_are_retried_only_when_another_try_may_answer(
    fake_dli: FakeDli,
    dli_client: DliClient,
    no_wait_sleep: RecordingSleep,
    fault: Fault,
    error: type[Exception],
    attempts: int,
) -> None:
    fake_dli.inject(fault)

    with pytest.raises(error):
        await dli_client.get_connection(WITHVPC)

    assert len(fake_dli.requests) == attempts
    assert len(no_wait_sleep.delays) == attempts - 1


async def test_answer_slower_than_the_timeout_is_retried_then_unavailable() -> None:
    held = HeldSleep()
    async with running_fake(sleep=held) as fake:
        fake.inject(Fault.latency(seconds=600))
        try:
            # The one real wait of this file: a timeout can only be proven by timing out.
            async with client_for(fake, request_timeout=0.2) as client:
                with pytest.raises(Unavailable, match="in time"):
                    await client.get_connection(WITHVPC)
        finally:
            held.release()
    assert held.started == TEST_RETRY.attempts


# -- IAM token auth -----------------------------------------------------------------------------

IAM_USER, IAM_PASSWORD = "ops-bot", "iam-password-not-real-1"


@pytest.fixture
async def iam_fake() -> AsyncIterator[FakeDli]:
    # No AK/SK pairs at all: only a token from the fake's IAM opens the DLI API.
    async with running_fake(credentials={}, users={IAM_USER: IAM_PASSWORD}) as fake:
        yield fake


def iam_auth(fake: FakeDli, password: str = IAM_PASSWORD) -> IamTokenAuth:
    return IamTokenAuth(
        fake.url, user=IAM_USER, password=password, domain="acme", project_id=fake.project_id
    )


async def test_iam_token_is_issued_once_and_renewed_once_after_revocation(
    iam_fake: FakeDli,
) -> None:
    auth = iam_auth(iam_fake)
    try:
        async with client_for(iam_fake, auth=auth) as client:
            assert (await client.get_connection(WITHVPC)).value.name == "withvpc"
            assert (await client.get_connection(FAILING)).value.id == FAILING
            assert len(iam_requests(iam_fake)) == 1

            iam_fake.revoke_tokens()
            assert (await client.get_connection(WITHVPC)).value.name == "withvpc"
            await client.get_connection(WITHVPC)
    finally:
        await auth.aclose()

    assert [r.status for r in iam_requests(iam_fake)] == [201, 201]
    dli = dli_requests(iam_fake)
    assert [r.error_code for r in dli] == [None, None, "APIGW.0307", None, None]
    tokens = [r.headers["x-auth-token"] for r in dli]
    assert tokens[0] == tokens[1] == tokens[2] != tokens[3] == tokens[4]


async def test_iam_wrong_password_is_auth_failed_without_the_password(iam_fake: FakeDli) -> None:
    wrong = "wrong-iam-password-42"
    auth = iam_auth(iam_fake, password=wrong)
    try:
        async with client_for(iam_fake, auth=auth) as client:
            with pytest.raises(AuthFailed) as caught:
                await client.get_connection(WITHVPC)
    finally:
        await auth.aclose()
    assert "DLI_IAM_PASSWORD" in str(caught.value)
    assert wrong not in f"{caught.value} {caught.value!r} {auth!r}"
    assert dli_requests(iam_fake) == []


# -- the cached lookup against the fake ---------------------------------------------------------


async def test_concurrent_cold_lookups_share_one_request_then_warm_costs_none(
    fake_dli: FakeDli, lookup: ConnectionLookup
) -> None:
    found = await asyncio.gather(*(lookup.lookup(WITHVPC) for _ in range(100)))

    assert {f.source for f in found} == {"live"}
    assert {f.connection.id for f in found} == {WITHVPC}
    assert len(fake_dli.requests) == 1

    warm = await lookup.lookup(WITHVPC.upper())
    assert warm.source == "cache"
    assert warm.connection == found[0].connection
    assert warm.request_id == fake_dli.requests[0].request_id
    assert len(fake_dli.requests) == 1


@pytest.mark.parametrize(
    ("outage", "reason"),
    [
        (Fault.drop(), "unavailable"),
        (Fault.server_error(status=502), "unavailable"),
        (Fault.throttle(retry_after=0), "throttled"),
    ],
    ids=["drop", "502", "throttle"],
)
async def test_dli_failing_serves_the_stale_copy_with_reason_and_age(
    fake_dli: FakeDli, lookup: ConnectionLookup, clock: FakeClock, outage: Fault, reason: str
) -> None:
    fresh = await lookup.lookup(WITHVPC)
    clock.advance(TTL + 5)
    fake_dli.inject(outage)

    stale = await lookup.lookup(WITHVPC)

    assert stale.source == "stale"
    assert stale.stale_reason == reason
    assert stale.age(clock.now()) == timedelta(seconds=TTL + 5)
    assert stale.connection == fresh.connection
    assert len(fake_dli.requests) == 1 + TEST_RETRY.attempts


async def test_stopped_server_serves_the_stale_copy(
    fake_dli: FakeDli, lookup: ConnectionLookup, clock: FakeClock
) -> None:
    await lookup.lookup(FAILING)
    await fake_dli.stop()
    clock.advance(TTL)

    stale = await lookup.lookup(FAILING, force=True)

    assert (stale.source, stale.stale_reason) == ("stale", "unavailable")
    assert stale.age(clock.now()) == timedelta(seconds=TTL)


async def test_failing_without_a_copy_raises(fake_dli: FakeDli, lookup: ConnectionLookup) -> None:
    fake_dli.inject(Fault.drop())
    with pytest.raises(Unavailable):
        await lookup.lookup(WITHVPC)


async def test_not_found_is_remembered_until_the_negative_ttl(
    fake_dli: FakeDli, lookup: ConnectionLookup, clock: FakeClock
) -> None:
    with pytest.raises(NotFound) as first:
        await lookup.lookup(MISSING)
    with pytest.raises(NotFound) as second:
        await lookup.lookup(MISSING)

    assert len(fake_dli.requests) == 1
    assert second.value.request_id == first.value.request_id == fake_dli.requests[0].request_id

    clock.advance(NEGATIVE_TTL)
    with pytest.raises(NotFound):
        await lookup.lookup(MISSING)
    assert len(fake_dli.requests) == 2


async def test_force_refresh_asks_dli_and_sees_changes(
    fake_dli: FakeDli, lookup: ConnectionLookup
) -> None:
    await lookup.lookup(WITHVPC)
    fake_dli.set_queue(WITHVPC, "resource_mode_1", "FAILED", "peering deleted")

    cached = await lookup.lookup(WITHVPC)
    forced = await lookup.lookup(WITHVPC, force=True)

    assert (cached.source, [q.status for q in cached.connection.failed]) == ("cache", [])
    assert forced.source == "live"
    assert [(q.name, q.err_msg) for q in forced.connection.failed] == [
        ("resource_mode_1", "peering deleted")
    ]
    assert len(fake_dli.requests) == 2
    assert (await lookup.lookup(WITHVPC)).connection == forced.connection


async def test_two_processes_share_answers_through_redis(
    fake_dli: FakeDli,
    clock: FakeClock,
    redis_client: aioredis.Redis,
    key_prefix: str,
) -> None:
    # "web" and "worker": separate DLI clients and Redis connections, one Redis namespace.
    worker_store = RedisStore.from_url(REDIS_URL, prefix=key_prefix)
    async with client_for(fake_dli) as web_client, client_for(fake_dli) as worker_client:
        web = lookup_on(web_client, RedisStore(redis_client, prefix=key_prefix), clock)
        worker = lookup_on(worker_client, worker_store, clock)
        try:
            live = await web.lookup(WITHVPC)
            shared = await worker.lookup(WITHVPC)
            assert (live.source, shared.source) == ("live", "cache")
            assert shared.connection.to_api() == live.connection.to_api()
            assert len(fake_dli.requests) == 1

            with pytest.raises(NotFound):
                await worker.lookup(MISSING)
            with pytest.raises(NotFound):
                await web.lookup(MISSING)
            assert len(fake_dli.requests) == 2

            fake_dli.set_queue(WITHVPC, "resource_mode_1", "FAILED", "route quota")
            await worker.lookup(WITHVPC, force=True)
            seen_by_web = await web.lookup(WITHVPC)
            assert seen_by_web.source == "cache"
            assert [q.err_msg for q in seen_by_web.connection.failed] == ["route quota"]
            assert len(fake_dli.requests) == 3
        finally:
            await worker_store.aclose()
    assert await redis_client.exists(key_prefix + web.cache_key(WITHVPC))


# -- the finder: ids and names -----------------------------------------------------------------


@pytest.mark.parametrize("typed", ["withvpc", "WithVPC", f"  {WITHVPC}  ", WITHVPC.upper()])
async def test_one_exact_match_is_a_lookup(finder: ConnectionFinder, typed: str) -> None:
    found = await finder.find(typed)

    assert not isinstance(found, Ambiguous)
    assert found.connection.id == WITHVPC
    assert found.source == "live"


async def test_name_lookup_uses_the_list_filter_and_seeds_the_cache(
    fake_dli: FakeDli, finder: ConnectionFinder, lookup: ConnectionLookup
) -> None:
    await finder.find("withvpc")
    (request,) = fake_dli.requests
    assert request.path.endswith("/enhanced-connections")
    assert sorted(request.query.split("&")) == ["limit=0", "name=withvpc"]

    assert (await lookup.lookup(WITHVPC)).source == "cache"
    assert len(fake_dli.requests) == 1


async def test_a_substring_of_several_names_is_ambiguous(finder: ConnectionFinder) -> None:
    found = await finder.find("ing")

    expected = [e["name"] for e in in_list_order(DEMO) if "ing" in e["name"]]
    assert len(expected) > 1
    assert isinstance(found, Ambiguous)
    assert [c.name for c in found.matches] == expected


@pytest.mark.parametrize("typed", ["no-such-connection", "kein Anschluss für ü & =", MISSING])
async def test_no_match_is_not_found(finder: ConnectionFinder, typed: str) -> None:
    with pytest.raises(NotFound):
        await finder.find(typed)


async def test_a_name_seen_before_reaches_the_stale_copy_while_dli_is_down(
    fake_dli: FakeDli, finder: ConnectionFinder, clock: FakeClock
) -> None:
    await finder.find("withvpc")
    clock.advance(TTL + 1)
    fake_dli.inject(Fault.drop())

    found = await finder.find("withvpc")

    assert not isinstance(found, Ambiguous)
    assert (found.connection.id, found.source) == (WITHVPC, "stale")
    assert found.stale_reason == "unavailable"
    with pytest.raises(Unavailable):
        await finder.find("kafka-stream-pools")  # never resolved: nothing to fall back on


async def test_snapshot_is_one_list_call_briefly_cached(
    fake_dli: FakeDli, finder: ConnectionFinder
) -> None:
    first = await finder.snapshot()
    again = await finder.snapshot()

    assert [c.to_api() for c in first.connections] == [
        api_view(e, listed=True) for e in in_list_order(DEMO)
    ]
    assert [c.to_api() for c in again.connections] == [c.to_api() for c in first.connections]
    assert len(fake_dli.requests) == 1
    await finder.snapshot(force=True)
    assert len(fake_dli.requests) == 2
