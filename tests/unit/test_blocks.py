"""Block Kit builders: content, order, escaping, and Slack limits under hostile and huge input."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.blocks.card import connection_card
from bot.blocks.lists import choose_connection, connection_list
from bot.blocks.message import Message
from bot.blocks.replies import error_message, help_message
from bot.blocks.text import escape_code, escape_mrkdwn, truncate
from bot.chat.parsing import HELP_TEXT
from bot.dli.models import Connection
from bot.local.demo import demo_connections
from bot.lookup.cache import Lookup, Source
from tests.slack_limits import assert_within_slack_limits, prose_of, text_objects

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
# The seed page's `withvpc`, as the demo data carries it verbatim.
SEED: dict[str, Any] = next(c for c in demo_connections() if c["name"] == "withvpc")
EVIL = (
    "<!channel> <!here> <@U123> <http://evil|click> *bold* _it_ ~strike~ `tick` ```fence``` "
    "&amp; @here @everyone\nline two\r\n\u202eRTL\u200bZW\u2066\x00\x1b[31m"
)
MARKER_RE = re.compile(r"… \(truncated, \d+ more chars\)")


def connection(**overrides: Any) -> Connection:
    return Connection.model_validate({**SEED, **overrides})


def queue(name: str, status: str, err_msg: str = "", **extra: Any) -> dict[str, Any]:
    return {"name": name, "status": status, "err_msg": err_msg, "peer_id": "p", **extra}


def card(conn: Connection, source: Source = "live", **kwargs: Any) -> Message:
    message = connection_card(Lookup(conn, source, NOW - timedelta(seconds=12)), now=NOW, **kwargs)
    assert_within_slack_limits(message)
    return message


def section_texts(message: Message) -> list[str]:
    return [b["text"]["text"] for b in message.blocks if b["type"] == "section" and "text" in b]


def all_text(message: Message) -> str:
    return "\n".join(t["text"] for t in text_objects(message.blocks))


def index_of(message: Message, needle: str) -> int:
    return next(i for i, text in enumerate(section_texts(message)) if needle in text)


# --------------------------------------------------------------------------- escaping


def test_escape_mrkdwn_neutralises_pings_links_and_formatting() -> None:
    assert escape_mrkdwn("<!channel> <@U123> <http://evil|click>") == (
        "&lt;!channel&gt; &lt;@U123&gt; &lt;http://evil|click&gt;"
    )
    assert escape_mrkdwn("*b* _i_ ~s~ `c` &amp;") == "∗b∗ ˍiˍ ∼s∼ ˋcˋ &amp;amp;"
    assert escape_mrkdwn("@here @Channel a@b.example") == "＠here ＠Channel a@b.example"
    assert escape_mrkdwn("a\nb\r\nc\td") == "a b  c d"
    assert escape_mrkdwn("a\nb", multiline=True) == "a\nb"
    assert escape_mrkdwn("x\u202ey\u200bz\x00") == "xyz\ufffd"


def test_escape_code_keeps_formatting_literal_but_cannot_close_the_span() -> None:
    assert escape_code("a*b_c~d ```x``` <y> &") == "a*b_c~d ˋˋˋxˋˋˋ &lt;y&gt; &amp;"


def test_truncate_counts_after_escaping_and_never_splits_an_escape() -> None:
    out = truncate("&" * 100, 50)
    assert len(out) <= 50
    kept = MARKER_RE.split(out)[0]
    assert kept == "&amp;" * (len(kept) // 5)
    assert out.endswith(f"… (truncated, {100 - len(kept) // 5} more chars)")
    assert truncate("short", 50) == "short"
    assert truncate("abcdef", 3) == "abc"  # no room for the marker: a bare cut


@given(text=st.text(max_size=400), limit=st.integers(min_value=0, max_value=500))
def test_truncate_property(text: str, limit: int) -> None:
    out = truncate(text, limit)
    full = escape_mrkdwn(text)
    assert len(out) <= limit
    if len(full) <= limit:
        assert out == full
    elif match := re.search(r"… \(truncated, (\d+) more chars\)$", out):
        omitted = int(match.group(1))
        assert out[: match.start()] == escape_mrkdwn(text[: len(text) - omitted])


# --------------------------------------------------------------------------- the card


def test_seed_card_shows_every_field() -> None:
    message = card(connection())
    header = message.blocks[0]
    assert header == {
        "type": "header",
        "text": {"type": "plain_text", "text": ":large_green_circle: withvpc", "emoji": True},
    }
    assert section_texts(message)[0] == ":large_green_circle: *1 queue ACTIVE*"
    fields = {
        f["text"].split("\n", 1)[0]: f["text"].split("\n", 1)[1]
        for f in message.blocks[2]["fields"]
    }
    assert fields["*Id*"] == "`4c693ecc-bab8-4113-a838-129cedc9a563`"
    assert fields["*Status*"] == "ACTIVE"
    assert fields["*VPC*"] == "`22094d8f-c310-4621-913d-4c4d655d8495`"
    assert fields["*Subnet*"] == "`78f2562a-36e4-4b39-95b9-f5aab22e1281`"
    assert fields["*Created*"] == (
        "<!date^1566888011^{date_short_pretty} {time}|2019-08-27 06:40 UTC>"
    )
    assert fields["*Hosts*"] == ("`ecs-97f8-0001` → `192.168.0.1`\n`ecs-97f8-0002` → `192.168.0.2`")
    assert fields["*Routes*"] == "none"
    assert fields["*Elastic resource pools*"] == "0"
    assert "resource_mode_1" in section_texts(message)[1]
    assert message.text == "withvpc (4c693ecc…) is ACTIVE; 1 queue ACTIVE"
    context = next(b for b in message.blocks if b["type"] == "context")
    assert context["elements"][0]["text"] == ":satellite_antenna: Live from DLI"


def test_failed_queues_come_first_with_their_err_msg() -> None:
    conn = connection(
        available_queue_info=[
            queue("a_active", "ACTIVE"),
            queue("b_creating", "CREATING"),
            queue("z_failed", "FAILED", "peering route conflicts with 10.0.0.0/8"),
            queue("c_weird", "DEGRADED_NEW"),
            queue("y_failed", "FAILED", "quota exceeded"),
        ],
        elastic_resource_pools=[queue("pool_1", "ACTIVE")],
    )
    message = card(conn)
    assert section_texts(message)[0] == (
        ":red_circle: *2 of 6 queues and pools FAILED · 1 CREATING · 2 ACTIVE · 1 DEGRADEDˍNEW*"
    )
    order = [index_of(message, n) for n in ("y_failed", "z_failed", "b_creating", "a_active")]
    assert order == sorted(order)
    assert index_of(message, "a_active") < index_of(message, "c_weird")
    failed = section_texts(message)[index_of(message, "z_failed")]
    assert "*FAILED*" in failed and "```peering route conflicts with 10.0.0.0/8```" in failed
    assert "elastic resource pool" in section_texts(message)[index_of(message, "pool_1")]
    assert message.text == (
        "withvpc (4c693ecc…) is ACTIVE; 2 of 6 queues and pools FAILED · 1 CREATING · 2 ACTIVE"
        " · 1 DEGRADEDˍNEW: yˍfailed, zˍfailed"
    )


@pytest.mark.parametrize(
    ("status", "queues", "verdict"),
    [
        ("ACTIVE", [("a", "ACTIVE"), ("b", "ACTIVE"), ("c", "ACTIVE")], "All 3 queues ACTIVE"),
        ("ACTIVE", [("a", "CREATING")], "1 queue CREATING"),
        ("ACTIVE", [], "No queues or elastic resource pools bound"),
        ("DELETED", [("a", "ACTIVE")], "Connection DELETED · 1 queue ACTIVE"),
        ("", [("a", "")], "Connection (no status) · 1 queue (no status)"),
    ],
)
def test_verdict_wording(status: str, queues: list[tuple[str, str]], verdict: str) -> None:
    conn = connection(status=status, available_queue_info=[queue(n, s) for n, s in queues])
    assert f"*{verdict}*" in section_texts(card(conn))[0]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("cache", ":floppy_disk: Cached 12 s ago"),
        ("stale", ":warning: *Stale* (DLI unreachable) — copy from 7 min ago"),
    ],
)
def test_context_says_how_fresh(source: Source, expected: str) -> None:
    age = timedelta(seconds=12 if source == "cache" else 420)
    lookup = Lookup(connection(), source, NOW - age, request_id="req-<1>")
    message = connection_card(lookup, now=NOW, demo=True)
    assert_within_slack_limits(message)
    context = [e["text"] for b in message.blocks if b["type"] == "context" for e in b["elements"]]
    assert context == [
        expected,
        "request id `req-&lt;1&gt;`",
        ":test_tube: *Demo data* — not a real DLI project",
    ]


def _buttons(message: Message) -> list[tuple[str, str | None]]:
    actions = next(b for b in message.blocks if b["type"] == "actions")
    return [(e["action_id"], e.get("value") or e.get("url")) for e in actions["elements"]]


def test_action_buttons_follow_watch_state_and_visibility() -> None:
    conn_id = SEED["id"]
    assert _buttons(card(connection(), console_url="https://console.example/c")) == [
        ("dliconn_refresh", conn_id),
        ("dliconn_watch", conn_id),
        ("dliconn_share", conn_id),
        ("dliconn_console", "https://console.example/c"),
    ]
    assert _buttons(card(connection(), watch_state="watching", ephemeral=False)) == [
        ("dliconn_refresh", conn_id),
        ("dliconn_unwatch", conn_id),
    ]
    # An id too long for a button value would act on a different connection: no such buttons.
    assert not any(b["type"] == "actions" for b in card(connection(id="x" * 2001)).blocks)


def test_300_queues_with_huge_err_msgs_stay_within_limits() -> None:
    huge = "E" * 9_990 + "<!here>"
    queues = [queue(f"failed_{i:03}", "FAILED", huge) for i in range(60)]
    queues += [queue(f"creating_{i:03}", "CREATING") for i in range(40)]
    queues += [queue(f"active_{i:03}", "ACTIVE") for i in range(200)]
    message = card(connection(available_queue_info=queues))
    texts = section_texts(message)
    assert "failed_000" in texts[1] and MARKER_RE.search(texts[1])
    assert "```EEEE" in texts[1]
    first_active = index_of(message, "active_000")
    assert all(index_of(message, f"failed_{i:03}") < first_active for i in range(60))
    # the FAILED ones that did not get a section of their own are counted in a summary
    summary = texts[index_of(message, "*FAILED* (")]
    shown = sum(1 for t in texts if t.startswith(":red_circle: `failed_"))
    assert shown >= 10
    assert f"*FAILED* ({60 - shown} queues)" in summary
    assert re.search(r"\*ACTIVE\* \(200 queues\): `active_000`.* … and \d+ more$", texts[-1])
    assert "*CREATING* (40 queues)" in texts[-2]


def test_all_300_failed() -> None:
    queues = [queue(f"q{i}", "FAILED", "x" * 10_000) for i in range(300)]
    pools = [queue(f"p{i}", "FAILED", "y" * 10_000) for i in range(50)]
    message = card(connection(available_queue_info=queues, elastic_resource_pools=pools))
    assert "*FAILED* (" in section_texts(message)[-1]
    assert "pools)" in section_texts(message)[-1]


def test_a_short_err_msg_is_shown_in_full_beside_long_ones() -> None:
    queues = [queue("long", "FAILED", "L" * 20_000), queue("short", "FAILED", "disk full")]
    message = card(connection(available_queue_info=queues))
    assert "```disk full```" in section_texts(message)[index_of(message, "`short`")]
    assert MARKER_RE.search(section_texts(message)[index_of(message, "`long`")])


def test_hostile_text_everywhere_is_inert() -> None:
    evil_queues = [queue(EVIL, "FAILED", EVIL * 3), queue(EVIL, "ACTIVE"), queue(EVIL, EVIL)]
    conn = connection(
        id=EVIL,
        name=EVIL,
        status=EVIL,
        dest_vpc_id=EVIL,
        dest_network_id=EVIL,
        hosts=[{"name": EVIL, "ip": EVIL}] * 8,
        routes=[{"name": EVIL, "cidr": EVIL}] * 8,
        available_queue_info=evil_queues,
        elastic_resource_pools=[queue(EVIL, "FAILED", EVIL)],
    )
    lookup = Lookup(conn, "stale", NOW, request_id=EVIL, stale_reason=EVIL)
    messages = [
        connection_card(lookup, now=NOW, console_url="https://x.example/" + "a" * 10),
        connection_list([conn] * 3, filter_label=EVIL, now=NOW, request_id=EVIL),
        choose_connection([conn] * 3, EVIL),
        *(
            error_message(kind, subject=EVIL, correlation_id=EVIL, request_id=EVIL)
            for kind in ("not_found", "bad_input", "unexpected", "no_such_kind")
        ),
    ]
    for message in messages:
        assert_within_slack_limits(message)
        mrkdwn = [t["text"] for t in text_objects(message.blocks) if t["type"] == "mrkdwn"]
        for text in [message.text, *mrkdwn]:
            for markup in ("*bold*", "_it_", "~strike~"):
                assert markup not in prose_of(text)
    failed = section_texts(messages[0])[index_of(messages[0], "*FAILED*")]
    assert "```" + escape_code("<!channel> <!here>") in failed
    assert "\n8 more" not in all_text(messages[0]) and "and 3 more" in all_text(messages[0])


# --------------------------------------------------------------------------- lists and choices


def test_list_puts_failed_first_and_counts_on_top() -> None:
    connections = [
        connection(id="id-ok", name="ok"),
        connection(id="id-gone", name="gone", status="DELETED"),
        connection(
            id="id-bad",
            name="bad",
            available_queue_info=[queue("q1", "FAILED", "boom"), queue("q2", "ACTIVE")],
        ),
    ]
    message = connection_list(
        connections,
        filter_label="all",
        now=NOW,
        source="cache",
        fetched_at=NOW - timedelta(seconds=5),
    )
    assert_within_slack_limits(message)
    texts = section_texts(message)
    assert texts[0] == "*3 connections* · 1 with FAILED queues · 1 deleted"
    lines = texts[1].split("\n")
    assert lines[0] == ":red_circle: `bad` `id-bad` ACTIVE · *1 of 2 FAILED*"
    assert lines[-1].startswith(":black_circle: `gone`")
    assert message.text == "3 DLI connections (all); 1 with FAILED queues: bad"


def test_a_huge_list_pages_with_and_n_more() -> None:
    connections = [
        connection(
            id=f"{i:08}-0000",
            name=f"conn-{i:04}-" + "n" * 70,
            available_queue_info=[queue("q", "FAILED" if i % 7 == 0 else "ACTIVE")],
        )
        for i in range(2_000)
    ]
    message = connection_list(connections, filter_label="all", now=NOW)
    assert_within_slack_limits(message)
    last = section_texts(message)[-1]
    assert re.search(r"… and \d+ more\. Look one up with `/dliconn &lt;id&gt;`", last)
    assert section_texts(message)[1].startswith(":red_circle: `conn-0000")


def test_an_empty_list_says_so() -> None:
    message = connection_list([], filter_label="failed", now=NOW)
    assert_within_slack_limits(message)
    assert section_texts(message) == ["No connections match *failed*."]


def test_choose_connection_offers_a_show_button_per_match() -> None:
    matches = [connection(id=f"id-{i}", name="dup") for i in range(3)]
    message = choose_connection(matches, "dup")
    assert_within_slack_limits(message)
    accessories = [b["accessory"] for b in message.blocks if "accessory" in b]
    assert [(a["action_id"], a["value"]) for a in accessories] == [
        ("dliconn_show", "id-0"),
        ("dliconn_show", "id-1"),
        ("dliconn_show", "id-2"),
    ]
    many = choose_connection([connection(id=f"id-{i}") for i in range(100)], "withvpc")
    assert_within_slack_limits(many)
    assert section_texts(many)[-1] == "… and 60 more: look one up by its id."


# --------------------------------------------------------------------------- errors and help


@pytest.mark.parametrize(
    ("kind", "needle"),
    [
        ("not_found", "No connection `nope` was found."),
        ("forbidden", "may not read DLI connections"),
        ("throttled", "retrying"),
        ("unavailable", "Try again in a minute."),
        ("auth_failed", "Check the AK/SK"),
        ("bad_response", "could not read"),
        ("bad_input", "I did not understand that: `nope`."),
        ("unexpected", "went wrong"),
        ("KeyError('secret')", "went wrong"),
    ],
)
def test_error_messages(kind: str, needle: str) -> None:
    message = error_message(kind, subject="nope", correlation_id="c0ffee")
    assert_within_slack_limits(message)
    assert needle in all_text(message)
    assert "reference `c0ffee`" in all_text(message)
    assert "secret" not in all_text(message) + message.text


def test_error_hint_and_stale_copy() -> None:
    stale = error_message("unavailable", stale_shown=True)
    assert "Showing the last known copy" in all_text(stale)
    hinted = error_message("bad_input", subject="x", hint="Usage: `/dliconn <id>`")
    assert_within_slack_limits(hinted)
    assert "Usage: `/dliconn &lt;id&gt;`" in all_text(hinted)


def test_the_real_help_text_is_escaped_exactly_once() -> None:
    message = help_message(HELP_TEXT)

    assert_within_slack_limits(message)
    assert "`/dliconn watch &lt;id-or-name&gt;`" in all_text(message)
    assert "&amp;" not in all_text(message)


def test_help_message_keeps_formatting_and_fits() -> None:
    help_text = "*dliconn* — `/dliconn <id>`\n\n" + "\n\n".join(
        f"line {i} " * 40 for i in range(80)
    )
    message = help_message(help_text)
    assert_within_slack_limits(message)
    assert section_texts(message)[0].startswith("*dliconn* — `/dliconn &lt;id&gt;`")
    assert message.text == "*dliconn* — `/dliconn &lt;id&gt;`"


# --------------------------------------------------------------------------- property


_statuses = st.sampled_from(["ACTIVE", "CREATING", "FAILED", "DELETED", ""]) | st.text(max_size=60)
_queues = st.builds(
    queue,
    name=st.text(max_size=200),
    status=_statuses,
    err_msg=st.text(max_size=2_000),
    update_time=st.integers(min_value=0, max_value=4_102_444_800_000),
)
_connections = st.builds(
    lambda **kw: Connection.model_validate(kw),
    id=st.text(min_size=1, max_size=120),
    name=st.text(max_size=300),
    status=_statuses,
    available_queue_info=st.lists(_queues, max_size=80),
    elastic_resource_pools=st.lists(_queues, max_size=10),
    dest_vpc_id=st.text(max_size=100),
    dest_network_id=st.text(max_size=100),
    create_time=st.integers(min_value=0, max_value=4_102_444_800_000),
    hosts=st.lists(
        st.fixed_dictionaries({"name": st.text(max_size=80), "ip": st.text(max_size=50)}),
        max_size=12,
    ),
    ipv6_enable=st.none() | st.booleans(),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conn=_connections, others=st.lists(_connections, max_size=4), query=st.text(max_size=300))
def test_every_builder_stays_within_limits(
    conn: Connection, others: list[Connection], query: str
) -> None:
    card(conn, "stale", console_url="https://console.example/x")
    assert_within_slack_limits(connection_list([conn, *others], filter_label=query, now=NOW))
    assert_within_slack_limits(choose_connection([conn, *others], query))
    assert_within_slack_limits(error_message("not_found", subject=query, correlation_id=query))
