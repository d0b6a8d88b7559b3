"""The connectivity test's Block Kit: the button (behind a confirmation), the modal, the result."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from bot.blocks.actions import ACTION_TEST, TEST_ADDRESS_INPUT, TEST_QUEUE_INPUT, VIEW_TEST
from bot.blocks.diagnosis import check_blocks, source_blocks
from bot.blocks.message import (
    Message,
    button_element,
    context_block,
    fallback_text,
    fits_value,
    plain_text,
    rich_block,
    section_block,
)
from bot.blocks.replies import notice
from bot.blocks.status import project_label
from bot.blocks.text import (
    Pieces,
    code,
    emoji,
    is_user_id,
    joined,
    shortened,
    trusted,
    user,
    value,
    words,
)
from bot.diagnosis import Entry
from bot.dli.models import CHECKING, REACHABLE, UNREACHABLE, Connection
from bot.dli.targets import MAX_ADDRESS_CHARS, MAX_QUEUE_CHARS
from bot.lookup.cache import ProjectRef

#: What the button's value separates: a queue name has no `|` (bot.dli.targets).
VALUE_SEPARATOR: Final = "|"
_TITLE_MAX: Final = 24  # Slack's limit for a modal's title
_HINT_MAX: Final = 1900
_HOSTS_HINTED: Final = 10

_ICONS: Final = {REACHABLE: "large_green_circle", UNREACHABLE: "red_circle", CHECKING: "hourglass"}

#: What to check when a queue cannot reach an address, most likely first (our own words).
UNREACHABLE_CHECKLIST: Final = (
    "The address and port are right and something listens there (without a port, only the "
    "host is tried).",
    "The destination's security group allows inbound traffic from the queue's CIDR block on "
    "that port.",
    "The connection has a route to the destination's subnet (Routes on the card) and its VPC "
    "peering is ACTIVE.",
    "The destination subnet's network ACL allows the traffic both ways.",
    "A domain name resolves from the queue: add it to the connection's hosts, or check the "
    "VPC's DNS.",
)


def conntest_button(connection_id: str, queue: str) -> dict[str, Any] | None:
    """ "Test connectivity" for one FAILED queue, behind a confirmation; None when the value
    would not fit (a cut value would test the wrong queue)."""
    button_value = f"{connection_id}{VALUE_SEPARATOR}{queue}"
    if not fits_value(button_value):
        return None
    button = button_element("Test connectivity", ACTION_TEST, value=button_value)
    button["confirm"] = {
        "title": plain_text("Run a connectivity test?"),
        "text": plain_text(
            "DLI will try to reach an address from this queue's network. You choose the "
            "address next; nothing is changed."
        ),
        "confirm": plain_text("Choose the address"),
        "deny": plain_text("Cancel"),
    }
    return button


def conntest_modal(connection: Connection, queue: str, *, metadata: str) -> dict[str, Any]:
    """The modal a button opens: the queue and the address (the connection's first host),
    prefilled; `metadata` comes back with the submission."""
    hosts = [h for h in connection.hosts if h.ip or h.name]
    first = next((h.ip or h.name for h in hosts), "")
    listed = ", ".join(
        f"{h.name} → {h.ip}" if h.name and h.ip else h.ip or h.name for h in hosts[:_HOSTS_HINTED]
    )
    more = f" and {len(hosts) - _HOSTS_HINTED} more" if len(hosts) > _HOSTS_HINTED else ""
    hint = (
        f"The connection's hosts: {listed}{more}. Add :port to test a port."
        if hosts
        else "An IPv4 address or a domain name, with :port to test a port."
    )
    name = connection.name or connection.id
    return {
        "type": "modal",
        "callback_id": VIEW_TEST,
        "title": plain_text("Connectivity test"[:_TITLE_MAX]),
        "submit": plain_text("Run the test"),
        "close": plain_text("Cancel"),
        "private_metadata": metadata,
        "blocks": [
            rich_block(
                [
                    words("From a queue of "),
                    *code(name, 80),
                    words(" ("),
                    *code(connection.id, 64),
                    words("), DLI tries to reach the address. It takes up to about 20 s."),
                ]
            ),
            _text_input(TEST_QUEUE_INPUT, "Queue", queue, MAX_QUEUE_CHARS, None),
            _text_input(
                TEST_ADDRESS_INPUT,
                "Address (host[:port])",
                first,
                MAX_ADDRESS_CHARS,
                shortened(hint, _HINT_MAX),
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
        "label": plain_text(label),
        "element": element,
    }
    if hint:
        block["hint"] = plain_text(hint)
    return block


def _what(queue: str, address: str) -> Pieces:
    return [words("queue "), *code(queue, 128), words(" → "), *code(address, MAX_ADDRESS_CHARS)]


def _connection(connection: Connection) -> Pieces:
    name = connection.name or connection.id
    return [*code(name, 80), words(" ("), *code(connection.id, 64), words(")")]


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
) -> Message:
    """The outcome: REACHABLE, UNREACHABLE (with what to check), still CHECKING after the wait
    (with the task id), or DLI's own word, shown exactly. `diagnosis`: the catalogue entry the
    queue's FAILED err_msg matches, whose checks and page then replace our general checklist."""
    word = connectivity.upper()
    line: Pieces = [emoji(_ICONS.get(word, "grey_question")), words(" "), *_what(queue, address)]
    if word == REACHABLE:
        line.append(words(" is reachable", bold=True))
    elif word == UNREACHABLE:
        line.append(words(" is unreachable", bold=True))
    elif word == CHECKING:
        line.append(words(f" — DLI was still checking after {waited:g} s", bold=True))
    else:
        line += [words(" — DLI answered "), *value(connectivity or "(nothing)", 200, bold=True)]
    blocks = [rich_block(line, [words("on connection "), *_connection(connection)])]
    if word == UNREACHABLE and diagnosis is not None:
        # The queue's own FAILED err_msg is a known failure: its checks and page say more
        # than a general list could.
        blocks.append(
            section_block(
                "*What to check* (the queue is FAILED; likely cause: "
                f"{trusted(diagnosis.cause, 400)})"
            )
        )
        blocks += [*check_blocks(diagnosis), *source_blocks(diagnosis)]
    elif word == UNREACHABLE:
        checks = list(UNREACHABLE_CHECKLIST)
        if queue_failed:
            checks.insert(
                0, "The queue's binding is FAILED: its err_msg (on the card) comes first."
            )
        steps = [[words(f"{n}. {check}")] for n, check in enumerate(checks, 1)]
        blocks.append(rich_block([words("What to check", bold=True), words("\n"),
                                  *joined(steps, "\n")]))  # fmt: skip
    elif word == CHECKING:
        blocks.append(
            rich_block(
                [words("Run the test again in a minute; DLI's task id is "), *code(task_id, 40)]
            )
        )
    notes: list[str | dict[str, Any]] = []
    if project is not None:
        notes.append(plain_text(f"Project {project_label(project)}"))
    notes.append(plain_text(f"DLI task id {shortened(task_id, 40)}"))
    if request_id:
        notes.append(plain_text(f"DLI request id {shortened(request_id, 100)}"))
    blocks.append(context_block(notes))
    if is_user_id(user_id):
        blocks.append(rich_block([words("Run by "), user(user_id)]))
    sentence = f"Connectivity test: {shortened(queue, 60, marker='…')} → "
    sentence += f"{shortened(address, 80, marker='…')} is {shortened(connectivity, 40)}"
    return Message(text=fallback_text(sentence), blocks=blocks)


def not_bound(connection: Connection, queue: str, bound: Sequence[str]) -> Message:
    """The queue asked for is not bound to the connection: the test would say nothing about it."""
    names = joined([code(name, 60) for name in bound[:20]], ", ") or [words("none")]
    more = [words(f" and {len(bound) - 20} more")] if len(bound) > 20 else []
    return notice(
        [
            emoji("grey_question"),
            words(" No queue or pool "),
            *code(queue, 128),
            words(" is bound to "),
            *_connection(connection),
            words(".\nBound: "),
            *names,
            *more,
        ],
        fallback=f"{shortened(queue, 60, marker='…')} is not bound to that connection",
    )


def dli_refused(queue: str, reason: str, code_: str | None, request_id: str | None) -> Message:
    """DLI would not run the test (no such queue, a parameter it refused): its words, exactly."""
    body: Pieces = [
        emoji("no_entry"),
        words(" DLI would not run the test from queue "),
        *code(queue, 128),
        words(": "),
        *value(reason or "no reason given", 600),
    ]
    parts = [plain_text(f"DLI error {shortened(code_, 40)}")] if code_ else []
    if request_id:
        parts.append(plain_text(f"DLI request id {shortened(request_id, 100)}"))
    blocks = [rich_block(body)] + ([context_block(parts)] if parts else [])
    return Message(text=fallback_text("DLI would not run the connectivity test"), blocks=blocks)
