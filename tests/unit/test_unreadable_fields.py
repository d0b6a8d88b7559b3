"""One unreadable value costs that value only: the connection still renders and still alerts.

DLI's answers go through a real DliClient (httpx.MockTransport plays DLI), so this is the parse
the card and the watcher really get: the show answer for the card, the list for the watcher.
"""

from __future__ import annotations

import asyncio
import copy
import json
from datetime import UTC, datetime
from typing import Any, Final

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.blocks.card import connection_card
from bot.blocks.render import render_text
from bot.dli.client import DliClient
from bot.dli.models import Connection, ListedConnection, is_unknown
from bot.lookup.cache import Lookup
from bot.watch.transitions import Failed, detect
from tests.slack_limits import assert_within_slack_limits

PROJECT: Final = "0123456789abcdef0123456789abcdef"
CONN_ID: Final = "4c693ecc-bab8-4113-a838-129cedc9a563"
NOW: Final = datetime(2024, 5, 1, 12, tzinfo=UTC)


def _queue(name: str, status: str, err_msg: str = "") -> dict[str, Any]:
    return {"peer_id": f"peer-{name}", "name": name, "status": status, "err_msg": err_msg,
            "update_time": 1566889577861}  # fmt: skip


SEED: Final[dict[str, Any]] = {
    "id": CONN_ID,
    "name": "orders-peering",
    "status": "ACTIVE",
    "available_queue_info": [
        _queue("sql_prod", "FAILED", "route to 172.16.0.0/16 overlaps"),
        _queue("sql_adhoc", "ACTIVE"),
        _queue("spark_jobs", "FAILED", "subnet has no free IP"),
    ],
    "elastic_resource_pools": [_queue("pool_a", "FAILED", "pool quota exceeded")],
    "dest_vpc_id": "vpc-1",
    "dest_network_id": "subnet-1",
    "create_time": 1566888011125,
    "hosts": [{"name": "db-1", "ip": "192.168.0.1"}],
    "ipv6_enable": False,
    "routes": [{"name": "r1", "cidr": "10.0.0.0/8", "create_time": 1566888011125}],
    "isPrivis": True,
}


def _paths(value: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Every field and list entry of SEED below the top, except the id."""
    found: list[tuple[str | int, ...]] = []
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        if prefix == () and key == "id":
            continue
        found.append((*prefix, key))
        if isinstance(item, dict | list):
            found += _paths(item, (*prefix, key))
    return found


PATHS: Final = _paths(SEED)
# Values of a type no field of a connection has, or a form no field accepts.
WRONG: Final = st.one_of(
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.lists(st.integers(), min_size=1, max_size=2),
    st.just("not-a-number-or-time"),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
)


def replaced(path: tuple[str | int, ...], value: object) -> dict[str, Any]:
    data = copy.deepcopy(SEED)
    node: Any = data
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return data


def failed_queues(data: dict[str, Any]) -> list[str]:
    """The queues and pools DLI still reports FAILED in `data`, as the watcher keys them."""
    found = []
    for field in ("available_queue_info", "elastic_resource_pools"):
        entries = data[field] if isinstance(data[field], list) else []
        found += [
            q["name"] if isinstance(q.get("name"), str) else ""
            for q in entries
            if isinstance(q, dict) and q.get("status") == "FAILED"
        ]
    return sorted(found)


def answers(show: dict[str, Any], listed: dict[str, Any]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        body: dict[str, Any] = {"is_success": True, "count": 1, "connections": [listed]}
        if request.url.path.endswith(CONN_ID):
            body = {"is_success": True, "message": "", **show}
        # json.dumps, not httpx's json=: it writes NaN and Infinity, which a JSON parser may meet.
        return httpx.Response(200, content=json.dumps(body).encode())

    return httpx.MockTransport(handler)


async def read(data: dict[str, Any]) -> tuple[Connection, list[ListedConnection]]:
    transport = answers(data, data)
    async with DliClient("http://dli.test", PROJECT, auth=None, transport=transport) as client:
        shown = (await client.get_connection(CONN_ID)).value
        listed = [c async for c in client.iter_listed(page_size=0)]
    return shown, listed


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(PATHS), WRONG)
def test_any_single_wrong_value_still_renders_and_still_alerts(
    path: tuple[str | int, ...], value: object
) -> None:
    data = replaced(path, value)
    shown, listed = asyncio.run(read(data))

    message = connection_card(Lookup(shown, "live", NOW), now=NOW)
    assert_within_slack_limits(message)
    text = render_text(message)
    assert "orders-peering" in text or path == ("name",)
    failing = failed_queues(data)
    for queue in shown.failed:
        assert queue.err_msg in text  # what failed, and why
    assert sorted(q.name for q in shown.failed) == failing

    [connection] = listed
    assert connection.id == CONN_ID
    detection = detect({}, listed, None, NOW.timestamp())
    alerted = sorted(
        q.name for e in detection.events if isinstance(e, Failed) for q in e.incident.queues
    )
    assert alerted == failing


def test_an_unreadable_update_time_is_shown_as_unknown_and_the_rest_as_usual() -> None:
    data = replaced(("available_queue_info", 0, "update_time"), "yesterday")
    shown, [listed] = asyncio.run(read(data))

    sql_prod = shown.available_queue_info[0]
    assert is_unknown(sql_prod, "update_time") and sql_prod.update_time is None
    assert not is_unknown(sql_prod, "status") and sql_prod.is_failed
    assert is_unknown(listed.available_queue_info[0], "update_time")
    text = render_text(connection_card(Lookup(shown, "live", NOW), now=NOW))
    assert "could not read" not in text
    title = next(line for line in text.splitlines() if "sql_prod" in line)
    assert "updated unknown" in title
    assert "FAILED" in title


def test_unreadable_connection_fields_are_shown_as_unknown() -> None:
    data = {**SEED, "status": {"v": 2}, "dest_vpc_id": ["vpc"], "create_time": "soon"}
    shown, _ = asyncio.run(read(data))

    assert {"status", "dest_vpc_id", "create_time"} <= (shown.unreadable or set())
    text = render_text(connection_card(Lookup(shown, "live", NOW), now=NOW))
    for label in ("Status", "VPC", "Created"):
        assert f"{label}: unknown" in text
    assert "route to 172.16.0.0/16 overlaps" in text
