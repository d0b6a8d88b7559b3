"""DLI payload models: the seed parses exactly, and odd values never break a connection."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.dli.models import (
    Connection,
    ListConnectionsResponse,
    ListedConnections,
    ShowConnectionResponse,
)
from bot.local.demo import demo_connections

SEED: dict[str, Any] = next(c for c in demo_connections() if c["name"] == "withvpc")


def test_the_seed_parses_with_aware_times_and_round_trips() -> None:
    shown = ShowConnectionResponse.model_validate({"is_success": True, "message": "", **SEED})

    assert shown.create_time == datetime(2019, 8, 27, 6, 40, 11, 125000, tzinfo=UTC)
    assert shown.available_queue_info[0].update_time is not None
    assert shown.hosts[1].ip == "192.168.0.2"
    assert {k: v for k, v in shown.to_api().items() if k in SEED} == SEED


def test_unknown_fields_and_statuses_are_kept_and_nulls_are_empty() -> None:
    connection = Connection.model_validate(
        {"id": "x", "status": "MIGRATING", "hosts": None, "routes": None, "future_field": 1,
         "isPrivis": False, "available_queue_info": [{"name": "q", "status": "PAUSED"}]}
    )  # fmt: skip

    assert connection.status == "MIGRATING"
    assert connection.hosts == [] and connection.routes == []
    assert connection.is_privis is False
    assert connection.to_api()["future_field"] == 1
    assert connection.available_queue_info[0].status == "PAUSED"


@pytest.mark.parametrize("millis", [10**20, -(10**20), 1e300, "99999999999999999999"])
def test_a_time_no_calendar_holds_reads_as_unknown(millis: object) -> None:
    connection = Connection.model_validate(
        {"id": "x", "create_time": millis, "available_queue_info": [{"update_time": millis}]}
    )

    assert connection.create_time is None
    assert connection.available_queue_info[0].update_time is None


@given(st.one_of(st.integers(), st.floats(allow_nan=False), st.text(max_size=30), st.none()))
def test_any_timestamp_value_parses_or_fails_as_a_validation_error(value: object) -> None:
    # A clear "unexpected shape" at worst, never an OSError or OverflowError.
    with contextlib.suppress(ValidationError):
        Connection.model_validate({"id": "x", "create_time": value})


def test_list_answers_parse_every_connection() -> None:
    answer = ListConnectionsResponse.model_validate(
        {"is_success": True, "count": 1, "connections": [{**SEED, "isPrivis": True}]}
    )

    assert answer.connections[0].name == "withvpc"
    assert answer.connections[0].is_privis is True


def test_the_watchers_listed_ids_are_lower_case_like_subscriptions() -> None:
    listed = ListedConnections.model_validate_json(
        '{"connections": [{"id": "4C693ECC-BAB8-4113-A838-129CEDC9A563", "status": "ACTIVE"}]}'
    )

    assert listed.connections[0].id == "4c693ecc-bab8-4113-a838-129cedc9a563"
