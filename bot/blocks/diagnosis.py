"""Diagnosis on Slack: a "Likely cause" line under a FAILED binding, the "What to check" modal."""

from __future__ import annotations

from typing import Any, Final

from bot.blocks import message as kit
from bot.blocks import text as rich
from bot.blocks.actions import (
    ACTION_WHAT_TO_CHECK,
    ACTION_WHAT_TO_CHECK_DOC,
    VIEW_WHAT_TO_CHECK,
)
from bot.blocks.status import bindings_of
from bot.diagnosis import Entry, Finding, Value, default_catalogue, self_check
from bot.dli.models import FAILED, Connection
from bot.i18n import _

_BINDINGS_SHOWN: Final = 5
_ERR_SHOWN: Final = 1000
_FINDING_MAX: Final = 120


def diagnosed(err_msg: str) -> Entry | None:
    """The packaged catalogue's entry for `err_msg`, if any (Catalogue.match remembers it)."""
    return default_catalogue().match(err_msg)


def button_value(entry: Entry, connection_id: str) -> str:
    return f"{entry.id}|{connection_id}"


def parse_button_value(value: str) -> tuple[str, str]:
    """(entry id, connection id) from a What to check button."""
    entry_id, _, connection_id = value.partition("|")
    return entry_id, connection_id


def cause_block(entry: Entry, connection_id: str) -> dict[str, Any]:
    """One line of ours, "Likely cause: …", with the What to check button beside it (a section
    with an accessory: a button cannot sit in a rich_text block)."""
    button = kit.value_button(
        _("What to check"), ACTION_WHAT_TO_CHECK, button_value(entry, connection_id)
    )
    return kit.section_block(_likely_cause(entry), accessory=button)


def _likely_cause(entry: Entry) -> str:
    return _("*Likely cause:* {cause}").format(cause=rich.trusted(entry.shown_cause(), 400))


def cause_blocks(err_msg: str, connection_id: str) -> list[dict[str, Any]]:
    """The line for one FAILED binding's err_msg: [] when it matches no entry (nothing is
    invented for an unknown failure)."""
    entry = diagnosed(err_msg)
    return [cause_block(entry, connection_id)] if entry else []


def _finding(finding: Finding) -> rich.Pieces:
    pieces: rich.Pieces = []
    for part in finding:
        pieces += (
            rich.code(part.text, _FINDING_MAX) if isinstance(part, Value) else [rich.words(part)]
        )
    return pieces


def _checked(entry: Entry, connection: Connection | None, why_not: str) -> list[dict[str, Any]]:
    if not entry.self_checks:
        return []
    heading = kit.section_block(_("*What the bot checked itself*"))
    if connection is None:
        return [heading, kit.section_block(rich.trusted(why_not, 500))]
    errors = [
        b.info.err_msg
        for b in bindings_of(connection)
        if b.info.is_failed and diagnosed(b.info.err_msg) == entry
    ]
    findings = self_check(entry, errors, connection)
    if not findings:
        note = _("Nothing in the error could be compared with the connection's routes and hosts.")
        return [heading, kit.section_block(note)]
    lines = [rich.icon_line("mag", _finding(f)) for f in findings]
    return [heading, kit.rich_block(*lines)]


def _seen_on(entry: Entry, connection: Connection) -> list[dict[str, Any]]:
    matched = [
        b
        for b in bindings_of(connection)
        if b.info.is_failed and diagnosed(b.info.err_msg) == entry
    ]
    blocks = [
        kit.rich_block(
            rich.icon_line(
                "red_circle",
                rich.phrase(
                    _("{kind} {name} {status}"),
                    kind=b.kind,
                    name=rich.code(b.info.name, 100),
                    status=FAILED,
                ),
            ),
            rich.preformatted(b.info.err_msg, _ERR_SHOWN),
        )
        for b in matched[:_BINDINGS_SHOWN]
    ]
    if len(matched) > _BINDINGS_SHOWN:
        more = _("… and {n} more with this cause").format(n=len(matched) - _BINDINGS_SHOWN)
        blocks.append(kit.section_block(more))
    return blocks


def what_to_check_view(
    entry: Entry | None, connection: Connection | None, *, why_not: str = ""
) -> dict[str, Any]:
    """The modal a What to check button opens: the cause, the checks in order, what the bot
    found itself (or why it could not look), and the Huawei page it comes from."""
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": VIEW_WHAT_TO_CHECK,
        "title": kit.plain_text(_("What to check")),
        "close": kit.plain_text(_("Close")),
    }
    if entry is None:
        gone = _(
            "This diagnosis is no longer in the bot's catalogue: refresh the card for a new one."
        )
        return {**view, "blocks": [kit.section_block(gone)]}
    blocks: list[dict[str, Any]] = [
        kit.header_block(entry.shown_title()),
        kit.section_block(_likely_cause(entry)),
    ]
    if connection is not None:
        blocks += _seen_on(entry, connection)
    blocks.append(kit.section_block(_("*What to check, in order*")))
    blocks += check_blocks(entry)
    blocks += _checked(entry, connection, why_not)
    blocks += source_blocks(entry)
    return {**view, "blocks": blocks}


def check_blocks(entry: Entry) -> list[dict[str, Any]]:
    """The entry's checks, numbered, in the order to work through them."""
    return [
        kit.section_block(f"*{number}.* {rich.trusted(check, 2900)}")
        for number, check in enumerate(entry.shown_checks(), start=1)
    ]


def source_blocks(entry: Entry) -> list[dict[str, Any]]:
    """The Huawei page the entry comes from (in the reader's language when Huawei has one): a
    line with a button to it, and its address."""
    page_id, url = entry.shown_page()
    source = _("From Huawei Cloud's documentation, page {page}.").format(
        page=rich.trusted(page_id, 60)
    )
    link = (
        kit.button_element(_("Open the Huawei page"), ACTION_WHAT_TO_CHECK_DOC, url=url)
        if len(url) <= kit.BUTTON_URL_MAX
        else None
    )
    return [kit.section_block(source, accessory=link), kit.context_block([kit.plain_text(url)])]
