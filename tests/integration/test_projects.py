"""Lookups across two projects, each its own fake DLI gateway with its own keys, over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any, Final

import pytest

from bot.dli.client import DliClient
from bot.errors import NotFound, Unavailable
from bot.local.fake_dli import FakeDli, Fault
from bot.lookup.cache import ConnectionLookup, Lookup, ProjectRef
from bot.lookup.finder import Ambiguous, ConnectionFinder, Snapshot
from bot.lookup.projects import Directory, NotFoundAnywhere, ProjectFailure, ProjectLookups
from bot.store import MemoryStore
from tests.fakes.dli import (
    IN_PROD,
    IN_SG,
    SG_PROJECT,
    TWIN_PROD,
    TWIN_SG,
    HeldSleep,
    client_for,
    demo_auth,
    dli_requests,
    running_fake,
)

PROD_ID: Final = "0123456789abcdef0123456789abcdef"
NOWHERE: Final = "99999999-9999-4999-8999-999999999999"


def connection(connection_id: str, name: str, **fields: Any) -> dict[str, Any]:
    return {"id": connection_id, "name": name, "status": "ACTIVE", **fields}


@dataclass
class Two:
    prod: FakeDli
    sg: FakeDli
    directory: Directory
    store: MemoryStore
    prod_gate: HeldSleep
    sg_gate: HeldSleep


def project_lookups(
    alias: str, region: str, client: DliClient, store: MemoryStore
) -> ProjectLookups:
    ref = ProjectRef(alias, region)
    lookup = ConnectionLookup(
        client, store, ttl=30, stale_horizon=3600, negative_ttl=10, project=ref
    )
    finder = ConnectionFinder(
        client, lookup, store, project_id=client.project_id, name_ttl=3600, snapshot_ttl=30
    )
    return ProjectLookups(ref, lookup, finder)


@pytest.fixture
async def two() -> AsyncIterator[Two]:
    prod_gate, sg_gate = HeldSleep(), HeldSleep()
    async with AsyncExitStack() as stack:

        async def gateway(
            project_id: str, key: str, secret: str, gate: HeldSleep, *connections: dict[str, Any]
        ) -> tuple[FakeDli, DliClient]:
            """A project's gateway, with its own keys, and a client for it."""
            fake = await stack.enter_async_context(
                running_fake(
                    connections, project_id=project_id, credentials={key: secret}, sleep=gate
                )
            )
            client = await stack.enter_async_context(client_for(fake, auth=demo_auth(key, secret)))
            return fake, client

        prod, prod_client = await gateway(
            PROD_ID, "PRODAK", "prod-secret", prod_gate,
            connection(IN_PROD, "orders"), connection(TWIN_PROD, "shared-name"),
        )  # fmt: skip
        sg, sg_client = await gateway(
            SG_PROJECT, "SGAK", "sg-secret", sg_gate,
            connection(IN_SG, "payments"), connection(TWIN_SG, "shared-name"),
        )  # fmt: skip
        store = MemoryStore()
        directory = Directory(
            [
                project_lookups("prod", "cn-north-4", prod_client, store),
                project_lookups("sg", "ap-southeast-3", sg_client, store),
            ],
            store,
        )
        try:
            yield Two(prod, sg, directory, store, prod_gate, sg_gate)
        finally:
            prod_gate.release()
            sg_gate.release()


def shows(fake: FakeDli) -> Sequence[str]:
    return [r.path.rsplit("/", 1)[-1] for r in dli_requests(fake) if r.path.count("/") > 4]


async def test_an_id_is_answered_by_the_project_that_has_it_and_remembered(two: Two) -> None:
    found = await two.directory.lookup(IN_SG)

    assert found.connection.name == "payments"
    assert found.project == ProjectRef("sg", "ap-southeast-3")
    assert shows(two.prod) == [IN_SG] and shows(two.sg) == [IN_SG]

    again = await two.directory.lookup(IN_SG, force=True)
    assert again.project == found.project
    # Remembered: the second lookup asks only the project that had it.
    assert shows(two.prod) == [IN_SG] and shows(two.sg) == [IN_SG, IN_SG]


async def test_a_project_the_caller_cannot_see_is_never_asked(two: Two) -> None:
    await two.directory.lookup(IN_SG)  # remembered as sg's
    two.sg.clear_requests()

    with pytest.raises(NotFound) as raised:
        await two.directory.lookup(IN_SG, visible=["prod"], force=True)
    with pytest.raises(NotFound) as unknown:
        await two.directory.lookup(NOWHERE, visible=["prod"], force=True)

    # Answered exactly like an id no project has.
    assert type(raised.value) is type(unknown.value)
    assert raised.value.message == unknown.value.message.replace(NOWHERE, IN_SG)
    assert not isinstance(raised.value, NotFoundAnywhere) or not raised.value.unreachable
    assert "payments" not in str(raised.value)
    assert dli_requests(two.sg) == []


async def test_the_first_answer_wins_while_a_slow_project_is_still_held(two: Two) -> None:
    two.prod.inject(Fault.latency(1))
    two.sg.inject(Fault.latency(1))
    asked = asyncio.create_task(two.directory.lookup(IN_PROD))
    await two.prod_gate.holding()
    await two.sg_gate.holding()

    two.prod_gate.release()
    found = await asked

    # Answered while sg's request is still held at its gate: the lookup did not wait for it.
    assert found.project == ProjectRef("prod", "cn-north-4")
    assert two.sg_gate.started == 1


async def test_not_found_names_the_project_that_could_not_be_reached(two: Two) -> None:
    two.sg.inject(Fault.server_error(503))
    missing = "99999999-9999-4999-8999-999999999999"

    with pytest.raises(NotFoundAnywhere) as raised:
        await two.directory.lookup(missing)

    assert raised.value.unreachable == ("sg",)
    assert "not found in prod; sg could not be reached" in str(raised.value)


async def test_every_project_unreachable_is_the_outage_not_a_not_found(two: Two) -> None:
    two.prod.inject(Fault.server_error(503))
    two.sg.inject(Fault.server_error(503))

    with pytest.raises(Unavailable):
        await two.directory.lookup(IN_PROD)


async def test_the_same_name_in_two_projects_is_a_shortlist_with_projects(two: Two) -> None:
    found = await two.directory.find("shared-name")

    assert isinstance(found, Ambiguous)
    assert {c.id for c in found.matches} == {TWIN_PROD, TWIN_SG}
    assert found.project_of[TWIN_PROD].alias == "prod"
    assert found.project_of[TWIN_SG].alias == "sg"


async def test_a_qualified_name_asks_one_project(two: Two) -> None:
    found = await two.directory.find("sg/shared-name")

    assert isinstance(found, Lookup)
    assert (found.connection.id, found.project) == (TWIN_SG, ProjectRef("sg", "ap-southeast-3"))
    assert dli_requests(two.prod) == []


async def test_an_unqualified_unique_name_is_found_in_its_project(two: Two) -> None:
    found = await two.directory.find("payments")

    assert isinstance(found, Lookup)
    assert found.project is not None and found.project.alias == "sg"


async def test_a_qualified_name_in_an_invisible_project_reads_as_unknown(two: Two) -> None:
    with pytest.raises(NotFound):
        await two.directory.find("sg/payments", visible=["prod"])
    assert dli_requests(two.sg) == []


async def test_snapshots_cover_every_visible_project_and_report_one_that_failed(two: Two) -> None:
    two.sg.inject(Fault.server_error(503))

    listed = await two.directory.snapshots()

    prod, sg = listed
    assert isinstance(prod, Snapshot) and prod.project == ProjectRef("prod", "cn-north-4")
    assert {c.id for c in prod.connections} == {IN_PROD, TWIN_PROD}
    assert isinstance(sg, ProjectFailure) and sg.project.alias == "sg"
