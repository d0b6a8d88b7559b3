"""The /dliconn grammar and free-text scanning: every production, bad input, and properties."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from bot.chat.parsing import (
    EXAMPLE_CONNECTION_ID,
    MAX_COMMAND_CHARS,
    MAX_SCANNED_MATCHES,
    Audit,
    Command,
    Help,
    ListConnections,
    Policy,
    Show,
    Unwatch,
    Watch,
    Watches,
    find_connection_ids,
    find_names,
    help_text,
    is_connection_id,
    parse_command,
    strip_mention,
)

ID = "2f1c9a4e-7b3d-4c8e-9a21-5d6e7f8a9b0c"
ID_UPPER = ID.upper()
OTHER_ID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # <connection-id>, in every way Slack or a tired human may dress it
        (ID, Show(ID)),
        (ID_UPPER, Show(ID)),
        ("2F1c9A4e-7b3D-4c8e-9A21-5d6E7f8a9b0C", Show(ID)),
        (f"  \t{ID}\n", Show(ID)),
        (f"`{ID}`", Show(ID)),
        (f"```{ID}```", Show(ID)),
        (f"```\n{ID}\n```", Show(ID)),
        (f"*{ID}*", Show(ID)),
        (f"_{ID}_", Show(ID)),
        (f"~{ID}~", Show(ID)),
        (f'"{ID}"', Show(ID)),
        (f"“{ID}”", Show(ID)),
        (f"‘{ID}’", Show(ID)),
        (f"{ID}.", Show(ID)),
        (f"{ID},", Show(ID)),
        (f"({ID})?", Show(ID)),
        (f"&lt;{ID}&gt;", Show(ID)),
        (f"<mailto:{ID}|{ID}>", Show(ID)),
        (f"<https://console.example.com/dli/?id={ID}>", Show(ID)),
        (f"<https://console.example.com/dli/?id={ID}|open in console>", Show(ID)),
        (f"https://console.example.com/dli/#/connection?id={ID_UPPER}&region=cn-north-4", Show(ID)),
        (f"id={ID}", Show(ID)),
        ("\u200b" + ID, Show(ID)),
        # <name>
        ("withvpc", Show("withvpc")),
        ("WithVPC", Show("WithVPC")),
        ("conn_01", Show("conn_01")),
        ("my-conn", Show("my-conn")),
        ("1_2", Show("1_2")),
        ("foo_", Show("foo_")),
        ("_withvpc_", Show("withvpc")),
        ("`withvpc`.", Show("withvpc")),
        ("n" * 64, Show("n" * 64)),
        ("all", Show("all")),
        (f"{ID[:-1]}g", Show(f"{ID[:-1]}g")),  # not hex, so a (name-shaped) name
        # show <id-or-name>
        (f"show {ID_UPPER}", Show(ID)),
        ("SHOW withvpc", Show("withvpc")),
        ("show:  withvpc", Show("withvpc")),
        ("show\n`list`", Show("list")),
        ("show list", Show("list")),
        ("show watches", Show("watches")),
        ("show help", Show("help")),
        ("show show", Show("show")),
        ("```show withvpc```", Show("withvpc")),
        ("_show withvpc_", Show("withvpc")),
        # list [failed|active|deleted]
        ("list", ListConnections("all")),
        ("LIST", ListConnections("all")),
        ("list all", ListConnections("all")),
        ("list failed", ListConnections("failed")),
        ("List  FAILED.", ListConnections("failed")),
        ("list\tactive", ListConnections("active")),
        ("list deleted", ListConnections("deleted")),
        # watch / unwatch <id-or-name>
        (f"watch {ID}", Watch(ID)),
        ("Watch withvpc", Watch("withvpc")),
        ("watch list", Watch("list")),
        (f"unwatch `{ID_UPPER}`", Unwatch(ID)),
        ("UNWATCH withvpc", Unwatch("withvpc")),
        # watches, help
        ("watches", Watches()),
        ("  Watches \n", Watches()),
        ("help", Help()),
        ("HELP", Help()),
        ("help list", Help()),
        # nothing at all: usage, without scolding
        ("", Help()),
        ("   \t\n ", Help()),
        ("` `", Help()),
    ],
)
def test_grammar(text: str, expected: Command) -> None:
    assert parse_command(text) == expected


@pytest.mark.parametrize(
    ("text", "reason_part"),
    [
        ("list bogus", "list takes one of: failed, active, deleted"),
        ("list failed active", "list takes one of"),
        ("watches everything", "watches takes no arguments"),
        ("show", "show takes one connection id or name"),
        ("watch", "watch takes one"),
        ("unwatch ...", "unwatch takes one"),
        ("show a b", "show takes one"),
        (f"watch {ID} {OTHER_ID}", "watch takes one"),
        ("is withvpc broken", 'unknown command: "is"'),
        (f"{ID} {OTHER_ID}", "unknown command"),
        ("12345", 'only digits: "12345"'),
        ("n" * 65, "at most 64 characters"),
        ("foo!bar", 'not a connection id or name: "foo!bar"'),
        ("con.nection", "not a connection id or name"),
        ("名前", "not a connection id or name"),
        ("<@U0123ABC|bob>", '"@bob"'),
        ("<#C0123ABC|general>", '"#general"'),
        ("<!here>", '"@here"'),
        (f"{ID}{ID}", "at most 64 characters"),
        ("x!" * 100, "not a connection id or name"),
    ],
)
def test_bad_input_gets_help_with_a_reason(text: str, reason_part: str) -> None:
    command = parse_command(text)
    assert isinstance(command, Help)
    assert command.reason is not None
    assert reason_part in command.reason


def test_echoed_input_is_truncated() -> None:
    command = parse_command("!" + "x" * 500)
    assert isinstance(command, Help)
    assert command.reason is not None
    assert len(command.reason) < 100
    assert command.reason.endswith('…"')


@pytest.mark.parametrize("target", [ID, "withvpc"])
def test_length_limit_boundary(target: str) -> None:
    at_limit = " " * (MAX_COMMAND_CHARS - len(target)) + target
    assert len(at_limit) == MAX_COMMAND_CHARS
    assert parse_command(at_limit) == Show(target)

    over = " " + at_limit
    command = parse_command(over)
    assert isinstance(command, Help)
    assert command.reason is not None
    assert "4000" in command.reason


def test_target_is_id_tells_ids_from_names() -> None:
    assert Show(ID).target_is_id
    assert Watch(ID).target_is_id
    assert not Unwatch("withvpc").target_is_id
    assert not Show(ID_UPPER).target_is_id  # parse_command never produces that form


@pytest.mark.parametrize(
    ("value", "expected"),
    [(ID, True), (ID_UPPER, False), (ID[:-1], False), (f" {ID}", False), ("withvpc", False)],
)
def test_is_connection_id(value: str, expected: bool) -> None:
    assert is_connection_id(value) is expected


# --- free-text scanning -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        ("nothing to see", []),
        (f"is {ID_UPPER} broken?", [ID]),
        (f"{ID} and {OTHER_ID} and {ID_UPPER} again", [ID, OTHER_ID]),
        (f"`{ID}`", [ID]),
        (f"```\nerror in {ID}\n```", [ID]),
        (f"_{ID}_, *{OTHER_ID}*.", [ID, OTHER_ID]),
        (f"<https://console.example.com/dli/?id={ID}&x=1|the console>", [ID]),
        (f"<https://console.example.com/x|{OTHER_ID}>", [OTHER_ID]),
        (f"conn-{ID}/detail", [ID]),
        (f"&lt;{ID}&gt;", [ID]),
        # inside Slack mentions of users, channels, groups: not a connection
        (f"<@U0123|{ID}> <#C0123|{OTHER_ID}>", []),
        (f"<!subteam^S0123|{ID}> and {OTHER_ID}", [OTHER_ID]),
        # part of a longer hex/word run: not an id
        (f"x{ID}", []),
        (f"{ID}0", []),
        (f"{ID}-1", [ID]),
        (ID[:-1], []),
    ],
)
def test_find_connection_ids(text: str, expected: list[str]) -> None:
    assert find_connection_ids(text) == expected


def test_find_connection_ids_is_capped_in_first_seen_order() -> None:
    ids = [f"{n:08x}-0000-4000-8000-000000000000" for n in range(MAX_SCANNED_MATCHES + 5)]
    assert find_connection_ids(" ".join(ids)) == ids[:MAX_SCANNED_MATCHES]
    assert find_connection_ids(" ".join(ids), limit=3) == ids[:3]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<@UBOT123> is withvpc broken?", "is withvpc broken?"),
        ("<@UBOT123|dliconn>: show withvpc", "show withvpc"),
        ("  <@UBOT123>  <@W0OTHER> , list  ", "list"),
        ("<@UBOT123>", ""),
        ("hey <@UBOT123> look", "hey <@UBOT123> look"),
        ("<#C0123|general> x", "<#C0123|general> x"),
        ("plain text", "plain text"),
    ],
)
def test_strip_mention(text: str, expected: str) -> None:
    assert strip_mention(text) == expected


KNOWN = ["withvpc", "VPC", "kafka_out", "old-conn"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("is withvpc broken?", ["withvpc"]),
        ("is WITHVPC broken? withvpc!", ["withvpc"]),
        ("vpc, kafka_out and _withvpc_", ["VPC", "kafka_out", "withvpc"]),
        ("*old-conn* and `kafka_out`", ["old-conn", "kafka_out"]),
        ("withvpc2 kafka old mywithvpc with-vpc kafka_out_x", []),
        ("see <https://wiki.example.com/withvpc|runbook>", ["withvpc"]),
        ("<@U0VPC|vpc> <#C1|withvpc>", []),
        ("", []),
    ],
)
def test_find_names(text: str, expected: list[str]) -> None:
    assert find_names(text, KNOWN) == expected


def test_find_names_prefers_the_exact_spelling() -> None:
    assert find_names("VPC vs vpc", ["vpc", "VPC"]) == ["VPC", "vpc"]


def test_find_names_without_known_names_finds_nothing() -> None:
    assert find_names("withvpc vpc", []) == []


# --- help text ----------------------------------------------------------------------------------


def test_help_text_documents_every_command_in_safe_mrkdwn() -> None:
    # Raw < or > would be read by Slack as control sequences (links, mentions).
    # Written plainly: help_message escapes it once on the way to Slack.
    text = help_text()
    assert "&lt;" not in text
    assert "/dliconn watch <id-or-name>" in text
    for usage in ["list [failed|active|deleted]", "watch ", "unwatch ", "watches", "help"]:
        assert usage in text
    assert "/dliconn show list" in text
    assert parse_command("show list") == Show("list")


def test_help_text_example_id_is_a_working_command() -> None:
    assert EXAMPLE_CONNECTION_ID in help_text()
    assert parse_command(EXAMPLE_CONNECTION_ID) == Show(EXAMPLE_CONNECTION_ID)


# --- properties ---------------------------------------------------------------------------------

_NAME_SHAPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


@st.composite
def any_case_uuids(draw: st.DrawFn) -> str:
    value = str(draw(st.uuids()))
    upper = draw(st.lists(st.booleans(), min_size=len(value), max_size=len(value)))
    return "".join(c.upper() if up else c for c, up in zip(value, upper, strict=True))


# How Slack itself rewrites a token (never nested: Slack wraps what the user typed).
_SLACK_WRAPPERS = [
    "{}",
    "<mailto:{0}|{0}>",
    "<https://console.example.com/dli?id={0}|{0}>",
    "<https://console.example.com/dli?id={}>",
    "<https://console.example.com/dli?id={}|open in console>",
]
# What people type around it, in any combination.
_HUMAN_WRAPPERS = [
    "`{}`",
    "```{}```",
    "*{}*",
    "_{}_",
    "~{}~",
    '"{}"',
    "“{}”",
    "‘{}’",
    "({})",
    "<{}>",
    "&lt;{}&gt;",
    "{}.",
    "{},",
    "{}?",
    " \t{}\n ",
]


@st.composite
def formatted(draw: st.DrawFn, value: str) -> str:
    value = draw(st.sampled_from(_SLACK_WRAPPERS)).format(value)
    for wrapper in draw(st.lists(st.sampled_from(_HUMAN_WRAPPERS), max_size=4)):
        value = wrapper.format(value)
    return value


_WORDS = ["show", "LIST", "watch", "unwatch", "watches", "help", "failed", "all", ID, "withvpc"]
_NOISE = [
    "<@U1|bob>",
    "<#C1>",
    "<!here>",
    "<https://x|y>",
    "&lt;",
    "&amp;",
    "`",
    "_",
    "*",
    "\u200b",
]
_GRAMMAR_WORDS = st.sampled_from([*_WORDS, *_NOISE])
_ANY_INPUT = st.text() | st.lists(_GRAMMAR_WORDS | st.text(max_size=5)).map(" ".join)


@given(_ANY_INPUT)
def test_parse_command_never_raises_and_targets_are_valid(text: str) -> None:
    command = parse_command(text)
    match command:
        case Show(target) | Watch(target) | Unwatch(target):
            assert is_connection_id(target) or (
                _NAME_SHAPE.fullmatch(target) is not None and not target.isdigit()
            )
        case Help(reason):
            assert reason is None or 0 < len(reason) <= 100
        case ListConnections() | Watches():
            pass


@given(st.text(min_size=MAX_COMMAND_CHARS + 1, max_size=MAX_COMMAND_CHARS + 50))
def test_overlong_input_is_always_help(text: str) -> None:
    assert isinstance(parse_command(text), Help)


@given(
    any_case_uuids().flatmap(lambda value: st.tuples(st.just(value), formatted(value))),
    st.sampled_from([("", Show), ("show ", Show), ("Watch ", Watch), ("UNWATCH\t", Unwatch)]),
)
def test_a_formatted_id_is_always_understood(
    value_and_text: tuple[str, str], keyword_and_kind: tuple[str, type[Show | Watch | Unwatch]]
) -> None:
    value, text = value_and_text
    keyword, kind = keyword_and_kind
    assert parse_command(keyword + text) == kind(value.lower())


_SEPARATORS = st.text(alphabet=" \t\n`*_~.,;:!?()[]\"'“”/=&|-", min_size=1, max_size=3)


@given(st.text(), _SEPARATORS, any_case_uuids(), _SEPARATORS, st.text())
def test_an_id_anywhere_in_text_is_found(
    before: str, left: str, value: str, right: str, after: str
) -> None:
    # Only an id inside a Slack mention (<@U1|…>) is meant to be skipped.
    assume(not ("<" in before + left and ">" in right + after))
    found = find_connection_ids(before + left + value + right + after)
    assert value.lower() in found
    assert len(found) == len(set(found)) <= MAX_SCANNED_MATCHES
    assert all(is_connection_id(found_id) for found_id in found)


@given(st.text())
def test_scanners_never_raise(text: str) -> None:
    assert all(is_connection_id(found) for found in find_connection_ids(text))
    assert set(find_names(text, KNOWN)) <= set(KNOWN)
    assert strip_mention(text) in text


@pytest.mark.parametrize(
    ("text", "target"),
    [("prod/orders", "prod/orders"), ("PROD/orders", "prod/orders"), ("sg-2/a_b", "sg-2/a_b")],
)
def test_a_name_may_name_its_project(text: str, target: str) -> None:
    assert parse_command(text) == Show(target)


@pytest.mark.parametrize("text", ["prod/", "/orders", "pr od/x", "prod/123", "a/b/c"])
def test_a_malformed_qualified_name_is_bad_input(text: str) -> None:
    assert isinstance(parse_command(text), Help)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("policy", Policy()),
        ("POLICY", Policy()),
        ("policy now", Help("policy takes no arguments")),
        ("audit", Audit()),
        ("audit 5", Audit(5)),
        ("audit 30", Audit(30)),
        ("audit 0", Help("audit takes a number of entries from 1 to 30")),
        ("audit 31", Help("audit takes a number of entries from 1 to 30")),
        ("audit many", Help("audit takes a number of entries from 1 to 30")),
        ("show audit", Show("audit")),
    ],
)
def test_policy_and_audit(text: str, expected: Command) -> None:
    assert parse_command(text) == expected
