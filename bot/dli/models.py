"""Typed, tolerant models of DLI enhanced-connection payloads (show and list responses)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Generic, TypeVar, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    PlainSerializer,
)
from pydantic_core import CoreSchema, core_schema

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
    if isinstance(value, str) and value.lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            # A time no calendar can hold says nothing: shown as unknown, not a broken card.
            return None
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


class _NullIsEmpty:
    """Marks a list or tuple field that DLI may send as null: read as empty.

    Not a BeforeValidator: one of those makes pydantic turn the field's whole JSON value into
    Python objects before validating it, which for the list answer's `connections` doubles the
    parse time and the memory it needs. Null is checked around the field's own validation.
    """

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        empty = get_origin(source) or source  # list or tuple
        return core_schema.no_info_after_validator_function(
            lambda value: empty() if value is None else value,
            core_schema.nullable_schema(handler(source)),
        )


_NULL_IS_EMPTY: Final = _NullIsEmpty()

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
    available_queue_info: Annotated[list[QueueInfo], _NULL_IS_EMPTY] = Field(default_factory=list)
    elastic_resource_pools: Annotated[list[QueueInfo], _NULL_IS_EMPTY] = Field(default_factory=list)
    dest_vpc_id: Text = ""
    dest_network_id: Text = ""
    create_time: Millis = None
    hosts: Annotated[list[Host], _NULL_IS_EMPTY] = Field(default_factory=list)
    ipv6_enable: bool | None = None
    routes: Annotated[list[Route], _NULL_IS_EMPTY] = Field(default_factory=list)
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
    connections: Annotated[list[Connection], _NULL_IS_EMPTY] = Field(default_factory=list)


# The watcher's poll: the list reduced to what transitions compare. Slotted dataclasses rather
# than models, and everything else in the answer skipped while parsing: a third of the CPU and a
# fifth of the memory of `ListConnectionsResponse` on a 10,000-connection project. The fields
# are validated exactly as `QueueInfo` and `Connection` validate them.
_SKIP_THE_REST: Final = ConfigDict(extra="ignore")


@dataclass(frozen=True, slots=True)
class ListedQueue:
    """A queue or pool of a listed connection: the part of `QueueInfo` that can change state."""

    __pydantic_config__ = _SKIP_THE_REST

    name: Text = ""
    status: Text = ""
    err_msg: Text = ""
    update_time: Millis = None


@dataclass(frozen=True, slots=True)
class ListedConnection:
    """A connection of the list, reduced to what the watcher compares between polls."""

    __pydantic_config__ = _SKIP_THE_REST

    # Lower-case, as subscriptions store ids: a connection must never go unwatched over case.
    id: Annotated[str, AfterValidator(str.lower)]
    name: Text = ""
    status: Text = ""
    available_queue_info: Annotated[tuple[ListedQueue, ...], _NULL_IS_EMPTY] = ()
    elastic_resource_pools: Annotated[tuple[ListedQueue, ...], _NULL_IS_EMPTY] = ()

    @property
    def is_deleted(self) -> bool:
        return self.status.upper() == DELETED


class ListedConnections(_Model):
    """A list answer whose connections are `ListedConnection`s."""

    is_success: bool = True
    message: Text = ""
    count: int = 0
    connections: Annotated[tuple[ListedConnection, ...], _NULL_IS_EMPTY] = ()


@dataclass(frozen=True)
class Fetched(Generic[T]):
    """A parsed DLI answer plus the gateway's request id (what Huawei support asks for)."""

    value: T
    request_id: str | None = None
