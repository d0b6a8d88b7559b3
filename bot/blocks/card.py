"""The connection card: verdict, fields, every queue and pool with FAILED ones first, buttons."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final, Literal

from bot.blocks.actions import (
    ACTION_CONSOLE,
    ACTION_REFRESH,
    ACTION_SHARE,
    ACTION_UNWATCH,
    ACTION_WATCH,
)
from bot.blocks.message import (
    BUTTON_URL_MAX,
    MAX_BLOCKS,
    MAX_FIELDS,
    SECTION_TEXT_MAX,
    TEXT_BUDGET,
    Message,
    block_text_length,
    button_element,
    context_block,
    divider,
    fallback_text,
    fits_value,
    header_block,
    mrkdwn_text,
    section_block,
)
from bot.blocks.status import (
    ICONS,
    OTHER_ICON,
    OTHER_RANK,
    UNKNOWN,
    Binding,
    binding_summary,
    bindings_of,
    connection_icon,
    counted,
    freshness_line,
    or_unknown,
    short_id,
    shown_status,
    status_icon,
    status_rank,
    verdict_of,
)
from bot.blocks.text import (
    TRUNCATION_MARKER,
    clean_plain,
    code,
    escape_code,
    escape_mrkdwn,
    short_marker_cut,
    slack_date,
    truncate,
)
from bot.dli.models import ACTIVE, CREATING, FAILED, Connection, is_unknown
from bot.lookup.cache import Lookup

WatchState = Literal["watching", "not_watching"]
# --------------------------------------------------------------------------- connection card


_HOSTS_SHOWN: Final = 5
_ROUTES_SHOWN: Final = 5
_NAME_MAX: Final = 100
_MIN_ERR_SHARE: Final = 200
_INDIVIDUAL_LIMIT: Final = 20
_SUMMARY_MAX: Final = 700
_OTHER_LABEL: Final = "Other statuses"
_ERR_FENCE: Final = "\n```{}```"
_ERR_MARKER: Final = "\n" + TRUNCATION_MARKER


def _field(label: str, value: str) -> dict[str, Any]:
    return mrkdwn_text(f"*{label}*\n{value}")


def _collapsed(lines: list[str], total: int) -> str:
    if not lines:
        return "none"
    more = total - len(lines)
    return "\n".join(lines) + (f"\nand {more} more" if more > 0 else "")


def _partly(connection: Connection, field: str, shown: str) -> str:
    """A list field's text, with a note if some (or all) of its entries could not be read."""
    if not is_unknown(connection, field):
        return shown
    return UNKNOWN if shown in ("none", "0") else f"{shown}\n_and some that could not be read_"


def _fields(connection: Connection) -> list[dict[str, Any]]:
    c = connection
    hosts = [
        f"{code(or_unknown(h, 'name', h.name), 60)} → {code(or_unknown(h, 'ip', h.ip), 45)}"
        for h in c.hosts[:_HOSTS_SHOWN]
    ]
    routes = [
        f"{code(or_unknown(r, 'name', r.name), 60)} {code(or_unknown(r, 'cidr', r.cidr), 45)}"
        for r in c.routes[:_ROUTES_SHOWN]
    ]
    ipv6 = {True: "enabled", False: "disabled", None: "unknown"}[c.ipv6_enable]
    created = slack_date(c.create_time) if c.create_time else "–"
    fields = [
        _field("Id", code(c.id, 80)),
        _field("Status", escape_mrkdwn(shown_status(c))),
        _field("VPC", or_unknown(c, "dest_vpc_id", code(c.dest_vpc_id, 80))),
        _field("Subnet", or_unknown(c, "dest_network_id", code(c.dest_network_id, 80))),
        _field("Created", or_unknown(c, "create_time", created)),
        _field("Hosts", _partly(c, "hosts", _collapsed(hosts, len(c.hosts)))),
        _field("Routes", _partly(c, "routes", _collapsed(routes, len(c.routes)))),
        _field(
            "Elastic resource pools",
            _partly(c, "elastic_resource_pools", str(len(c.elastic_resource_pools))),
        ),
        _field("IPv6", ipv6),
    ]
    if connection.is_privis is False:
        fields.append(_field("Owner", "granted by another project"))
    return fields[:MAX_FIELDS]


def _binding_title(binding: Binding) -> str:
    info = binding.info
    status = escape_mrkdwn(shown_status(info))
    name = or_unknown(info, "name", code(info.name, _NAME_MAX))
    # Bold goes on the status, not the name: a code span inside bold would put the name's own
    # (literal) `*` next to the bold markers.
    parts = [f"{status_icon(info.status)} {name}", binding.kind]
    parts.append(f"*{status}*" if info.is_failed else status)
    if is_unknown(info, "update_time"):
        parts.append(f"updated {UNKNOWN}")
    elif info.update_time:
        parts.append(f"updated {slack_date(info.update_time)}")
    if is_unknown(info, "err_msg"):
        parts.append(f"error message {UNKNOWN}")
    return " · ".join(parts)


def _err_caps(errors: Sequence[str], budget: int, per_item_max: Sequence[int]) -> list[int]:
    """Share `budget` among err_msg lengths fairly: short ones in full, long ones equally cut."""
    caps = [0] * len(errors)
    lengths = [len(escape_code(e, multiline=True)) for e in errors]
    order = sorted(range(len(errors)), key=lambda i: min(lengths[i], per_item_max[i]))
    remaining, left = max(0, budget), len(errors)
    for index in order:
        share = remaining // left
        caps[index] = min(lengths[index], per_item_max[index], share)
        remaining -= caps[index]
        left -= 1
    return caps


def _binding_section_texts(bindings: Sequence[Binding], budget: int) -> list[str]:
    titles = [_binding_title(b) for b in bindings]
    fence = len(_ERR_FENCE.format(""))
    with_err = [i for i, b in enumerate(bindings) if b.info.err_msg]
    caps = _err_caps(
        [bindings[i].info.err_msg for i in with_err],
        budget - sum(map(len, titles)) - fence * len(with_err),
        [SECTION_TEXT_MAX - len(titles[i]) - fence for i in with_err],
    )
    texts = list(titles)
    for index, cap in zip(with_err, caps, strict=True):
        body = truncate(
            bindings[index].info.err_msg, cap, style="code", multiline=True, marker=_ERR_MARKER
        )
        # An empty code block renders as stray backticks; say it was cut instead.
        texts[index] += _ERR_FENCE.format(body) if body.strip() else "\n_(error message cut)_"
    return texts


def _summary_text(icon: str, label: str, bindings: Sequence[Binding]) -> str:
    """One line for many bindings: "ACTIVE (180 queues, 2 pools): `q1`, `q2`, … and 170 more"."""
    pools = sum(b.is_pool for b in bindings)
    counts = [counted(len(bindings) - pools, "queue", "queues"), counted(pools, "pool", "pools")]
    counts = [c for c in counts if not c.startswith("0 ")]
    head = f"{icon} *{escape_mrkdwn(label)}* ({', '.join(counts)}): "
    names: list[str] = []
    used = len(head)
    for shown, binding in enumerate(bindings):
        item = code(binding.info.name, 60)
        if binding.is_pool:
            item += " (pool)"
        if label == _OTHER_LABEL:
            item += f" {escape_mrkdwn(shown_status(binding.info))}"
        tail = f" … and {len(bindings) - shown} more"
        if used + len(item) + 2 + len(tail) > _SUMMARY_MAX:
            return head + ", ".join(names) + tail
        names.append(item)
        used += len(item) + 2
    return head + ", ".join(names)


def _summary_groups(bindings: Sequence[Binding]) -> list[tuple[str, str, list[Binding]]]:
    groups: dict[int, list[Binding]] = {}
    for binding in bindings:
        groups.setdefault(status_rank(binding.info.status), []).append(binding)
    labels = {0: FAILED, 1: CREATING, 2: ACTIVE, OTHER_RANK: _OTHER_LABEL}
    return [
        (ICONS.get(labels[rank], OTHER_ICON), labels[rank], groups[rank]) for rank in sorted(groups)
    ]


def _binding_blocks(bindings: Sequence[Binding], *, room: int, budget: int) -> list[dict[str, Any]]:
    """Each binding its own section while few; past that, FAILED ones individually as long as
    blocks and text budget allow, the rest compacted into one summary section per status."""
    if len(bindings) <= min(room, _INDIVIDUAL_LIMIT):
        individual, compacted = list(bindings), []
    else:
        failed = [b for b in bindings if b.info.is_failed]
        others = [b for b in bindings if not b.info.is_failed]
        other_groups = len(_summary_groups(others))
        slots = room - other_groups
        if len(failed) > slots:
            slots -= 1  # the FAILED ones that do not get a section of their own need a summary
        individual = []
        spent = _SUMMARY_MAX * (other_groups + 1)
        for binding in failed[: max(0, slots)]:
            cost = len(_binding_title(binding)) + len(_ERR_FENCE) + _MIN_ERR_SHARE
            if individual and spent + cost > budget:
                break
            individual.append(binding)
            spent += cost
        compacted = failed[len(individual) :] + others
    summaries = [_summary_text(*group) for group in _summary_groups(compacted)]
    texts = _binding_section_texts(individual, budget - sum(map(len, summaries)))
    return [section_block(text) for text in texts + summaries]


def _card_actions(
    connection: Connection, *, console_url: str | None, watch_state: WatchState, ephemeral: bool
) -> dict[str, Any] | None:
    buttons: list[dict[str, Any]] = []
    if fits_value(connection.id):
        buttons.append(button_element("Refresh", ACTION_REFRESH, value=connection.id))
        if watch_state == "watching":
            buttons.append(button_element("Unwatch", ACTION_UNWATCH, value=connection.id))
        else:
            buttons.append(button_element("Watch", ACTION_WATCH, value=connection.id))
        if ephemeral:
            buttons.append(button_element("Share in channel", ACTION_SHARE, value=connection.id))
    if console_url and len(console_url) <= BUTTON_URL_MAX:
        buttons.append(button_element("Open in console", ACTION_CONSOLE, url=console_url))
    return {"type": "actions", "elements": buttons} if buttons else None


def _card_fallback(connection: Connection) -> str:
    name = clean_plain(connection.name).strip() or "(unnamed)"
    sentence = f"{name[:80]} ({short_id(connection.id)}) is {shown_status(connection)}; "
    sentence += binding_summary(connection)
    failed = [b.info for b in bindings_of(connection) if b.info.is_failed]
    if failed:
        names = [clean_plain(q.name)[:60] or "(unnamed)" for q in failed[:5]]
        more = f" and {len(failed) - 5} more" if len(failed) > 5 else ""
        sentence += ": " + ", ".join(names) + more
    return fallback_text(sentence)


def connection_card(
    lookup: Lookup,
    *,
    now: datetime,
    console_url: str | None = None,
    watch_state: WatchState = "not_watching",
    ephemeral: bool = True,
    demo: bool = False,
) -> Message:
    """The card for one connection: FAILED queues and pools first, with their err_msg."""
    connection = lookup.connection
    title = clean_plain(connection.name).strip() or connection.id
    head = [
        header_block(f"{connection_icon(connection)} {title}"),
        section_block(
            f"{connection_icon(connection)} *{short_marker_cut(verdict_of(connection), 600)}*"
        ),
        {"type": "section", "fields": _fields(connection)},
    ]
    context = freshness_line(
        lookup.source,
        now=now,
        fetched_at=lookup.fetched_at,
        request_id=lookup.request_id,
        stale_reason=lookup.stale_reason,
        demo=demo,
    )
    tail = [context_block(context)]
    actions = _card_actions(
        connection, console_url=console_url, watch_state=watch_state, ephemeral=ephemeral
    )
    if actions:
        tail.append(actions)
    bindings = bindings_of(connection)
    body: list[dict[str, Any]] = []
    if bindings:
        body.append(divider())
        room = MAX_BLOCKS - len(head) - len(tail) - len(body)
        budget = TEXT_BUDGET - block_text_length(head + tail)
        body += _binding_blocks(bindings, room=room, budget=budget)
    return Message(text=_card_fallback(connection), blocks=head + body + tail)
