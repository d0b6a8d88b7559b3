"""The `/dliconn` grammar and id/name scanning of free Slack text: pure, never raises.

The grammar's words (`list failed`, `24h`, `watch`) are what people type, the same in every
language; the help and the reasons for bad input are in the current one (`bot.i18n.speaking`),
a reason echoing the person's input exactly."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias, get_args

from bot.config import ALIAS_RULE
from bot.dli import ids, targets
from bot.i18n import _

MAX_COMMAND_CHARS: Final = 4000
#: More ids than this in one message is a paste of a log, not a question; answer the first ones.
MAX_SCANNED_MATCHES: Final = 20
MAX_NAME_CHARS: Final = 64
#: The most entries `/dliconn audit N` shows (they must fit one reply).
MAX_AUDIT_ENTRIES: Final = 30

ListFilter: TypeAlias = Literal["all", "failed", "active", "deleted"]
LIST_FILTERS: Final[tuple[ListFilter, ...]] = get_args(ListFilter)

EXAMPLE_CONNECTION_ID: Final = "c4e1a7d2-5b3f-4e8a-9d61-2f7b0c3e9a15"


@dataclass(frozen=True)
class _Targeted:
    target: str  # a lower-case connection id, or a name exactly as typed

    @property
    def target_is_id(self) -> bool:
        return is_connection_id(self.target)


@dataclass(frozen=True)
class Show(_Targeted):
    """Show one connection's card."""


@dataclass(frozen=True)
class Watch(_Targeted):
    """Subscribe the current channel to a connection's failures."""


@dataclass(frozen=True)
class Unwatch(_Targeted):
    """Cancel the current channel's subscription to a connection."""


@dataclass(frozen=True)
class Route(_Targeted):
    """Say which channels would be alerted about a connection, and why (a dry run)."""


@dataclass(frozen=True)
class History(_Targeted):
    """Show a connection's recorded transitions over a window (`24h`, `7d`, `30d`, …)."""

    window: str = "7d"

    @property
    def window_seconds(self) -> float:
        return window_seconds(self.window)


@dataclass(frozen=True)
class ConnectivityTest(_Targeted):
    """Run DLI's connectivity test from one of the connection's queues to `host[:port]`."""

    queue: str = ""
    address: str = ""


@dataclass(frozen=True)
class ListConnections:
    """List the project's connections, all or only those in one state."""

    filter: ListFilter = "all"


@dataclass(frozen=True)
class Watches:
    """List what the current channel watches."""


@dataclass(frozen=True)
class Policy:
    """Say what the current channel allows and who its operators are."""


@dataclass(frozen=True)
class Audit:
    """Show the current channel's last `count` recorded changes."""

    count: int = 10


@dataclass(frozen=True)
class Help:
    # Plain text in the asker's language that may echo their input (exactly): escape it before
    # putting it into mrkdwn.
    reason: str | None = None


Command: TypeAlias = (
    Show
    | ListConnections
    | Watch
    | Unwatch
    | Watches
    | Route
    | History
    | ConnectivityTest
    | Policy
    | Audit
    | Help
)

_TARGETED: Final[dict[str, type[Show | Watch | Unwatch | Route]]] = {
    "show": Show,
    "watch": Watch,
    "unwatch": Unwatch,
    "route": Route,
}
_LIST_FILTER_BY_WORD: Final[dict[str, ListFilter]] = {f: f for f in LIST_FILTERS}

# DLI allows letters, digits and `_` (not only digits, not starting with `_`); `-` is tolerated.
_NAME = re.compile(rf"[A-Za-z0-9][A-Za-z0-9_-]{{0,{MAX_NAME_CHARS - 1}}}")
_DIGITS = re.compile(r"[0-9]+")
_NAME_WORD = re.compile(r"[A-Za-z0-9_-]+")

# Slack's control sequences: <@U1|bob>, <#C1|general>, <!here>, <https://x|label>, <mailto:a|a>.
_SLACK_WRAPPER = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")
_SLACK_MENTION = re.compile(r"<[@#!][^<>]*>")
_LEADING_USER_MENTIONS = re.compile(r"^(?:\s*<@[^<>|\s]+(?:\|[^<>]*)?>[\s:,]*)+")
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))
_SLACK_ENTITIES: Final = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))  # &amp; last

# What a human wraps an id in or puts after it; none of these can be part of an id or a name.
_EDGE_NOISE: Final = "`*~\"'“”‘’„‚«»‹›()[]{}<>.,;:!?"
# `_` is legal inside names (and at their end), so it only counts as italics when it pairs up.
_ITALIC: Final = "_"

_MAX_ECHO_CHARS: Final = 40

#: `/dliconn history` windows: hours or days, up to the 30 days history is kept.
_WINDOW = re.compile(r"([1-9][0-9]{0,2})([hd])")
_WINDOW_UNITS: Final = {"h": 3600, "d": 86400}
MAX_WINDOW_DAYS: Final = 30

#: The commands of the help text, exactly as typed (never translated), each with what it does.
HELP_COMMANDS: Final[tuple[tuple[str, ...], ...]] = (
    (f"/dliconn {EXAMPLE_CONNECTION_ID}", "/dliconn <name>"),
    ("/dliconn show <id-or-name>",),
    ("/dliconn list [failed|active|deleted]",),
    ("/dliconn watch <id-or-name>",),
    ("/dliconn unwatch <id-or-name>",),
    ("/dliconn watches",),
    ("/dliconn route <id-or-name>",),
    ("/dliconn test <id-or-name> <queue> <host:port>",),
    ("/dliconn policy",),
    ("/dliconn audit [N]",),
    ("/dliconn history <id-or-name> [24h|7d|30d]",),
    ("/dliconn help",),
)


def _help_explanations() -> tuple[str, ...]:
    """What each of HELP_COMMANDS does, in the reader's language (the same order)."""
    return (
        _("the connection's card"),
        _("the same; use it for a name that is also a command (`/dliconn show list`)"),
        _("list connections (all by default)"),
        _("alert this channel when its queues or pools fail"),
        _("stop those alerts"),
        _("what this channel watches"),
        _("which channels its alerts would reach, and why"),
        _("DLI's connectivity test from a bound queue (where the channel allows it)"),
        _("what this channel allows, and who its operators are"),
        _("the last N changes made here (watch, mute, ack, test…)"),
        _("its failures, recoveries and downtime (7d by default)"),
        _("this message"),
    )


def help_text() -> str:
    """`/dliconn help`: every command exactly as typed, explained in the reader's language. Our
    own mrkdwn, written plainly (`<id>`): help_message escapes it once on the way to Slack."""
    lines = [_("*dliconn* looks up DLI enhanced datasource connections.")]
    for commands, explanation in zip(HELP_COMMANDS, _help_explanations(), strict=True):
        shown = [f"`{command}`" for command in commands]
        typed = (
            shown[0]
            if len(shown) == 1
            else _("{one} or {other}").format(one=shown[0], other=shown[1])
        )
        lines.append(_("• {command}: {explanation}").format(command=typed, explanation=explanation))
    lines.append(
        _("Mention `@dliconn` in a message with ids or names to get their cards in a thread.")
    )
    return "\n".join(lines)


def is_connection_id(value: str) -> bool:
    """True for a connection id in the canonical form `parse_command` produces."""
    return ids.is_canonical_id(value)


def parse_command(text: str) -> Command:
    """Turn `/dliconn` text into a Command; anything unusable becomes `Help` with a reason."""
    if len(text) > MAX_COMMAND_CHARS:
        return Help(_("it is longer than {max} characters").format(max=MAX_COMMAND_CHARS))
    words = _words(text)
    if not words:
        return Help()
    keyword, args = words[0].lower(), words[1:]
    if keyword == "help":
        return Help()
    if keyword == "watches":
        return Help(_no_arguments("watches")) if args else Watches()
    if keyword == "policy":
        return Help(_no_arguments("policy")) if args else Policy()
    if keyword == "audit":
        return _parse_audit(args)
    if keyword == "list":
        return _parse_list(args)
    if keyword == "history":
        return _parse_history(args)
    if keyword == "test":
        return _parse_test(args)
    if keyword in _TARGETED:
        if len(args) != 1:
            return Help(_("{command} takes one connection id or name").format(command=keyword))
        target = _target(args[0])
        if isinstance(target, Help):
            return target
        return _TARGETED[keyword](target)
    if args:
        return Help(_("unknown command: {input}").format(input=_echo(words[0])))
    target = _target(words[0])
    return target if isinstance(target, Help) else Show(target)


def find_connection_ids(text: str, limit: int = MAX_SCANNED_MATCHES) -> list[str]:
    """Every connection id in free text, lower-cased, first-seen order, ignoring @/# mentions."""
    return _first_unique(ids.find_ids(_SLACK_MENTION.sub(" ", text)), limit)


def find_names(
    text: str, known_names: Collection[str], limit: int = MAX_SCANNED_MATCHES
) -> list[str]:
    """The known connection names that appear as whole words in free text, case-insensitively."""
    exact = set(known_names)
    by_lower: dict[str, str] = {}
    for name in known_names:
        by_lower.setdefault(name.lower(), name)

    def known(word: str) -> str | None:
        for candidate in (word, word.strip(_ITALIC), word.strip(_ITALIC + "-")):
            if candidate in exact:
                return candidate
            if candidate.lower() in by_lower:
                return by_lower[candidate.lower()]
        return None

    words = _NAME_WORD.findall(_SLACK_MENTION.sub(" ", text))
    return _first_unique((name for name in map(known, words) if name is not None), limit)


def strip_mention(text: str) -> str:
    """An app_mention's text without the leading `<@BOT>` (and any other leading user mentions)."""
    return _LEADING_USER_MENTIONS.sub("", text, count=1).strip()


def _parse_list(args: list[str]) -> Command:
    if not args:
        return ListConnections()
    wanted = _LIST_FILTER_BY_WORD.get(args[0].lower())
    if len(args) > 1 or wanted is None:
        return Help(_("list takes one of: {filters}").format(filters=", ".join(LIST_FILTERS[1:])))
    return ListConnections(wanted)


def _parse_audit(args: list[str]) -> Command:
    if not args:
        return Audit()
    if len(args) == 1 and _DIGITS.fullmatch(args[0]) and 1 <= int(args[0]) <= MAX_AUDIT_ENTRIES:
        return Audit(int(args[0]))
    return Help(_("audit takes a number of entries from 1 to {max}").format(max=MAX_AUDIT_ENTRIES))


def _parse_history(args: list[str]) -> Command:
    if not 1 <= len(args) <= 2:
        return Help(_("history takes one connection id or name, and a window such as 24h, 7d, 30d"))
    target = _target(args[0])
    if isinstance(target, Help):
        return target
    if len(args) == 1:
        return History(target)
    window = args[1].lower()
    if not is_window(window):
        return Help(
            _(
                "not a history window: {input}; use hours or days up to {max}d, such as 24h, "
                "7d, 30d"
            ).format(input=_echo(args[1]), max=MAX_WINDOW_DAYS)
        )
    return History(target, window)


def is_window(text: str) -> bool:
    """`24h`, `7d`, …: hours or days, at most MAX_WINDOW_DAYS days."""
    match = _WINDOW.fullmatch(text)
    return match is not None and window_seconds(text) <= MAX_WINDOW_DAYS * 86400


def window_seconds(window: str) -> float:
    """Seconds of a window `is_window` accepts."""
    match = _WINDOW.fullmatch(window)
    if match is None:
        raise ValueError(f"not a window: {window!r}")
    return int(match.group(1)) * _WINDOW_UNITS[match.group(2)]


def _parse_test(args: list[str]) -> Command:
    if len(args) != 3:
        return Help(_("test takes a connection id or name, a queue and an address (host:port)"))
    target = _target(args[0])
    if isinstance(target, Help):
        return target
    queue, address = args[1], args[2]
    if not targets.is_queue_name(queue):
        return Help(_("not a queue name: {input}").format(input=_echo(queue)))
    problem = address_problem_text(address)
    if problem is not None:
        return Help(_("{problem}: {input}").format(problem=problem, input=_echo(address)))
    return ConnectivityTest(target, queue, address)


def _no_arguments(command: str) -> str:
    return _("{command} takes no arguments").format(command=command)


def address_problem_text(address: str) -> str | None:
    """Why `address` is not `host[:port]`, in the reader's language (never quoting it), or None."""
    problem = targets.address_problem(address)
    return None if problem is None else targets.explained(problem, _)


def _target(word: str) -> str | Help:
    if ids.is_id(word):
        return ids.normalise_id(word)
    if _NAME.fullmatch(word) and not _DIGITS.fullmatch(word):
        return word
    # `prod/<name>`: a name in one project (the alias rule, bot/config.py, allows no `/`).
    alias, slash, name = word.partition("/")
    if (
        slash
        and ALIAS_RULE.fullmatch(alias.lower())
        and _NAME.fullmatch(name)
        and not _DIGITS.fullmatch(name)
    ):
        return f"{alias.lower()}/{name}"
    # A pasted console URL or `id=<uuid>`: one id inside it is unambiguous.
    found = find_connection_ids(word, limit=2)
    if len(found) == 1:
        return found[0]
    if _DIGITS.fullmatch(word):
        return Help(_("a connection name cannot be only digits: {input}").format(input=_echo(word)))
    if _NAME_WORD.fullmatch(word) and len(word) > MAX_NAME_CHARS:
        return Help(
            _("connection names have at most {max} characters: {input}").format(
                max=MAX_NAME_CHARS, input=_echo(word)
            )
        )
    return Help(_("not a connection id or name: {input}").format(input=_echo(word)))


def _words(text: str) -> list[str]:
    text = _SLACK_WRAPPER.sub(_unwrap, text)
    for entity, char in _SLACK_ENTITIES:
        text = text.replace(entity, char)
    text = _strip_noise(text.translate(_ZERO_WIDTH))
    return [word for word in map(_strip_noise, text.split()) if word]


def _unwrap(match: re.Match[str]) -> str:
    target, label = match.group(1), match.group(2)
    if target[:1] in ("@", "#", "!"):
        # Keep the sigil so a Help reason reads like what the user saw (`@bob`, `#general`).
        sigil = "#" if target[0] == "#" else "@"
        return sigil + (label.lstrip("@#") if label else target[1:])
    # A link labelled "console" around a console URL is about the id in the URL.
    if not label or (ids.mentions_id(target) and not ids.mentions_id(label)):
        return target
    return label


def _strip_noise(word: str) -> str:
    while True:
        stripped = word.strip().strip(_EDGE_NOISE)
        if stripped[:1] == stripped[-1:] == _ITALIC:
            stripped = stripped[1:-1]  # also drops a lone `_` left over from italics
        if stripped == word:
            return word
        word = stripped


def _echo(word: str) -> str:
    if len(word) <= _MAX_ECHO_CHARS:
        return f'"{word}"'
    return f'"{word[: _MAX_ECHO_CHARS - 1]}…"'


def _first_unique(items: Iterable[str], limit: int) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        if len(seen) >= limit:
            break
        seen.setdefault(item)
    return list(seen)
