"""Statuses, icons, counts and the freshness line: shared by cards, lists and alerts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from bot.blocks.message import plain_text
from bot.blocks.text import Element, humanize_age, shortened, whole_prefix
from bot.dli.models import (
    ACTIVE,
    CREATING,
    DELETED,
    FAILED,
    Connection,
    QueueInfo,
    is_unknown,
)
from bot.lookup.cache import ProjectRef, Source

# --------------------------------------------------------------------------- statuses


_RANK: Final[dict[str, int]] = {FAILED: 0, CREATING: 1, ACTIVE: 2}
OTHER_RANK: Final = 3
# Icons by emoji name (bot.blocks.text.EMOJI has their characters, for plain_text).
ICONS: Final[dict[str, str]] = {
    FAILED: "red_circle",
    CREATING: "large_yellow_circle",
    ACTIVE: "large_green_circle",
    DELETED: "black_circle",
}
OTHER_ICON: Final = "white_circle"
_STATUS_SHOWN_MAX: Final = 40


def _norm(status: str) -> str:
    return status.upper()  # as QueueInfo.is_failed does, so ranking and FAILED agree


def status_rank(status: str) -> int:
    return _RANK.get(_norm(status), OTHER_RANK)


def status_icon(status: str) -> str:
    return ICONS.get(_norm(status), OTHER_ICON)


def status_text(status: str) -> str:
    """A status exactly as DLI sent it (unknown ones too), visibly cut when long; a raw value."""
    if not status:
        return "(no status)"
    return shortened(status, _STATUS_SHOWN_MAX)


def shown_status(value: Connection | QueueInfo) -> str:
    """`status_text` of a connection's or binding's status, or "unknown" if unreadable."""
    return "unknown" if is_unknown(value, "status") else status_text(value.status)


def short_id(connection_id: str) -> str:
    """The first 8 characters of an id (like a short git hash); the full id is on the card."""
    return whole_prefix(connection_id, 8) + "…" if len(connection_id) > 9 else connection_id


def counted(count: int, singular: str, plural: str) -> str:
    return f"{count} {singular if count == 1 else plural}"


@dataclass(frozen=True)
class Binding:
    """A queue or an elastic resource pool, with which one it is."""

    info: QueueInfo
    is_pool: bool

    @property
    def kind(self) -> str:
        return "elastic resource pool" if self.is_pool else "queue"


def bindings_of(connection: Connection) -> list[Binding]:
    bindings = [Binding(q, False) for q in connection.available_queue_info]
    bindings += [Binding(p, True) for p in connection.elastic_resource_pools]
    return sorted(bindings, key=lambda b: (status_rank(b.info.status), b.info.name.casefold()))


def _noun(bindings: Sequence[Binding], count: int) -> str:
    pools = sum(b.is_pool for b in bindings)
    if pools == 0:
        return "queue" if count == 1 else "queues"
    if pools == len(bindings):
        return "elastic resource pool" if count == 1 else "elastic resource pools"
    return "queues and pools"


def binding_summary(connection: Connection) -> str:
    """E.g. "2 of 5 queues FAILED · 1 CREATING · 2 ACTIVE" (raw text, statuses as DLI sent them)."""
    bindings = bindings_of(connection)
    lists = ("available_queue_info", "elastic_resource_pools")
    if any(is_unknown(connection, field) for field in lists):
        # Some bindings could not be read: "All 2 queues ACTIVE" would claim too much.
        return " · ".join([*status_counts(bindings), "some queues or pools could not be read"])
    if not bindings:
        return "No queues or elastic resource pools bound"
    counts = Counter(shown_status(b.info) for b in bindings)
    ordered = sorted(counts.items(), key=lambda item: (status_rank(item[0]), item[0]))
    (top, top_count), rest = ordered[0], ordered[1:]
    total = len(bindings)
    if top_count == total:
        noun = _noun(bindings, total)
        head = f"All {total} {noun} {top}" if total > 1 else f"1 {noun} {top}"
    else:
        head = f"{top_count} of {total} {_noun(bindings, total)} {top}"
    return " · ".join([head, *(f"{count} {status}" for status, count in rest)])


def status_counts(bindings: Sequence[Binding]) -> list[str]:
    counts = Counter(shown_status(b.info) for b in bindings)
    ordered = sorted(counts.items(), key=lambda item: (status_rank(item[0]), item[0]))
    return [f"{count} {status}" for status, count in ordered]


def connection_icon(connection: Connection) -> str:
    if connection.failed:
        return ICONS[FAILED]
    if connection.is_deleted:
        return ICONS[DELETED]
    statuses = [connection.status, *(b.status for b in connection.bindings)]
    return status_icon(min(statuses, key=status_rank))


def verdict_of(connection: Connection) -> str:
    summary = binding_summary(connection)
    if _norm(connection.status) == ACTIVE:
        return summary
    return f"Connection {shown_status(connection)} · {summary}"


def freshness_line(
    source: Source | None,
    *,
    now: datetime,
    fetched_at: datetime | None,
    request_id: str | None,
    stale_reason: str | None,
    demo: bool,
) -> list[str | Element]:
    """Where the data came from, for a context line: our words as mrkdwn, values as plain_text."""
    parts: list[str | Element] = []
    age = f" {humanize_age(now - fetched_at)} ago" if fetched_at else ""
    if source == "live":
        parts.append(":satellite_antenna: Live from DLI")
    elif source == "cache":
        parts.append(f":floppy_disk: Cached{age}")
    elif source == "stale":
        reason = shortened(stale_reason or "DLI unreachable", 200)
        parts.append(plain_text(f"⚠️ Stale ({reason}) — copy from{age or ' earlier'}"))
    if request_id:
        parts.append(plain_text(f"request id {shortened(request_id, 100)}"))
    if demo:
        parts.append(":test_tube: *Demo data* — not a real DLI project")
    return parts


def project_label(project: ProjectRef | None) -> str:
    """How a project is named to people: its alias and region ("prod · cn-north-4")."""
    if project is None:
        return ""
    label = f"{project.alias} · {project.region}" if project.region else project.alias
    return shortened(label, 100, marker="…")
