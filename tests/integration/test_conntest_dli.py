"""The connectivity test over real sockets: DliClient's two calls against FakeDli's endpoints."""

from __future__ import annotations

import json

import pytest

from bot.dli.client import DliClient
from bot.errors import DliError, NotFound, Throttled
from bot.local.fake_dli import FakeDli, Fault
from tests.fakes.dli import RecordingSleep, client_for, running_fake

QUEUE = "sql_prod"  # bound (FAILED) to the demo's orders-mysql-peering


def queue_calls(fake: FakeDli) -> list[str]:
    """The paths of the requests the fake saw on the queue (connectivity test) API."""
    return [r.path for r in fake.requests if r.path.startswith("/v1.0/")]


async def test_a_test_checks_first_then_reaches_an_address_in_the_reachable_set(
    fake_dli: FakeDli, dli_client: DliClient
) -> None:
    fake_dli.reachable = {"172.16.1.10"}
    fake_dli.checking_polls = 2
    created = await dli_client.create_connectivity_task(QUEUE, "172.16.1.10:3306")
    task = created.value.task_id
    assert task == "1" and created.request_id == fake_dli.requests[-1].request_id
    seen = [(await dli_client.show_connectivity_task(QUEUE, task)).value for _ in range(3)]
    assert [s.connectivity for s in seen] == ["CHECKING", "CHECKING", "REACHABLE"]
    assert seen[-1].message == "Get node connectivity status successfully for addressId:1"
    (post, *gets) = [r for r in fake_dli.requests if r.path.startswith("/v1.0/")]
    project = fake_dli.project_id
    assert (post.method, post.path) == ("POST", f"/v1.0/{project}/queues/{QUEUE}/connection-test")
    assert [g.path for g in gets] == [f"/v1.0/{project}/queues/{QUEUE}/connection-test/1"] * 3
    # The POST was signed with its body and verified by the fake (else 401).
    assert post.status == 200 and "content-type" in post.headers["authorization"]
    assert fake_dli.tasks == {"1": (QUEUE, "172.16.1.10:3306")}


async def test_an_address_outside_the_set_is_unreachable(
    fake_dli: FakeDli, dli_client: DliClient
) -> None:
    fake_dli.checking_polls = 0
    fake_dli.reachable = {"db.internal:5432"}
    first = await dli_client.create_connectivity_task(QUEUE, "db.internal:3306")
    second = await dli_client.create_connectivity_task(QUEUE, "db.internal:5432")
    shown = [
        (await dli_client.show_connectivity_task(QUEUE, t.value.task_id)).value.connectivity
        for t in (first, second)
    ]
    assert shown == ["UNREACHABLE", "REACHABLE"]


async def test_an_unknown_queue_is_dlis_400_with_its_code(
    fake_dli: FakeDli, dli_client: DliClient
) -> None:
    with pytest.raises(NotFound) as caught:
        await dli_client.create_connectivity_task("no_such_queue", "10.0.0.1")
    assert (caught.value.status, caught.value.code) == (400, "DLI.0002")
    assert "There is no queue named no_such_queue" in str(caught.value)
    with pytest.raises(NotFound):
        await dli_client.show_connectivity_task(QUEUE, "999")


@pytest.mark.parametrize(
    ("queue", "address"),
    [
        ("../../v2.0", "10.0.0.1"),
        ("q/1", "10.0.0.1"),
        ("", "10.0.0.1"),
        (QUEUE, "10.0.0.1:0"),
        (QUEUE, "10.0.0.1:65536"),
        (QUEUE, "10.0.0.256"),
        (QUEUE, "[::1]:80"),
        (QUEUE, "host name"),
        (QUEUE, "-bad-.example"),
        (QUEUE, ""),
    ],
)
async def test_a_bad_queue_or_address_is_refused_before_any_request(
    fake_dli: FakeDli, dli_client: DliClient, queue: str, address: str
) -> None:
    with pytest.raises(ValueError, match=r"queue name|address|port|host"):
        await dli_client.create_connectivity_task(queue, address)
    with pytest.raises(ValueError, match=r"queue name|task id"):
        await dli_client.show_connectivity_task(queue if address else QUEUE, "1/../2")
    assert queue_calls(fake_dli) == []


async def test_faults_apply_to_the_test_calls_and_are_retried(
    fake_dli: FakeDli, dli_client: DliClient, no_wait_sleep: RecordingSleep
) -> None:
    fake_dli.inject(Fault.throttle(retry_after=2, operation="test_create", times=1))
    fake_dli.inject(Fault.dli_error(code="DLI.0999", operation="test_show", times=3))
    created = await dli_client.create_connectivity_task(QUEUE, "10.0.0.1")
    assert no_wait_sleep.delays[0] == 2
    with pytest.raises(DliError) as caught:
        await dli_client.show_connectivity_task(QUEUE, created.value.task_id)
    assert caught.value.code == "DLI.0999"  # three attempts (TEST_RETRY), three faults
    assert [r.status for r in fake_dli.requests if r.path.startswith("/v1.0/")] == [429, 200] + [
        400
    ] * 3


async def test_a_throttled_test_that_never_clears_raises_throttled() -> None:
    async with running_fake(checking_polls=0) as fake, client_for(fake) as client:
        fake.inject(Fault.throttle(operation="test_create"))
        with pytest.raises(Throttled):
            await client.create_connectivity_task(QUEUE, "10.0.0.1")


async def test_a_bad_body_gets_dli_0001(fake_dli: FakeDli) -> None:
    # What another client sending no address would get (ours cannot send one).
    async with client_for(fake_dli) as client:
        answer = await client._http.post(
            f"/v1.0/{fake_dli.project_id}/queues/{QUEUE}/connection-test",
            content=json.dumps({"addr": "x"}).encode(),
        )
    assert (answer.status_code, answer.json()["error_code"]) == (400, "DLI.0001")
