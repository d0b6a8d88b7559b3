"""Typed, tolerant models of DLI enhanced-connection payloads (show and list responses)."""

from __future__ import annotations

import copy
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Generic, Protocol, TypeVar, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    PlainSerializer,
    TypeAdapter,
    ValidationError,
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


#: The key under which `salvage` lists an object's fields whose values could not be read.
UNREADABLE: Final = "dliconn_unreadable"


def _names(fields: frozenset[str] | None) -> list[str] | None:
    return None if fields is None else sorted(fields)


#: The fields of an object that DLI sent a value for that could not be read: each holds its
#: default instead, and is shown as "unknown". None, not empty, when there are none: so that
#: `to_api` (exclude_none) leaves it out.
Unreadable = Annotated[
    frozenset[str] | None,
    Field(alias=UNREADABLE),
    PlainSerializer(_names, return_type=list[str] | None),
]


class _Marked(Protocol):
    @property
    def unreadable(self) -> frozenset[str] | None: ...


def is_unknown(value: _Marked, field: str) -> bool:
    """Whether DLI sent `field` of `value` in a form that could not be read."""
    return value.unreadable is not None and field in value.unreadable


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)

    unreadable: Unreadable = None


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
    unreadable: Unreadable = None


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
    unreadable: Unreadable = None

    @property
    def is_deleted(self) -> bool:
        return self.status.upper() == DELETED


class ListedConnections(_Model):
    """A list answer whose connections are `ListedConnection`s."""

    is_success: bool = True
    message: Text = ""
    count: int = 0
    connections: Annotated[tuple[ListedConnection, ...], _NULL_IS_EMPTY] = ()


# --------------------------------------------------------------------------- connectivity test

#: The answers DLI's connectivity test gives (`CHECKING` is inferred: while the test runs).
REACHABLE: Final = "REACHABLE"
UNREACHABLE: Final = "UNREACHABLE"
CHECKING: Final = "CHECKING"


def _task_id_text(value: Any) -> Any:
    # The SDK types it as an integer and the show request takes it as a string: either is kept
    # as the digits it is (a bool is no id).
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


class ConnectivityTask(_Model):
    """The answer to starting a connectivity test: the task to poll."""

    is_success: bool = True
    message: Text = ""
    task_id: Annotated[str, BeforeValidator(_task_id_text), Field(min_length=1)]


class ConnectivityResult(_Model):
    """The answer to polling a connectivity test: REACHABLE, UNREACHABLE, CHECKING or DLI's own
    word (kept verbatim)."""

    is_success: bool = True
    message: Text = ""
    connectivity: Text = ""


@dataclass(frozen=True)
class Fetched(Generic[T]):
    """A parsed DLI answer plus the gateway's request id (what Huawei support asks for)."""

    value: T
    request_id: str | None = None


# --------------------------------------------------------------------------- salvage

# Each pass drops every value pydantic reported; a value can only hide another one below it
# (a list whose entries are then checked), so a few passes always suffice.
_MAX_PASSES: Final = 8


@dataclass(frozen=True)
class Salvaged(Generic[T]):
    """A value read field by field, and what of it could not be read."""

    value: T
    #: The repaired input, which validates as `value` did (to embed in a larger answer).
    data: dict[str, Any]
    #: Each dropped value's path and the JSON type DLI sent, e.g. "hosts.0.ip: int".
    dropped: tuple[str, ...]


_ADAPTERS: Final[dict[type[Any], TypeAdapter[Any]]] = {}


def _adapter(kind: type[T]) -> TypeAdapter[T]:
    adapter = _ADAPTERS.get(kind)
    if adapter is None:
        adapter = _ADAPTERS[kind] = TypeAdapter(kind)
    return adapter


def salvage(
    kind: type[T], data: Mapping[str, Any], *, required: Collection[str] = ("id",)
) -> Salvaged[T] | None:
    """`data` read as `kind`, with each value that cannot be read left out, or None.

    A left-out value becomes its field's default and is named in its object's `unreadable`,
    so that one bad field costs that field, not the whole connection. A list entry that is not
    even an object is left out of its list, and the list is marked. None when a `required`
    top-level field (the id) is unreadable or missing, or the input is not an object at all.
    Slow (it copies and validates again): only for an answer the normal parse refused.
    """
    repaired: dict[str, Any] = copy.deepcopy(dict(data))
    dropped: list[str] = []
    for _ in range(_MAX_PASSES):
        try:
            value = _adapter(kind).validate_python(repaired)
        except ValidationError as exc:
            spots = [_spot(repaired, error["loc"]) for error in exc.errors()]
            if any(spot is None or spot.path[0] in required for spot in spots):
                return None
            # Several errors can point at one value (a union's members): it is dropped once.
            unique = {(id(s.container), s.key): s for s in spots if s is not None}
            for spot in sorted(unique.values(), key=_from_the_end):
                dropped.append(spot.drop())
        else:
            return Salvaged(value, repaired, tuple(dict.fromkeys(dropped)))
    return None


@dataclass(frozen=True)
class _Spot:
    """Where a bad value sits: its container, its key there, and the object to mark."""

    container: dict[str, Any] | list[Any]
    key: str | int
    owner: dict[str, Any]
    field: str
    path: tuple[str | int, ...]

    def drop(self) -> str:
        kind = _json_type(self.container[self.key])  # type: ignore[index]
        del self.container[self.key]  # type: ignore[arg-type]
        marks = self.owner.get(UNREADABLE)
        if not isinstance(marks, list):
            marks = self.owner[UNREADABLE] = []
        if self.field not in marks:
            marks.append(self.field)
        return f"{'.'.join(map(str, self.path))}: {kind}"


def _spot(data: dict[str, Any], loc: tuple[str | int, ...]) -> _Spot | None:
    """The deepest value along pydantic's error location that really is in `data`.

    The location can go on past it (a union member's name, a field the bad value lacks), and
    an error "missing" points at a key that is not there: nothing to drop, so None.
    """
    node: Any = data
    owner, field = data, ""
    found: _Spot | None = None
    path: list[str | int] = []
    for step in loc:
        if isinstance(node, dict) and isinstance(step, str) and step in node:
            owner, field = node, step
        elif not (isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node)):
            break
        path.append(step)
        found = _Spot(node, step, owner, field, tuple(path))
        node = node[step]
    return found


def _from_the_end(spot: _Spot) -> tuple[int, int]:
    # List entries go last and from the highest index, so no removal shifts another's index.
    return (1, -spot.key) if isinstance(spot.key, int) else (0, 0)


def _json_type(value: object) -> str:
    names = {bool: "boolean", int: "number", float: "number", str: "string", list: "array"}
    names |= {dict: "object", type(None): "null"}
    return names.get(type(value), type(value).__name__)
