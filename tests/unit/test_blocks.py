"""Block Kit builders: content, order, exact values, Slack limits under hostile and huge input."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.blocks.card import connection_card
from bot.blocks.lists import choose_connection, connection_list
from bot.blocks.message import (
    MAX_BLOCKS,
    TEXT_BUDGET,
    Message,
    context_block,
    divider,
    rich_block,
    room_left,
    section_block,
)
from bot.blocks.replies import error_message, help_message, ours
from bot.blocks.text import (
    MORE_MARKER,
    as_plain,
    code,
    cut,
    date,
    date_token,
    fallback,
    isolated,
    preformatted,
    sendable,
    value,
    whole_prefix,
)
from bot.chat.parsing import help_text
from bot.dli.models import Connection
from bot.i18n import LOCALES, Locale, _, speaking
from bot.local.demo import demo_connections
from bot.lookup.cache import Freshness, Lookup, Source
from tests.slack_limits import (
    assert_shows,
    assert_within_slack_limits,
    rich_runs,
    text_objects,
)

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
# The seed page's `withvpc`, as the demo data carries it verbatim.
SEED: dict[str, Any] = next(c for c in demo_connections() if c["name"] == "withvpc")
EVIL = (
    "<!channel> <!here> <@U123> <http://evil|click> *bold* _it_ ~strike~ `tick` ```fence``` "
    "&amp; @here @everyone\nline two\r\n\u202eRTL\u200bZW\u2066\x00\x1b[31m"
)
MARKER_RE = re.compile(r"… \d+ more characters")
DONE_WHEN = "<!channel> <@U999> <https://evil.example|click> *bold* ~strike~ `code`"


def connection(**overrides: Any) -> Connection:
    return Connection.model_validate({**SEED, **overrides})


def queue(name: str, status: str, err_msg: str = "", **extra: Any) -> dict[str, Any]:
    return {"name": name, "status": status, "err_msg": err_msg, "peer_id": "p", **extra}


def card(conn: Connection, source: Source = "live", **kwargs: Any) -> Message:
    message = connection_card(Lookup(conn, source, NOW - timedelta(seconds=12)), now=NOW, **kwargs)
    assert_within_slack_limits(message)
    return message


def block_texts(message: Message) -> list[str]:
    """Each block's text as read: rich text flattened (emoji by name), mrkdwn and plain as sent."""
    out = []
    for block in message.blocks:
        if block["type"] == "rich_text":
            out.append("\n".join(as_plain(run) for run in rich_runs(block)))
        elif block["type"] in ("section", "header") and "text" in block:
            out.append(block["text"]["text"])
    return out


def all_text(message: Message) -> str:
    return "\n".join([*block_texts(message), *(t["text"] for t in text_objects(message.blocks))])


def index_of(message: Message, needle: str) -> int:
    return next(i for i, text in enumerate(block_texts(message)) if needle in text)


def preformatted_texts(message: Message) -> list[str]:
    return [
        "".join(e["text"] for e in element["elements"])
        for block in message.blocks
        if block["type"] == "rich_text"
        for element in block["elements"]
        if element["type"] == "rich_text_preformatted"
    ]


def mrkdwn_texts(message: Message) -> list[str]:
    return [t["text"] for t in text_objects(message.blocks) if t["type"] == "mrkdwn"]


# --------------------------------------------------------------------------- the text boundary


def test_values_keep_their_bytes_and_only_unsendable_ones_are_replaced_visibly() -> None:
    hostile = "<!channel> <@U1> <https://x|y> *b* _i_ ~s~ `c` ```f``` &amp; :smile: \u200b\x1b"
    assert isolated(hostile) == hostile
    assert sendable("a\x00b\ud800c") == "a\ufffdb\ufffdc"
    assert value(hostile) == [{"type": "text", "text": hostile, "style": {"unlink": True}}]
    assert code(hostile) == [{"type": "text", "text": hostile, "style": {"code": True}}]
    assert code("") == [{"type": "text", "text": "–"}]


def test_a_value_with_bidi_controls_is_isolated_and_kept_exact() -> None:
    assert isolated("a\u202eb") == "\u2068a\u202eb\u2069"
    # A PDI of its own would close our isolate early: one more FSI and PDI for it.
    assert isolated("x\u2069\u202ey") == "\u2068\u2068x\u2069\u202ey\u2069\u2069"
    assert isolated("\u2067open") == "\u2068\u2067open\u2069\u2069"


def test_cuts_are_visible_and_fall_where_a_whole_character_ends() -> None:
    assert cut("abcdef", 100) == ("abcdef", "")
    shown, more = cut("x" * 100, 40)
    assert more == MORE_MARKER.format(n=100 - len(shown)) and len(shown + more) <= 40
    assert whole_prefix("e\u0301\u0301f", 2) == ""  # not between a letter and its accents
    assert whole_prefix("ab\U0001f469\u200d\U0001f4bb", 4) == "ab"  # nor inside a ZWJ sequence
    assert whole_prefix("ab\U0001f44d\U0001f3fd", 3) == "ab"  # nor before a skin tone
    assert "".join(p["text"] for p in code("n" * 200, 60)) == "n" * 39 + "… 161 more characters"


@pytest.mark.parametrize("locale", LOCALES)
@given(text=st.text(max_size=400), limit=st.integers(min_value=0, max_value=500))
def test_cut_property(locale: Locale, text: str, limit: int) -> None:
    with speaking(locale):
        shown, more = cut(text, limit)
        pattern = re.escape(_(MORE_MARKER)).replace(re.escape("{n}"), r"(\d+)")
    assert len(shown + more) <= limit
    if len(isolated(text)) <= limit:
        assert (shown, more) == (isolated(text), "")
    elif marker := re.fullmatch(pattern, more):
        left_out = int(marker.group(1))
        assert 0 < left_out <= len(text)
        assert shown == isolated(text[: len(text) - left_out])
    else:  # too small for the marker: a bare whole prefix (isolated, if it needs it)
        assert more == ""
        assert shown == isolated(whole_prefix(text, len(shown))) or shown.startswith("\u2068")


def test_preformatted_keeps_err_msg_exact_and_marks_a_cut() -> None:
    assert preformatted(DONE_WHEN, 3000) == {
        "type": "rich_text_preformatted",
        "elements": [{"type": "text", "text": DONE_WHEN}],
    }
    long = preformatted("E" * 5000, 100)
    texts = [e["text"] for e in long["elements"]]
    assert (
        texts[0] == "E" * len(texts[0])
        and texts[1] == f"\n… {5000 - len(texts[0])} more characters"
    )
    assert sum(map(len, texts)) <= 100


def test_the_fallback_escapes_and_pings_nobody() -> None:
    assert fallback("<!channel> & <@U1>", 100) == "&lt;!channel&gt; &amp; &lt;@U1&gt;"
    assert fallback("&" * 50, 12) == "&amp;&amp;…"  # an entity is never cut


# --------------------------------------------------------------------------- the card


def test_seed_card_shows_every_field() -> None:
    message = card(connection())
    header = message.blocks[0]
    assert header == {
        "type": "header",
        "text": {"type": "plain_text", "text": "🟢 withvpc", "emoji": False},
    }
    assert block_texts(message)[1] == "🟢 1 queue ACTIVE"
    assert block_texts(message)[2].split("\n") == [
        "Id: 4c693ecc-bab8-4113-a838-129cedc9a563",
        "Status: ACTIVE",
        "VPC: 22094d8f-c310-4621-913d-4c4d655d8495",
        "Subnet: 78f2562a-36e4-4b39-95b9-f5aab22e1281",
        "Created: 2019-08-27 06:40 UTC",
        "Hosts:",
        "    ecs-97f8-0001 → 192.168.0.1",
        "    ecs-97f8-0002 → 192.168.0.2",
        "Routes: none",
        "Elastic resource pools: 0",
        "IPv6: unknown",
    ]
    fields = message.blocks[2]["elements"][0]["elements"]
    assert {"type": "text", "text": SEED["id"], "style": {"code": True}} in fields
    assert {"type": "text", "text": "Id:", "style": {"bold": True}} in fields
    assert {
        "type": "date",
        "timestamp": 1566888011,
        "format": "{date_short_pretty} {time}",
        "fallback": "2019-08-27 06:40 UTC",
    } in fields
    assert index_of(message, "resource_mode_1") == 3  # after header, verdict, fields
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
    assert block_texts(message)[1] == (
        "🔴 2 of 6 queues and pools FAILED · 1 CREATING · 2 ACTIVE · 1 DEGRADED_NEW"
    )
    order = [index_of(message, n) for n in ("y_failed", "z_failed", "b_creating", "a_active")]
    assert order == sorted(order)
    assert index_of(message, "a_active") < index_of(message, "c_weird")
    failed = message.blocks[index_of(message, "z_failed")]
    assert {"type": "text", "text": "FAILED", "style": {"bold": True, "unlink": True}} in failed[
        "elements"
    ][0]["elements"]
    assert "peering route conflicts with 10.0.0.0/8" in preformatted_texts(message)
    assert "elastic resource pool" in block_texts(message)[index_of(message, "pool_1")]
    assert message.text == (
        "withvpc (4c693ecc…) is ACTIVE; 2 of 6 queues and pools FAILED · 1 CREATING · 2 ACTIVE"
        " · 1 DEGRADED_NEW: y_failed, z_failed"
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
    [*_, bold] = card(conn).blocks[1]["elements"][0]["elements"]
    assert bold == {"type": "text", "text": verdict, "style": {"bold": True, "unlink": True}}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("cache", {"type": "mrkdwn", "text": ":floppy_disk: Cached 12 s ago", "verbatim": True}),
        (
            "stale",
            {
                "type": "plain_text",
                "text": "⚠️ Stale (DLI is unreachable) — copy from 7 min ago",
                "emoji": False,
            },
        ),
    ],
)
def test_context_says_how_fresh(source: Source, expected: dict[str, Any]) -> None:
    age = timedelta(seconds=12 if source == "cache" else 420)
    lookup = Lookup(connection(), source, NOW - age, request_id="req-<1>")
    message = connection_card(lookup, now=NOW, demo=True)
    assert_within_slack_limits(message)
    [context] = [b for b in message.blocks if b["type"] == "context"]
    assert context["elements"] == [
        expected,
        {"type": "plain_text", "text": "request id req-<1>", "emoji": False},
        {"type": "mrkdwn", "text": ":test_tube: *Demo data* — not a real DLI project",
         "verbatim": True},
    ]  # fmt: skip


def _buttons(message: Message) -> list[tuple[str, str | None]]:
    actions = next(b for b in message.blocks if b["type"] == "actions")
    return [(e["action_id"], e.get("value") or e.get("url")) for e in actions["elements"]]


def test_action_buttons_follow_watch_state_and_visibility() -> None:
    conn_id = SEED["id"]
    assert _buttons(card(connection(), console_url="https://console.example/c")) == [
        ("dliconn_refresh", conn_id),
        ("dliconn_watch", conn_id),
        ("dliconn_history", conn_id),
        ("dliconn_share", conn_id),
        ("dliconn_console", "https://console.example/c"),
    ]
    assert _buttons(card(connection(), watch_state="watching", ephemeral=False)) == [
        ("dliconn_refresh", conn_id),
        ("dliconn_unwatch", conn_id),
        ("dliconn_history", conn_id),
    ]
    # An id too long for a button value would act on a different connection: no such buttons.
    assert not any(b["type"] == "actions" for b in card(connection(id="x" * 2001)).blocks)


def test_300_queues_with_huge_err_msgs_stay_within_limits() -> None:
    huge = "E" * 9_990 + "<!here>"
    queues = [queue(f"failed_{i:03}", "FAILED", huge) for i in range(60)]
    queues += [queue(f"creating_{i:03}", "CREATING") for i in range(40)]
    queues += [queue(f"active_{i:03}", "ACTIVE") for i in range(200)]
    message = card(connection(available_queue_info=queues))
    texts = block_texts(message)
    first_failed = index_of(message, "failed_000")
    assert MARKER_RE.search(texts[first_failed]) and "EEEE" in texts[first_failed]
    first_active = index_of(message, "active_000")
    assert all(index_of(message, f"failed_{i:03}") < first_active for i in range(60))
    # the FAILED ones that did not get a section of their own are counted in a summary
    summary = texts[index_of(message, "FAILED (")]
    shown = len(preformatted_texts(message))
    assert shown >= 10
    assert f"🔴 FAILED ({60 - shown} queues)" in summary
    assert re.search(r"ACTIVE \(200 queues\): active_000.* … and \d+ more$", texts[-1])
    assert "CREATING (40 queues)" in texts[-2]


def test_all_300_failed() -> None:
    queues = [queue(f"q{i}", "FAILED", "x" * 10_000) for i in range(300)]
    pools = [queue(f"p{i}", "FAILED", "y" * 10_000) for i in range(50)]
    message = card(connection(available_queue_info=queues, elastic_resource_pools=pools))
    assert "FAILED (" in block_texts(message)[-1]
    assert "pools)" in block_texts(message)[-1]


def test_a_short_err_msg_is_shown_in_full_beside_long_ones() -> None:
    queues = [queue("long", "FAILED", "L" * 20_000), queue("short", "FAILED", "disk full")]
    message = card(connection(available_queue_info=queues))
    assert "disk full" in preformatted_texts(message)
    [long] = [t for t in preformatted_texts(message) if t.startswith("L")]
    assert long.endswith(f"\n… {20_000 - len(long.split(chr(10))[0])} more characters")


def test_the_done_when_err_msg_is_shown_exactly_and_inert() -> None:
    conn = connection(available_queue_info=[queue("q", "FAILED", DONE_WHEN)])
    message = card(conn)
    assert preformatted_texts(message) == [DONE_WHEN]
    for text in [message.text, *mrkdwn_texts(message)]:
        assert "<!" not in text and "<@" not in text and "<http" not in text


def test_hostile_text_everywhere_is_shown_exactly_and_inert() -> None:
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
        connection_list(
            [conn] * 3, filter_label=EVIL, now=NOW, freshness=Freshness(None, None, EVIL)
        ),
        choose_connection([conn] * 3, EVIL),
        *(
            error_message(kind, subject=EVIL, correlation_id=EVIL, request_id=EVIL)
            for kind in ("not_found", "bad_input", "unexpected", "no_such_kind")
        ),
    ]
    for message in messages:
        assert_within_slack_limits(message)
        assert_shows(message.blocks, EVIL)
        for text in [message.text, *mrkdwn_texts(message)]:
            assert "<!" not in text and "<@" not in text and "<http" not in text
    assert any(sendable(EVIL * 3) in text for text in preformatted_texts(messages[0]))
    assert "\n    and 3 more" in all_text(messages[0])


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
        freshness=Freshness("cache", NOW - timedelta(seconds=5)),
    )
    assert_within_slack_limits(message)
    texts = block_texts(message)
    assert texts[1] == "*3 connections* · 1 with FAILED queues · 1 deleted"
    lines = texts[2].split("\n")
    assert lines[0] == "🔴 bad id-bad ACTIVE · 1 of 2 FAILED"
    assert lines[-1].startswith("⚫ gone")
    assert message.text == "3 DLI connections (all); 1 with FAILED queues: bad"


def many_connections(name: str = "conn", filler: str = "n") -> list[Connection]:
    """2,000 connections with long names, every seventh with a FAILED queue."""
    return [
        connection(
            id=f"{i:08}-0000",
            name=f"{name}-{i:04}-" + filler * 70,
            available_queue_info=[queue("q", "FAILED" if i % 7 == 0 else "ACTIVE")],
        )
        for i in range(2_000)
    ]


def test_a_huge_list_pages_with_and_n_more() -> None:
    message = connection_list(many_connections(), filter_label="all", now=NOW)
    assert_within_slack_limits(message)
    last = block_texts(message)[-1]
    assert re.search(r"… and \d+ more\. Look one up with /dliconn <id>", last)
    assert block_texts(message)[2].startswith("🔴 conn-0000")


def test_an_empty_list_says_so() -> None:
    message = connection_list([], filter_label="*failed*", now=NOW)
    assert_within_slack_limits(message)
    assert block_texts(message)[1:] == ["No connections match *failed*."]


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
    assert block_texts(message)[1] == "🟢 dup id-0 ACTIVE · 1 queue/pool\nid-0"
    many = choose_connection([connection(id=f"id-{i}") for i in range(100)], "withvpc")
    assert_within_slack_limits(many)
    assert block_texts(many)[-1] == "… and 60 more: look one up by its id."


# --------------------------------------------------------------------------- errors and help


@pytest.mark.parametrize(
    ("kind", "needle"),
    [
        ("not_found", "No connection nope was found."),
        ("forbidden", "may not read DLI connections"),
        ("throttled", "retrying"),
        ("unavailable", "Try again in a minute."),
        ("auth_failed", "Check the AK/SK"),
        ("bad_response", "could not read"),
        ("bad_input", "I did not understand that: nope."),
        ("unexpected", "went wrong"),
        ("KeyError('secret')", "went wrong"),
    ],
)
def test_error_messages(kind: str, needle: str) -> None:
    message = error_message(kind, subject="nope", correlation_id="c0ffee")
    assert_within_slack_limits(message)
    assert needle in all_text(message)
    assert "reference c0ffee" in all_text(message)
    assert "secret" not in all_text(message) + message.text


def test_error_subject_is_code_and_our_backticks_become_code() -> None:
    message = error_message("not_found", subject="<!here> :smile:")
    elements = message.blocks[0]["elements"][0]["elements"]
    assert {"type": "text", "text": "<!here> :smile:", "style": {"code": True}} in elements
    assert {"type": "text", "text": "/dliconn list", "style": {"code": True}} in elements
    assert message.text == "No connection &lt;!here&gt; :smile: was found."


def test_error_hint_and_stale_copy() -> None:
    stale = error_message("unavailable", stale_shown=True)
    assert "Showing the last known copy" in all_text(stale)
    hinted = error_message("bad_input", subject="x", hint="Usage: `/dliconn <id>`")
    assert_within_slack_limits(hinted)
    assert "Usage: /dliconn <id>" in all_text(hinted)


def test_the_real_help_text_is_escaped_exactly_once() -> None:
    message = help_message(help_text())

    assert_within_slack_limits(message)
    assert "`/dliconn watch &lt;id-or-name&gt;`" in all_text(message)
    assert "&amp;" not in all_text(message)


def test_help_message_keeps_formatting_and_fits() -> None:
    help_text = "*dliconn* — `/dliconn <id>`\n\n" + "\n\n".join(
        f"line {i} " * 40 for i in range(80)
    )
    message = help_message(help_text)
    assert_within_slack_limits(message)
    assert block_texts(message)[0].startswith("*dliconn* — `/dliconn &lt;id&gt;`")
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


# Once per language, 45 examples each (60 in English alone before): about 1.5 times the time.
@pytest.mark.parametrize("locale", LOCALES)
@settings(max_examples=45, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conn=_connections, others=st.lists(_connections, max_size=4), query=st.text(max_size=300))
def test_every_builder_stays_within_limits(
    locale: Locale, conn: Connection, others: list[Connection], query: str
) -> None:
    with speaking(locale):
        card(conn, "stale", console_url="https://console.example/x")
        assert_within_slack_limits(connection_list([conn, *others], filter_label=query, now=NOW))
        assert_within_slack_limits(choose_connection([conn, *others], query))
        assert_within_slack_limits(error_message("not_found", subject=query, correlation_id=query))


def test_room_left_is_what_head_and_tail_leave_of_the_blocks_and_the_text_budget() -> None:
    head = [section_block("*12345*"), divider(), rich_block(value("abc"))]
    tail = [context_block(["ctx"])]
    # 7 + 3 + 3 characters of text: the divider has none, the value's text is counted once.
    assert room_left(head, tail) == (MAX_BLOCKS - 4, TEXT_BUDGET - 13)
    assert room_left(head, tail, max_blocks=100) == (96, TEXT_BUDGET - 13)
    assert room_left([], []) == (MAX_BLOCKS, TEXT_BUDGET)


def test_ours_reads_an_icon_and_backticks_as_rich_text() -> None:
    assert ours(":eyes: Stop one with `/dliconn unwatch <id>`, or `x`.") == [
        {"type": "emoji", "name": "eyes"},
        {"type": "text", "text": " "},
        {"type": "text", "text": "Stop one with "},
        {"type": "text", "text": "/dliconn unwatch <id>", "style": {"code": True}},
        {"type": "text", "text": ", or "},
        {"type": "text", "text": "x", "style": {"code": True}},
        {"type": "text", "text": "."},
    ]
    assert ours("no code, no :icon: here") == [{"type": "text", "text": "no code, no :icon: here"}]


def test_a_moment_in_epoch_seconds_is_shown_as_the_same_datetime_would_be() -> None:
    moment = datetime(2026, 12, 1, 3, 4, 5, tzinfo=timezone(timedelta(hours=8)))
    assert date(moment.timestamp()) == date(moment)
    assert date(moment)["fallback"] == "2026-11-30 19:04 UTC"
    assert date_token(moment.timestamp()) == date_token(moment)
    assert date_token(moment).startswith(f"<!date^{int(moment.timestamp())}^")
