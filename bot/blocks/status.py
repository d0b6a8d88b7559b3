"""Statuses, icons, counts and the freshness line: shared by cards, lists and alerts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from bot.blocks import message as kit
from bot.blocks import text as rich
from bot.dli.models import (
    ACTIVE,
    CREATING,
    DELETED,
    FAILED,
    Connection,
    QueueInfo,
    is_unknown,
)
from bot.errors import Unavailable, dli_problem
from bot.i18n import _, ngettext
from bot.lookup.cache import Freshness, ProjectRef

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
        return _("(no status)")
    return rich.shortened(status, _STATUS_SHOWN_MAX)


def status_value(status: str, *, bold: bool = False) -> rich.Pieces:
    """A status DLI sent, as a value: exact, cut where `status_text` cuts it, and "(no status)"
    (our words) when DLI sent none."""
    if not status:
        return [rich.words(_("(no status)"), bold=bold)]
    return rich.value(status, _STATUS_SHOWN_MAX, bold=bold)


def shown_status(value: Connection | QueueInfo) -> str:
    """`status_text` of a connection's or binding's status, or "unknown" if unreadable."""
    return _("unknown") if is_unknown(value, "status") else status_text(value.status)


def connections_count(count: int) -> str:
    """ "3 connections", in the reader's language."""
    return ngettext("{n} connection", "{n} connections", count).format(n=count)


def and_more(count: int) -> str:
    """ "… and 3 more": what a list that was cut short ends with."""
    return "… " + _("and {n} more").format(n=count)


def short_id(connection_id: str) -> str:
    """The first 8 characters of an id (like a short git hash); the full id is on the card."""
    return rich.whole_prefix(connection_id, 8) + "…" if len(connection_id) > 9 else connection_id


@dataclass(frozen=True)
class Binding:
    """A queue or an elastic resource pool, with which one it is."""

    info: QueueInfo
    is_pool: bool

    @property
    def kind(self) -> str:
        """What it is, in the reader's language."""
        return _("elastic resource pool") if self.is_pool else _("queue")


def bindings_of(connection: Connection) -> list[Binding]:
    bindings = [Binding(q, False) for q in connection.available_queue_info]
    bindings += [Binding(p, True) for p in connection.elastic_resource_pools]
    return sorted(bindings, key=lambda b: (status_rank(b.info.status), b.info.name.casefold()))


def _all_of(bindings: Sequence[Binding], total: int, status: str) -> str:
    # The only one is not "all" (不是"均为"): its own sentence, not a plural form of the others.
    pools = sum(b.is_pool for b in bindings)
    if total == 1:
        text = _("1 elastic resource pool {status}") if pools else _("1 queue {status}")
    elif pools == 0:
        text = _("All {total} queues {status}")
    elif pools == len(bindings):
        text = _("All {total} elastic resource pools {status}")
    else:
        text = _("All {total} queues and pools {status}")
    return text.format(total=total, status=status)


def _some_of(bindings: Sequence[Binding], count: int, total: int, status: str) -> str:
    pools = sum(b.is_pool for b in bindings)
    if pools == 0:
        text = ngettext(
            "{count} of {total} queue {status}", "{count} of {total} queues {status}", total
        )
    elif pools == len(bindings):
        text = ngettext(
            "{count} of {total} elastic resource pool {status}",
            "{count} of {total} elastic resource pools {status}",
            total,
        )
    else:
        text = _("{count} of {total} queues and pools {status}")
    return text.format(count=count, total=total, status=status)


def binding_summary(connection: Connection) -> str:
    """E.g. "2 of 5 queues FAILED · 1 CREATING · 2 ACTIVE" (raw text, statuses as DLI sent them)."""
    bindings = bindings_of(connection)
    lists = ("available_queue_info", "elastic_resource_pools")
    if any(is_unknown(connection, field) for field in lists):
        # Some bindings could not be read: "All 2 queues ACTIVE" would claim too much.
        return " · ".join([*status_counts(bindings), _("some queues or pools could not be read")])
    if not bindings:
        return _("No queues or elastic resource pools bound")
    counts = Counter(shown_status(b.info) for b in bindings)
    ordered = sorted(counts.items(), key=lambda item: (status_rank(item[0]), item[0]))
    (top, top_count), rest = ordered[0], ordered[1:]
    total = len(bindings)
    if top_count == total:
        head = _all_of(bindings, total, top)
    else:
        head = _some_of(bindings, top_count, total, top)
    return " · ".join([head, *(_status_count(count, status) for status, count in rest)])


def _status_count(count: int, status: str) -> str:
    return _("{count} {status}").format(count=count, status=status)


def status_counts(bindings: Sequence[Binding]) -> list[str]:
    counts = Counter(shown_status(b.info) for b in bindings)
    ordered = sorted(counts.items(), key=lambda item: (status_rank(item[0]), item[0]))
    return [_status_count(count, status) for status, count in ordered]


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
    return _("Connection {status} · {summary}").format(
        status=shown_status(connection), summary=summary
    )


def freshness_line(
    freshness: Freshness | None, *, now: datetime, demo: bool
) -> list[str | rich.Element]:
    """Where the data came from, for a context line: our words as mrkdwn, values as plain_text."""
    parts: list[str | rich.Element] = []
    fresh = freshness or Freshness(source=None, fetched_at=None)
    source, fetched_at, request_id = fresh.source, fresh.fetched_at, fresh.request_id
    age = rich.humanize_age(now - fetched_at) if fetched_at else None
    if source == "live":
        parts.append(_(":satellite_antenna: Live from DLI"))
    elif source == "cache":
        parts.append(
            _(":floppy_disk: Cached {age} ago").format(age=age)
            if age
            else _(":floppy_disk: Cached")
        )
    elif source == "stale":
        reason = rich.shortened(dli_problem(fresh.stale_reason or Unavailable.kind), 200)
        stale = (
            _("⚠️ Stale ({reason}) — copy from {age} ago")
            if age
            else _("⚠️ Stale ({reason}) — copy from earlier")
        )
        parts.append(kit.plain_text(stale.format(reason=reason, age=age)))
    if request_id:
        parts.append(
            kit.plain_text(_("request id {id}").format(id=rich.shortened(request_id, 100)))
        )
    if demo:
        parts.append(_(":test_tube: *Demo data* — not a real DLI project"))
    return parts


def project_label(project: ProjectRef | None) -> str:
    """How a project is named to people: its alias and region ("prod · cn-north-4")."""
    if project is None:
        return ""
    label = f"{project.alias} · {project.region}" if project.region else project.alias
    return rich.shortened(label, 100, marker="…")


def project_context(project: ProjectRef) -> rich.Element:
    """ "Project prod · cn-north-4", for a context line: the project a reply is about."""
    return kit.plain_text(_("Project {project}").format(project=project_label(project)))


def binding_named(kind: str, name: str) -> rich.Pieces:
    """ "queue `q1`" or "pool `p1`": which binding, its name exact, in the reader's language."""
    template = _("pool {name}") if kind == "pool" else _("queue {name}")
    return rich.phrase(template, name=rich.code(name, 60))


def connection_named(name: str, connection_id: str) -> rich.Pieces:
    """A connection's name (its id when it has none) and its id, both exact, in the reader's
    brackets."""
    return rich.phrase(
        _("{name} ({id})"),
        name=rich.code(name or connection_id, 80),
        id=rich.code(connection_id, 64),
    )
