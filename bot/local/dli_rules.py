"""What DLI answers, decided once for both fakes of it (FakeDli over HTTP, the tests' in-process
MockDli): which connections a list shows and with what fields, and connectivity tests.

The rules are FakeDli's (its module docstring says where they guess at the real service); each
fake only puts the answers in its own transport's shape. A refusal is (status, error_code,
error_msg), DLI's error in a tuple.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from bot.dli.targets import is_address

#: Where a queue's or elastic resource pool's name and status sit in a connection.
BOUND_KEYS: Final = ("available_queue_info", "elastic_resource_pools")
#: (status, error_code, error_msg) of an answer DLI refuses with.
Refusal = tuple[int, str, str]

# What a connection holds only for the fake's own use: `tags` serve the list's filter,
# `isPrivis` comes with list items alone.
_NOT_SHOWN: Final = ("tags", "isPrivis")


def shown_fields(connection: Mapping[str, Any]) -> dict[str, Any]:
    """A connection as the show API returns it."""
    return {k: v for k, v in connection.items() if k not in _NOT_SHOWN}


def listed_fields(connection: Mapping[str, Any]) -> dict[str, Any]:
    """A connection as a list item returns it: as shown, plus `isPrivis` (true unless set)."""
    return {**shown_fields(connection), "isPrivis": connection.get("isPrivis", True)}


@dataclass(frozen=True)
class ListQuery:
    """The list API's filters: `name` a case-insensitive substring of the name, `status` the
    status in any case, every one of `tags` among the connection's tags; empty: any."""

    name: str = ""
    status: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, query: Mapping[str, str]) -> ListQuery:
        """The filters of a request's query (`tags` reads `key=value,key=value`)."""
        pairs = (item.partition("=") for item in query.get("tags", "").split(",") if item.strip())
        return cls(
            name=query.get("name", "").lower(),
            status=query.get("status", "").upper(),
            tags={key.strip(): value.strip() for key, _, value in pairs},
        )

    def admits(self, connection: Mapping[str, Any]) -> bool:
        if self.status and str(connection.get("status", "")).upper() != self.status:
            return False
        if self.name and self.name not in str(connection.get("name", "")).lower():
            return False
        if not self.tags:
            return True
        tags = {str(t.get("key")): str(t.get("value")) for t in connection.get("tags") or []}
        return all(tags.get(key) == value for key, value in self.tags.items())


@dataclass
class _Task:
    """One connectivity test: what it tests, and how many polls it has answered."""

    queue: str
    address: str
    polls: int = 0


class ConnectivityTests:
    """DLI's connectivity tests, for a fake to inherit: the queues DLI knows are those bound to
    any of its connections (plus `queues`); a task answers CHECKING to its first
    `checking_polls` polls, then REACHABLE when its address, or its host without the port, is in
    `reachable`, else UNREACHABLE.

    A test may change `queues`, `reachable` and `checking_polls` while the fake runs.
    """

    def __init__(
        self, queues: Iterable[str] = (), reachable: Iterable[str] = (), checking_polls: int = 1
    ) -> None:
        self.queues: set[str] = set(queues)
        self.reachable: set[str] = set(reachable)
        self.checking_polls = checking_polls
        self._tasks: dict[str, _Task] = {}

    @property
    def tasks(self) -> dict[str, tuple[str, str]]:
        """Every connectivity test started: task id -> (queue, address)."""
        return {task_id: (t.queue, t.address) for task_id, t in self._tasks.items()}

    def start_test(
        self, queue: str, body: bytes, connections: Iterable[Mapping[str, Any]]
    ) -> dict[str, Any] | Refusal:
        """What DLI answers (beyond `is_success`) to a request `body` ({"address":
        "host[:port]"}) testing from `queue`: the new task's id, or why it refuses."""
        if not self._known_queue(queue, connections):
            return _no_queue(queue)
        try:
            address = json.loads(body)["address"]
        except (ValueError, KeyError, TypeError):
            return (400, "DLI.0001", 'The request body must be {"address": "..."}.')
        if not isinstance(address, str) or not is_address(address):
            return (400, "DLI.0001", "Parameter address is invalid.")
        task_id = len(self._tasks) + 1
        self._tasks[str(task_id)] = _Task(queue, address)
        return {"task_id": task_id}

    def poll_test(
        self, queue: str, task_id: str, connections: Iterable[Mapping[str, Any]]
    ) -> dict[str, Any] | Refusal:
        """What DLI answers (beyond `is_success`) to a poll of a task: its connectivity now,
        or why it refuses."""
        if not self._known_queue(queue, connections):
            return _no_queue(queue)
        task = self._tasks.get(task_id)
        if task is None or task.queue != queue:
            return (400, "DLI.0002", f"The connectivity task {task_id} does not exist.")
        task.polls += 1
        if task.polls <= self.checking_polls:
            connectivity = "CHECKING"
        else:
            host = task.address.partition(":")[0]
            reached = task.address in self.reachable or host in self.reachable
            connectivity = "REACHABLE" if reached else "UNREACHABLE"
        return {
            "message": f"Get node connectivity status successfully for addressId:{task_id}",
            "connectivity": connectivity,
        }

    def _known_queue(self, name: str, connections: Iterable[Mapping[str, Any]]) -> bool:
        return name in self.queues or any(
            queue.get("name") == name
            for connection in connections
            for key in BOUND_KEYS
            for queue in connection.get(key) or []
        )


def _no_queue(name: str) -> Refusal:
    return (400, "DLI.0002", f"There is no queue named {name}.")
