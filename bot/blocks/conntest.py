"""The connectivity test's Block Kit: the button (behind a confirmation), the modal, the result."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from bot.blocks import message as kit
from bot.blocks import text as rich
from bot.blocks.actions import ACTION_TEST, TEST_ADDRESS_INPUT, TEST_QUEUE_INPUT, VIEW_TEST
from bot.blocks.diagnosis import check_blocks, source_blocks
from bot.blocks.replies import notice
from bot.blocks.status import connection_named, project_context
from bot.diagnosis import Entry
from bot.dli.models import CHECKING, FAILED, REACHABLE, UNREACHABLE, Connection
from bot.dli.targets import MAX_ADDRESS_CHARS, MAX_QUEUE_CHARS
from bot.i18n import _
from bot.lookup.cache import ProjectRef
from bot.slack_ids import is_user_id

#: What the button's value separates: a queue name has no `|` (bot.dli.targets).
VALUE_SEPARATOR: Final = "|"
_TITLE_MAX: Final = 24  # Slack's limit for a modal's title
_HINT_MAX: Final = 1900
_HOSTS_HINTED: Final = 10

_ICONS: Final = {REACHABLE: "large_green_circle", UNREACHABLE: "red_circle", CHECKING: "hourglass"}


def unreachable_checklist() -> tuple[str, ...]:
    """What to check when a queue cannot reach an address, most likely first (our own words),
    in the reader's language."""
    return (
        _(
            "The address and port are right and something listens there (without a port, only "
            "the host is tried)."
        ),
        _(
            "The destination's security group allows inbound traffic from the queue's CIDR "
            "block on that port."
        ),
        _(
            "The connection has a route to the destination's subnet (Routes on the card) and "
            "its VPC peering is ACTIVE."
        ),
        _("The destination subnet's network ACL allows the traffic both ways."),
        _(
            "A domain name resolves from the queue: add it to the connection's hosts, or check "
            "the VPC's DNS."
        ),
    )


def conntest_button(connection_id: str, queue: str) -> dict[str, Any] | None:
    """ "Test connectivity" for one FAILED queue, behind a confirmation; None when the value
    would not fit (a cut value would test the wrong queue)."""
    button = kit.value_button(
        _("Test connectivity"), ACTION_TEST, f"{connection_id}{VALUE_SEPARATOR}{queue}"
    )
    if button is None:
        return None
    button["confirm"] = {
        "title": kit.plain_text(_("Run a connectivity test?")),
        "text": kit.plain_text(
            _(
                "DLI will try to reach an address from this queue's network. You choose the "
                "address next; nothing is changed."
            )
        ),
        "confirm": kit.plain_text(_("Choose the address")),
        "deny": kit.plain_text(_("Cancel")),
    }
    return button


def conntest_modal(connection: Connection, queue: str, *, metadata: str) -> dict[str, Any]:
    """The modal a button opens: the queue and the address (the connection's first host),
    prefilled; `metadata` comes back with the submission."""
    hosts = [h for h in connection.hosts if h.ip or h.name]
    first = next((h.ip or h.name for h in hosts), "")
    listed = _(", ").join(
        f"{h.name} → {h.ip}" if h.name and h.ip else h.ip or h.name for h in hosts[:_HOSTS_HINTED]
    )
    more = len(hosts) - _HOSTS_HINTED
    if more > 0:
        hosts_hint = _("The connection's hosts: {hosts} and {n} more. Add :port to test a port.")
    else:
        hosts_hint = _("The connection's hosts: {hosts}. Add :port to test a port.")
    hint = (
        hosts_hint.format(hosts=listed, n=more)
        if hosts
        else _("An IPv4 address or a domain name, with :port to test a port.")
    )
    name = connection.name or connection.id
    return {
        "type": "modal",
        "callback_id": VIEW_TEST,
        "title": kit.plain_text(_("Connectivity test")[:_TITLE_MAX]),
        "submit": kit.plain_text(_("Run the test")),
        "close": kit.plain_text(_("Cancel")),
        "private_metadata": metadata,
        "blocks": [
            kit.rich_block(
                rich.phrase(
                    _(
                        "From a queue of {name} ({id}), DLI tries to reach the address. It "
                        "takes up to about {seconds} s."
                    ),
                    name=rich.code(name, 80),
                    id=rich.code(connection.id, 64),
                    seconds="20",
                )
            ),
            _text_input(TEST_QUEUE_INPUT, _("Queue"), queue, MAX_QUEUE_CHARS, None),
            _text_input(
                TEST_ADDRESS_INPUT,
                _("Address (host[:port])"),
                first,
                MAX_ADDRESS_CHARS,
                rich.shortened(hint, _HINT_MAX),
            ),
        ],
    }


def _text_input(
    block_id: str, label: str, initial: str, max_length: int, hint: str | None
) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": block_id,
        "max_length": max_length,
    }
    if initial and len(initial) <= max_length:
        element["initial_value"] = initial
    block: dict[str, Any] = {
        "type": "input",
        "block_id": block_id,
        "label": kit.plain_text(label),
        "element": element,
    }
    if hint:
        block["hint"] = kit.plain_text(hint)
    return block


def _what(queue: str, address: str) -> rich.Pieces:
    return rich.phrase(
        _("queue {queue} → {address}"),
        queue=rich.code(queue, 128),
        address=rich.code(address, MAX_ADDRESS_CHARS),
    )


def conntest_result(
    connection: Connection,
    project: ProjectRef | None,
    *,
    queue: str,
    address: str,
    connectivity: str,
    task_id: str,
    request_id: str | None,
    user_id: str = "",
    waited: float = 0.0,
    queue_failed: bool = False,
    diagnosis: Entry | None = None,
) -> kit.Message:
    """The outcome: REACHABLE, UNREACHABLE (with what to check), still CHECKING after the wait
    (with the task id), or DLI's own word, shown exactly. `diagnosis`: the catalogue entry the
    queue's FAILED err_msg matches, whose checks and page then replace our general checklist."""
    word = connectivity.upper()
    what = _what(queue, address)
    if word == REACHABLE:
        said = _bold_around(rich.phrase(_("{what} is reachable"), what=what), what)
    elif word == UNREACHABLE:
        said = _bold_around(rich.phrase(_("{what} is unreachable"), what=what), what)
    elif word == CHECKING:
        waiting = _("{what} — DLI was still checking after {seconds} s")
        said = _bold_around(rich.phrase(waiting, what=what, seconds=f"{waited:g}"), what)
    else:
        answer = rich.value(connectivity or _("(nothing)"), 200, bold=True)
        said = rich.phrase(_("{what} — DLI answered {answer}"), what=what, answer=answer)
    line: rich.Pieces = rich.icon_line(_ICONS.get(word, "grey_question"), said)
    on = rich.phrase(
        _("on connection {connection}"), connection=connection_named(connection.name, connection.id)
    )
    blocks = [kit.rich_block(line, on)]
    if word == UNREACHABLE and diagnosis is not None:
        # The queue's own FAILED err_msg is a known failure: its checks and page say more
        # than a general list could.
        heading = _("*What to check* (the queue is {status}; likely cause: {cause})").format(
            status=FAILED, cause=rich.trusted(diagnosis.shown_cause(), 400)
        )
        blocks.append(kit.section_block(heading))
        blocks += [*check_blocks(diagnosis), *source_blocks(diagnosis)]
    elif word == UNREACHABLE:
        checks = list(unreachable_checklist())
        if queue_failed:
            checks.insert(
                0, _("The queue's binding is FAILED: its err_msg (on the card) comes first.")
            )
        steps = [[rich.words(f"{n}. {check}")] for n, check in enumerate(checks, 1)]
        blocks.append(kit.rich_block([rich.words(_("What to check"), bold=True), rich.words("\n"),
                                  *rich.joined(steps, "\n")]))  # fmt: skip
    elif word == CHECKING:
        blocks.append(
            kit.rich_block(
                rich.phrase(
                    _("Run the test again in a minute; DLI's task id is {task_id}"),
                    task_id=rich.code(task_id, 40),
                )
            )
        )
    notes: list[str | dict[str, Any]] = []
    if project is not None:
        notes.append(project_context(project))
    notes.append(kit.plain_text(_("DLI task id {id}").format(id=rich.shortened(task_id, 40))))
    if request_id:
        notes.append(_request_id(request_id))
    blocks.append(kit.context_block(notes))
    if is_user_id(user_id):
        blocks.append(kit.rich_block(rich.phrase(_("Run by {user}"), user=rich.user(user_id))))
    sentence = _("Connectivity test: {queue} → {address} is {connectivity}").format(
        queue=rich.shortened(queue, 60, marker="…"),
        address=rich.shortened(address, 80, marker="…"),
        connectivity=rich.shortened(connectivity, 40),
    )
    return kit.Message(text=kit.fallback_text(sentence), blocks=blocks)


def _bold_around(pieces: rich.Pieces, what: rich.Pieces) -> rich.Pieces:
    """The verdict in bold: every piece of `pieces` but those of `what` (which it holds)."""
    plain = {id(piece) for piece in what}
    return [p if id(p) in plain else {**p, "style": {"bold": True}} for p in pieces]


def _request_id(request_id: str) -> dict[str, Any]:
    return kit.plain_text(_("DLI request id {id}").format(id=rich.shortened(request_id, 100)))


def not_bound(connection: Connection, queue: str, bound: Sequence[str]) -> kit.Message:
    """The queue asked for is not bound to the connection: the test would say nothing about it."""
    names = rich.joined([rich.code(name, 60) for name in bound[:20]], _(", ")) or [
        rich.words(_("none"))
    ]
    if len(bound) > 20:
        names += [rich.words(" " + _("and {n} more").format(n=len(bound) - 20))]
    return notice(
        rich.icon_line(
            "grey_question",
            rich.phrase(
                _("No queue or pool {queue} is bound to {connection}.\nBound: {bound}"),
                queue=rich.code(queue, 128),
                connection=connection_named(connection.name, connection.id),
                bound=names,
            ),
        ),
        fallback=_("{queue} is not bound to that connection").format(
            queue=rich.shortened(queue, 60, marker="…")
        ),
    )


def dli_refused(queue: str, reason: str, code_: str | None, request_id: str | None) -> kit.Message:
    """DLI would not run the test (no such queue, a parameter it refused): its words, exactly."""
    body: rich.Pieces = rich.icon_line(
        "no_entry",
        rich.phrase(
            _("DLI would not run the test from queue {queue}: {reason}"),
            queue=rich.code(queue, 128),
            reason=rich.value(reason, 600) if reason else _("no reason given"),
        ),
    )
    parts = (
        [kit.plain_text(_("DLI error {code}").format(code=rich.shortened(code_, 40)))]
        if code_
        else []
    )
    if request_id:
        parts.append(_request_id(request_id))
    blocks = [kit.rich_block(body)] + ([kit.context_block(parts)] if parts else [])
    return kit.Message(
        text=kit.fallback_text(_("DLI would not run the connectivity test")), blocks=blocks
    )
