"""The connection card: verdict, fields, every queue and pool with FAILED ones first, buttons."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final, Literal

from bot.blocks import message as kit
from bot.blocks import text as rich
from bot.blocks.actions import (
    ACTION_CONSOLE,
    ACTION_HISTORY,
    ACTION_REFRESH,
    ACTION_SHARE,
    ACTION_UNWATCH,
    ACTION_WATCH,
)
from bot.blocks.conntest import conntest_button
from bot.blocks.diagnosis import cause_blocks
from bot.blocks.status import (
    ICONS,
    OTHER_ICON,
    OTHER_RANK,
    Binding,
    binding_summary,
    bindings_of,
    connection_icon,
    freshness_line,
    project_label,
    short_id,
    shown_status,
    status_icon,
    status_rank,
    verdict_of,
)
from bot.dli.models import ACTIVE, CREATING, FAILED, Connection, Host, QueueInfo, Route, is_unknown
from bot.i18n import N_, _, ngettext
from bot.lookup.cache import Lookup, ProjectRef

WatchState = Literal["watching", "not_watching"]
# --------------------------------------------------------------------------- connection card


_HOSTS_SHOWN: Final = 5
_ROUTES_SHOWN: Final = 5
_NAME_MAX: Final = 100
# Past this many bindings, only FAILED ones get a section each; the rest are summarised per
# status, the ones that are neither FAILED, CREATING nor ACTIVE under one label.
_INDIVIDUAL_LIMIT: Final = 20
_OTHER_LABEL: Final = N_("Other statuses")
_MIN_ERR_SHARE: Final = 200
_SUMMARY_MAX: Final = 700
# What an err_msg's code block costs beyond its text: the marker of a cut one, at most.
_ERR_OVERHEAD: Final = 40


def _field(label: str, shown: rich.Pieces) -> rich.Pieces:
    labelled = _("{label}:").format(label=label)
    # No space after a line break, nor after a full-width colon (Chinese sets none).
    next_line = bool(shown) and shown[0].get("text", "").startswith("\n")
    gap = [] if next_line or labelled.endswith("：") else [rich.words(" ")]
    return [rich.words(labelled, bold=True), *gap, *shown]


def _collapsed(entries: list[rich.Pieces], total: int) -> rich.Pieces:
    if not entries:
        return [rich.words(_("none"))]
    more = total - len(entries)
    lines = [[rich.words("\n    "), *entry] for entry in entries]
    return [piece for line in lines for piece in line] + (
        [rich.words("\n    " + _("and {n} more").format(n=more))] if more > 0 else []
    )


def _unknown() -> rich.Pieces:
    return [rich.words(_("unknown"), italic=True)]


def _or_unknown(
    value: Connection | QueueInfo | Host | Route, field: str, shown: rich.Pieces
) -> rich.Pieces:
    """`shown`, or "unknown" when DLI sent that field in a form that could not be read."""
    return _unknown() if is_unknown(value, field) else shown


def _partly(connection: Connection, field: str, shown: rich.Pieces) -> rich.Pieces:
    """A list field's pieces, with a note if some (or all) of its entries could not be read."""
    if not is_unknown(connection, field):
        return shown
    if rich.as_plain(shown) in (_("none"), "0"):
        return _unknown()
    return [*shown, rich.words("\n    " + _("and some that could not be read"), italic=True)]


def _fields(connection: Connection, project: ProjectRef | None) -> rich.Pieces:
    """The connection's facts, one per line: labels bold, values exact (ids as code)."""
    c = connection
    hosts = [
        [
            *_or_unknown(h, "name", rich.code(h.name, 60)),
            rich.words(" → "),
            *_or_unknown(h, "ip", rich.code(h.ip, 45)),
        ]
        for h in c.hosts[:_HOSTS_SHOWN]
    ]
    routes = [
        [
            *_or_unknown(r, "name", rich.code(r.name, 60)),
            rich.words(" "),
            *_or_unknown(r, "cidr", rich.code(r.cidr, 45)),
        ]
        for r in c.routes[:_ROUTES_SHOWN]
    ]
    ipv6 = {True: _("enabled"), False: _("disabled"), None: _("unknown")}[c.ipv6_enable]
    created = c.create_time
    pools = [rich.words(str(len(c.elastic_resource_pools)))]
    fields = [
        *([_field(_("Project"), rich.code(project_label(project), 80))] if project else []),
        _field(_("Id"), rich.code(c.id, 80)),
        _field(_("Status"), [rich.shown_value(shown_status(c))]),
        _field(_("VPC"), _or_unknown(c, "dest_vpc_id", rich.code(c.dest_vpc_id, 80))),
        _field(_("Subnet"), _or_unknown(c, "dest_network_id", rich.code(c.dest_network_id, 80))),
        _field(
            _("Created"),
            _or_unknown(c, "create_time", [rich.date(created)] if created else [rich.words("–")]),
        ),
        _field(_("Hosts"), _partly(c, "hosts", _collapsed(hosts, len(c.hosts)))),
        _field(_("Routes"), _partly(c, "routes", _collapsed(routes, len(c.routes)))),
        _field(_("Elastic resource pools"), _partly(c, "elastic_resource_pools", pools)),
        _field(_("IPv6"), [rich.words(ipv6)]),
    ]
    if connection.is_privis is False:
        fields.append(_field(_("Owner"), [rich.words(_("granted by another project"))]))
    return rich.joined(fields, "\n")


def _binding_title(binding: Binding) -> rich.Pieces:
    info = binding.info
    parts = [
        rich.icon_line(
            status_icon(info.status), _or_unknown(info, "name", rich.code(info.name, _NAME_MAX))
        ),
        [rich.words(binding.kind)],
        [rich.shown_value(shown_status(info), bold=info.is_failed)],
    ]
    if is_unknown(info, "update_time"):
        parts.append(rich.phrase(_("updated {time}"), time=_unknown()))
    elif info.update_time:
        parts.append(rich.phrase(_("updated {time}"), time=rich.date(info.update_time)))
    if is_unknown(info, "err_msg"):
        parts.append(rich.phrase(_("error message {unknown}"), unknown=_unknown()))
    return rich.joined(parts, " · ")


def _err_caps(errors: Sequence[str], budget: int, per_item_max: Sequence[int]) -> list[int]:
    """Share `budget` among err_msg lengths fairly: short ones in full, long ones equally cut."""
    caps = [0] * len(errors)
    lengths = [len(e) + _ERR_OVERHEAD for e in errors]
    order = sorted(range(len(errors)), key=lambda i: min(lengths[i], per_item_max[i]))
    remaining, left = max(0, budget), len(errors)
    for index in order:
        share = remaining // left
        caps[index] = min(lengths[index], per_item_max[index], share)
        remaining -= caps[index]
        left -= 1
    return caps


def _binding_sections(bindings: Sequence[Binding], budget: int) -> list[dict[str, Any]]:
    titles = [_binding_title(b) for b in bindings]
    sizes = [rich.pieces_length(t) for t in titles]
    with_err = [i for i, b in enumerate(bindings) if b.info.err_msg]
    caps = _err_caps(
        [bindings[i].info.err_msg for i in with_err],
        budget - sum(sizes),
        [kit.SECTION_TEXT_MAX - sizes[i] for i in with_err],
    )
    errors = {
        index: rich.preformatted(bindings[index].info.err_msg, cap - _ERR_OVERHEAD // 2)
        for index, cap in zip(with_err, caps, strict=True)
    }
    return [
        kit.rich_block(title, errors[i]) if i in errors else kit.rich_block(title)
        for i, title in enumerate(titles)
    ]


def _summary(icon: str, label: str, bindings: Sequence[Binding]) -> rich.Pieces:
    """One line for many bindings: "ACTIVE (180 queues, 2 pools): `q1`, `q2`, … and 170 more"."""
    pools = sum(b.is_pool for b in bindings)
    queues = len(bindings) - pools
    counts = [
        *([ngettext("{n} queue", "{n} queues", queues).format(n=queues)] if queues else []),
        *([ngettext("{n} pool", "{n} pools", pools).format(n=pools)] if pools else []),
    ]
    shown_label = _(_OTHER_LABEL) if label == _OTHER_LABEL else label
    head = rich.icon_line(
        icon,
        [
            rich.words(shown_label, bold=True),
            # The spaces are the translation's: Chinese sets none around its full-width brackets.
            rich.words(_(" ({counts}): ").format(counts=_(", ").join(counts))),
        ],
    )
    items: list[rich.Pieces] = []
    used = rich.pieces_length(head)
    for shown, binding in enumerate(bindings):
        item = rich.code(binding.info.name, 60)
        if binding.is_pool:
            item.append(rich.words(" " + _("(pool)")))
        if label == _OTHER_LABEL:
            item += [rich.words(" "), rich.shown_value(shown_status(binding.info))]
        tail = " … " + _("and {n} more").format(n=len(bindings) - shown)
        size = rich.pieces_length(item)
        if used + size + 2 + len(tail) > _SUMMARY_MAX:
            return head + rich.joined(items, _(", ")) + [rich.words(tail)]
        items.append(item)
        used += size + 2
    return head + rich.joined(items, _(", "))


def _summary_groups(bindings: Sequence[Binding]) -> list[tuple[str, str, list[Binding]]]:
    groups: dict[int, list[Binding]] = {}
    for binding in bindings:
        groups.setdefault(status_rank(binding.info.status), []).append(binding)
    labels = {0: FAILED, 1: CREATING, 2: ACTIVE, OTHER_RANK: _OTHER_LABEL}
    return [
        (ICONS.get(labels[rank], OTHER_ICON), labels[rank], groups[rank]) for rank in sorted(groups)
    ]


def _binding_blocks(
    bindings: Sequence[Binding], *, room: int, budget: int, connection_id: str
) -> list[dict[str, Any]]:
    """The bindings' blocks, each FAILED one shown on its own followed by its likely cause when
    the catalogue knows its err_msg (as far as blocks and text allow)."""
    causes = {
        id(b): line
        for b in bindings
        if b.info.is_failed and (line := cause_blocks(b.info.err_msg, connection_id))
    }
    # Room for the cause lines is set aside first, so many FAILED queues do not crowd them out
    # (at most a third of the room: the queues themselves come first).
    reserved = [line[0] for line in causes.values()][: max(0, room // 3)]
    individual, summaries = _binding_layout(
        bindings,
        room=room - len(reserved),
        budget=budget - (kit.block_text_length(reserved) if reserved else 0),
    )
    if not causes:
        return [section for _, section in individual] + summaries
    spare = room - len(individual) - len(summaries)
    text_left = budget - kit.block_text_length([section for _, section in individual] + summaries)
    blocks: list[dict[str, Any]] = []
    for binding, section in individual:
        blocks.append(section)
        line = causes.get(id(binding), [])
        cost = kit.block_text_length(line)
        if line and spare > 0 and cost <= text_left:
            blocks += line
            spare, text_left = spare - 1, text_left - cost
    return blocks + summaries


def _binding_layout(
    bindings: Sequence[Binding], *, room: int, budget: int
) -> tuple[list[tuple[Binding, dict[str, Any]]], list[dict[str, Any]]]:
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
            cost = rich.pieces_length(_binding_title(binding)) + _ERR_OVERHEAD + _MIN_ERR_SHARE
            if individual and spent + cost > budget:
                break
            individual.append(binding)
            spent += cost
        compacted = failed[len(individual) :] + others
    summaries = [_summary(*group) for group in _summary_groups(compacted)]
    sections = _binding_sections(individual, budget - sum(map(rich.pieces_length, summaries)))
    return list(zip(individual, sections, strict=True)), [kit.rich_block(s) for s in summaries]


def _card_actions(
    connection: Connection,
    *,
    console_url: str | None,
    watch_state: WatchState,
    ephemeral: bool,
    can_test: bool,
) -> dict[str, Any] | None:
    buttons: list[dict[str, Any]] = []
    if kit.fits_value(connection.id):
        buttons.append(kit.button_element(_("Refresh"), ACTION_REFRESH, value=connection.id))
        if watch_state == "watching":
            buttons.append(kit.button_element(_("Unwatch"), ACTION_UNWATCH, value=connection.id))
        else:
            buttons.append(kit.button_element(_("Watch"), ACTION_WATCH, value=connection.id))
        buttons.append(kit.button_element(_("History"), ACTION_HISTORY, value=connection.id))
        if ephemeral:
            share = _("Share in channel")
            buttons.append(kit.button_element(share, ACTION_SHARE, value=connection.id))
        failed = [q for q in connection.available_queue_info if q.is_failed] if can_test else []
        test = conntest_button(connection.id, failed[0].name) if failed else None
        if test is not None:
            buttons.append(test)
    if console_url and len(console_url) <= kit.BUTTON_URL_MAX:
        buttons.append(kit.button_element(_("Open in console"), ACTION_CONSOLE, url=console_url))
    return {"type": "actions", "elements": buttons} if buttons else None


def _card_fallback(connection: Connection) -> str:
    name = rich.shortened(connection.name, 80, marker="…") or _("(unnamed)")
    sentence = _("{name} ({id}) is {status}; {summary}").format(
        name=name,
        id=short_id(connection.id),
        status=shown_status(connection),
        summary=binding_summary(connection),
    )
    failed = [b.info for b in bindings_of(connection) if b.info.is_failed]
    if failed:
        names = [rich.shortened(q.name, 60, marker="…") or _("(unnamed)") for q in failed[:5]]
        more = " " + _("and {n} more").format(n=len(failed) - 5) if len(failed) > 5 else ""
        sentence += _(": ") + _(", ").join(names) + more
    return kit.fallback_text(sentence)


def connection_card(
    lookup: Lookup,
    *,
    now: datetime,
    console_url: str | None = None,
    watch_state: WatchState = "not_watching",
    ephemeral: bool = True,
    demo: bool = False,
    can_test: bool = False,
) -> kit.Message:
    """The card for one connection: FAILED queues and pools first, with their err_msg.
    `can_test`: the channel may run connectivity tests (a button for the first FAILED queue)."""
    connection = lookup.connection
    icon = connection_icon(connection)
    head = [
        kit.header_block(
            f"{rich.EMOJI[icon]} ", connection.name if connection.name.strip() else connection.id
        ),
        kit.rich_block(rich.icon_line(icon, rich.value(verdict_of(connection), 600, bold=True))),
        kit.rich_block(_fields(connection, lookup.project)),
    ]
    context = freshness_line(lookup.freshness, now=now, demo=demo)
    tail = [kit.context_block(context)]
    actions = _card_actions(
        connection,
        console_url=console_url,
        watch_state=watch_state,
        ephemeral=ephemeral,
        can_test=can_test,
    )
    if actions:
        tail.append(actions)
    bindings = bindings_of(connection)
    body: list[dict[str, Any]] = []
    if bindings:
        body.append(kit.divider())
        room, budget = kit.room_left(head + body, tail)
        body += _binding_blocks(bindings, room=room, budget=budget, connection_id=connection.id)
    return kit.Message(text=_card_fallback(connection), blocks=head + body + tail)
