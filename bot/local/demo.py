"""The built-in demo data set: fake credentials and deterministic DLI connections in API shape."""

from __future__ import annotations

import copy
import uuid
from typing import Any, Final

# Deliberately not credential-shaped, so secret scanners and humans both see they are fake.
DEMO_ACCESS_KEY: Final = "DEMOAK-NOT-A-REAL-KEY"
DEMO_SECRET_KEY: Final = "demo-secret-key-not-a-real-credential"  # noqa: S105
DEMO_PROJECT_ID: Final = "0d3e6c1a5b7f4e2d9c8b0a1f2e3d4c5b"

_NAMESPACE: Final = uuid.UUID("6f1c0e36-93a4-4c55-8d0b-2f6c1bd0a8e1")

# 2024-03-01T08:00:00Z: a fixed origin keeps every timestamp reproducible.
_EPOCH_MS: Final = 1_709_280_000_000
_MINUTE_MS: Final = 60_000
_HOUR_MS: Final = 60 * _MINUTE_MS

# The seed document's example, verbatim.
_WITHVPC: Final[dict[str, Any]] = {
    "name": "withvpc",
    "id": "4c693ecc-bab8-4113-a838-129cedc9a563",
    "available_queue_info": [
        {
            "status": "ACTIVE",
            "name": "resource_mode_1",
            "peer_id": "d2ae6628-fa37-4e04-806d-c59c497492d1",
            "err_msg": "",
            "update_time": 1566889577861,
        }
    ],
    "dest_vpc_id": "22094d8f-c310-4621-913d-4c4d655d8495",
    "dest_network_id": "78f2562a-36e4-4b39-95b9-f5aab22e1281",
    "create_time": 1566888011125,
    "status": "ACTIVE",
    "hosts": [
        {"ip": "192.168.0.1", "name": "ecs-97f8-0001"},
        {"ip": "192.168.0.2", "name": "ecs-97f8-0002"},
    ],
}

# Failure texts in the style of DLI's err_msg: what went wrong and the object it happened to.
_PEERING_FAILED = (
    "Failed to create the VPC peering connection: the CIDR block 172.16.0.0/12 of the queue "
    "overlaps with the CIDR block 172.16.0.0/16 of destination VPC vpc-orders-prod."
)
_ROUTE_FAILED = (
    "Failed to add route 10.20.0.0/16 to route table rtb-3f0c9a71: the number of routes in the "
    "route table has reached the upper limit (200)."
)
_SUBNET_FAILED = (
    "Subnet subnet-db-a (192.168.10.0/28) does not have enough available IP addresses to "
    "create the network interface of the connection."
)
_QUOTA_FAILED = (
    "Insufficient quota: the number of VPC peering connections in project 0d3e6c1a has reached "
    "the quota (50). Apply for a higher quota and bind the queue again."
)
_POOL_FAILED = (
    "Failed to bind elastic resource pool pool_stream_b: the CIDR block 172.24.0.0/18 of the "
    "pool conflicts with an existing route of the connection."
)


def demo_uuid(name: str) -> str:
    """A stable UUID for a demo object name: the same name always gives the same id."""
    return str(uuid.uuid5(_NAMESPACE, name))


def _queue(
    connection: str, queue: str, status: str, updated_ms: int, err_msg: str = ""
) -> dict[str, Any]:
    return {
        "name": queue,
        "status": status,
        "err_msg": err_msg,
        "update_time": updated_ms,
        "peer_id": demo_uuid(f"peer/{connection}/{queue}"),
    }


def _connection(
    name: str,
    created_ms: int,
    queues: list[dict[str, Any]],
    *,
    status: str = "ACTIVE",
    hosts: list[dict[str, str]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "id": demo_uuid(f"connection/{name}"),
        "name": name,
        "status": status,
        "available_queue_info": queues,
        "dest_vpc_id": demo_uuid(f"vpc/{name}"),
        "dest_network_id": demo_uuid(f"subnet/{name}"),
        "create_time": created_ms,
        "hosts": hosts or [],
        **extra,
    }


def _many_queues(connection: str, count: int, updated_ms: int) -> list[dict[str, Any]]:
    # A few failures scattered through a long list, to exercise truncation and highlighting.
    return [
        _queue(connection, f"etl_queue_{i:03d}", "FAILED", updated_ms + i, _ROUTE_FAILED)
        if i % 67 == 13
        else _queue(connection, f"etl_queue_{i:03d}", "ACTIVE", updated_ms + i)
        for i in range(count)
    ]


def _build_demo() -> list[dict[str, Any]]:
    t = _EPOCH_MS
    failing = "orders-mysql-peering"
    creating = "dws-analytics-new"
    pools = "kafka-stream-pools"
    bulk = "etl-fleet-200"
    return [
        copy.deepcopy(_WITHVPC),
        _connection(
            failing,
            t + 1 * _HOUR_MS,
            [
                _queue(failing, "sql_prod", "FAILED", t + 2 * _HOUR_MS, _PEERING_FAILED),
                _queue(failing, "sql_batch", "FAILED", t + 2 * _HOUR_MS + 5_000, _ROUTE_FAILED),
                _queue(failing, "spark_jobs", "FAILED", t + 2 * _HOUR_MS + 9_000, _SUBNET_FAILED),
                _queue(failing, "flink_cdc", "FAILED", t + 3 * _HOUR_MS, _QUOTA_FAILED),
                _queue(failing, "sql_adhoc", "ACTIVE", t + 2 * _HOUR_MS),
            ],
            hosts=[{"name": "mysql-orders-primary", "ip": "172.16.1.10"}],
            tags=[{"key": "env", "value": "prod"}, {"key": "team", "value": "orders"}],
        ),
        _connection(
            creating,
            t + 4 * _HOUR_MS,
            [_queue(creating, "sql_reporting", "CREATING", t + 4 * _HOUR_MS + 30_000)],
            tags=[{"key": "env", "value": "staging"}],
        ),
        _connection(
            "legacy-oracle-link",
            t - 30 * 24 * _HOUR_MS,
            [],
            status="DELETED",
        ),
        _connection(
            pools,
            t + 5 * _HOUR_MS,
            [_queue(pools, "sql_stream", "ACTIVE", t + 5 * _HOUR_MS + 60_000)],
            hosts=[
                {"name": "kafka-broker-1", "ip": "10.20.0.11"},
                {"name": "kafka-broker-2", "ip": "10.20.0.12"},
                {"name": "kafka-broker-3", "ip": "10.20.0.13"},
            ],
            elastic_resource_pools=[
                _queue(pools, "pool_stream_a", "ACTIVE", t + 5 * _HOUR_MS + 90_000),
                _queue(pools, "pool_stream_b", "FAILED", t + 6 * _HOUR_MS, _POOL_FAILED),
            ],
            routes=[
                {"name": "to-kafka", "cidr": "10.20.0.0/16", "create_time": t + 5 * _HOUR_MS},
                {"name": "to-zk", "cidr": "10.30.0.0/24", "create_time": t + 5 * _HOUR_MS + 1},
            ],
            ipv6_enable=True,
            tags=[{"key": "env", "value": "prod"}, {"key": "team", "value": "streaming"}],
        ),
        _connection(bulk, t + 7 * _HOUR_MS, _many_queues(bulk, 200, t + 8 * _HOUR_MS)),
        _connection(
            "rds-postgres-billing",
            t + 9 * _HOUR_MS,
            [_queue("rds-postgres-billing", "sql_finance", "ACTIVE", t + 9 * _HOUR_MS + 42_000)],
            hosts=[{"name": "pg-billing", "ip": "192.168.20.5"}],
            tags=[{"key": "env", "value": "prod"}, {"key": "team", "value": "billing"}],
        ),
        _connection(
            "css-search-logs",
            t + 10 * _HOUR_MS,
            [
                _queue("css-search-logs", "sql_logs", "ACTIVE", t + 10 * _HOUR_MS + 7_000),
                _queue("css-search-logs", "spark_logs", "ACTIVE", t + 10 * _HOUR_MS + 8_000),
            ],
            # Shared with this project by another one: the list API reports it as not owned.
            isPrivis=False,
        ),
    ]


_DEMO: Final = _build_demo()


def demo_connections() -> list[dict[str, Any]]:
    """The demo connections as the DLI list API returns them (a fresh copy on every call)."""
    return copy.deepcopy(_DEMO)


def synthetic_connections(count: int, failing_ratio: float = 0.0) -> list[dict[str, Any]]:
    """`count` generated connections, the given share of them with one FAILED queue; deterministic.

    Failures are spread evenly (not clustered at the start), so any page of a paged list sees
    its fair share.
    """
    if not 0.0 <= failing_ratio <= 1.0:
        raise ValueError("failing_ratio must be between 0 and 1")
    connections = []
    for i in range(count):
        name = f"synthetic-{i:06d}"
        created = _EPOCH_MS + i * _MINUTE_MS
        fails = int((i + 1) * failing_ratio) > int(i * failing_ratio)
        queues = [
            _queue(name, "sql_default", "ACTIVE", created + 1_000),
            _queue(
                name,
                "spark_batch",
                "FAILED" if fails else "ACTIVE",
                created + 2_000,
                _PEERING_FAILED if fails else "",
            ),
        ]
        connections.append(_connection(name, created, queues))
    return connections
