"""Typed, tolerant models of DLI enhanced-connection payloads (show and list responses)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Generic, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

T = TypeVar("T")

# Statuses the API documents. Anything else is kept verbatim and rendered as-is.
ACTIVE: Final = "ACTIVE"
CREATING: Final = "CREATING"
FAILED: Final = "FAILED"
DELETED: Final = "DELETED"


def _from_millis(value: Any) -> Any:
    # DLI sends epoch milliseconds (UTC); 0 or null means "not set".
    if value is None or value == "" or value == 0:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    return value


def _to_millis(value: datetime | None) -> int | None:
    return None if value is None else round(value.timestamp() * 1000)


Millis = Annotated[
    datetime | None,
    BeforeValidator(_from_millis),
    PlainSerializer(_to_millis, return_type=int | None),
]


def _none_to_empty(value: Any) -> Any:
    return "" if value is None else value


def _none_to_list(value: Any) -> Any:
    return [] if value is None else value


Text = Annotated[str, BeforeValidator(_none_to_empty)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)


class QueueInfo(_Model):
    """A queue or elastic resource pool bound to a connection."""

    peer_id: Text = ""
    status: Text = ""
    name: Text = ""
    err_msg: Text = ""
    update_time: Millis = None

    @property
    def is_failed(self) -> bool:
        return self.status.upper() == FAILED


class Host(_Model):
    name: Text = ""
    ip: Text = ""


class Route(_Model):
    name: Text = ""
    cidr: Text = ""
    create_time: Millis = None


class Connection(_Model):
    """One enhanced datasource connection, as show and list return it."""

    id: str
    name: Text = ""
    status: Text = ""
    available_queue_info: Annotated[list[QueueInfo], BeforeValidator(_none_to_list)] = Field(
        default_factory=list
    )
    elastic_resource_pools: Annotated[list[QueueInfo], BeforeValidator(_none_to_list)] = Field(
        default_factory=list
    )
    dest_vpc_id: Text = ""
    dest_network_id: Text = ""
    create_time: Millis = None
    hosts: Annotated[list[Host], BeforeValidator(_none_to_list)] = Field(default_factory=list)
    ipv6_enable: bool | None = None
    routes: Annotated[list[Route], BeforeValidator(_none_to_list)] = Field(default_factory=list)
    # False when the connection was granted to this project by another one (list API only).
    is_privis: bool | None = Field(default=None, alias="isPrivis")

    @property
    def bindings(self) -> list[QueueInfo]:
        """Queues and elastic resource pools together: everything that can fail."""
        return [*self.available_queue_info, *self.elastic_resource_pools]

    @property
    def failed(self) -> list[QueueInfo]:
        return [q for q in self.bindings if q.is_failed]

    @property
    def is_deleted(self) -> bool:
        return self.status.upper() == DELETED

    def to_api(self) -> dict[str, Any]:
        """The connection as the DLI API spells it (field names, epoch milliseconds)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class ShowConnectionResponse(Connection):
    is_success: bool = True
    message: Text = ""


class ListConnectionsResponse(_Model):
    is_success: bool = True
    message: Text = ""
    count: int = 0
    connections: Annotated[list[Connection], BeforeValidator(_none_to_list)] = Field(
        default_factory=list
    )


@dataclass(frozen=True)
class Fetched(Generic[T]):
    """A parsed DLI answer plus the gateway's request id (what Huawei support asks for)."""

    value: T
    request_id: str | None = None
