"""Terminal rendering of built messages: readable, in the card's order, with data shown as sent."""

from __future__ import annotations

from bot.blocks.lists import choose_connection, connection_list
from bot.blocks.message import Message, rich_block
from bot.blocks.render import mrkdwn_to_text, render_text
from bot.blocks.replies import error_message
from bot.blocks.text import channel, code, date, emoji, preformatted, user, value, words
from tests.unit.test_blocks import NOW, card, connection, queue

ERR = "peering failed: <!channel> route 10.0.0.0/8 & `x` *y* a_b ~z~"


def test_card_renders_name_failed_first_and_err_msg_as_sent() -> None:
    conn = connection(
        name="with_vpc <prod>",
        available_queue_info=[queue("q_active", "ACTIVE"), queue("q_failed", "FAILED", ERR)],
    )
    text = render_text(card(conn, "cache", console_url="https://console.example/c"))
    lines = text.splitlines()
    assert lines[0] == "🔴 with_vpc <prod>"
    assert lines[1] == "=" * (len(lines[0]) + 1)  # as wide as the title: 🔴 takes two columns
    assert "Id: 4c693ecc-bab8-4113-a838-129cedc9a563" in lines
    assert "Created: 2019-08-27 06:40 UTC" in lines
    assert "Hosts:" in lines
    assert "    ecs-97f8-0001 → 192.168.0.1" in lines
    assert "    ecs-97f8-0002 → 192.168.0.2" in lines
    assert f"    {ERR}" in lines
    assert text.index("q_failed") < text.index("q_active")
    assert "  › 💾 Cached 12 s ago" in lines
    assert lines[-1] == (
        "[Refresh] [Watch] [History] [Share in channel] [Open in console → https://console.example/c]"
    )
    for leftover in ("&lt;", "&gt;", "&amp;", "<!date", "```", "∗", "ˍ", "ˋ", "＠"):
        assert leftover not in text


def test_context_is_dimmed_only_when_asked() -> None:
    message = card(connection(), "stale")
    assert "\x1b[" not in render_text(message)
    dimmed = [line for line in render_text(message, color=True).splitlines() if "\x1b[2m" in line]
    assert dimmed == ["\x1b[2m  › ⚠️ Stale (DLI is unreachable) — copy from 12 s ago\x1b[0m"]


def test_mrkdwn_to_text_undoes_escapes_exactly_once() -> None:
    assert mrkdwn_to_text("&amp;lt; &lt;b&gt; ˋaˋ ∗b∗ ＠here") == "&lt; <b> ˋaˋ ∗b∗ ＠here"
    assert mrkdwn_to_text("*bold* _it_ ~s~ `a_b*c`") == "bold it s a_b*c"
    assert mrkdwn_to_text("<!date^0^{date_short_pretty}|1970-01-01 00:00 UTC> ok") == (
        "1970-01-01 00:00 UTC ok"
    )
    assert mrkdwn_to_text("see <https://x.example|docs>") == "see docs (https://x.example)"
    assert mrkdwn_to_text("title\n```line 1\nline 2```\nafter") == (
        "title\n    line 1\n    line 2\nafter"
    )


def test_list_choices_and_errors_render() -> None:
    bad = connection(id="id-bad", name="bad", available_queue_info=[queue("q", "FAILED")])
    listing = render_text(connection_list([connection(), bad], filter_label="all", now=NOW))
    assert listing.splitlines()[:4] == [
        "DLI connections · all",
        "=====================",
        "",
        "2 connections · 1 with FAILED queues",
    ]
    assert listing.index("bad") < listing.index("withvpc")
    choices = render_text(choose_connection([bad, connection()], "b<a>d"))
    assert choices.startswith("🔍 b<a>d matches 2 connections. Which one?")
    assert "🔴 bad id-bad ACTIVE · 1 of 1 FAILED\nid-bad  [Show]" in choices
    assert choices.count("[Show]") == 2
    error = render_text(error_message("not_found", subject="<!here>", correlation_id="c0ffee"))
    assert error == (
        "🔍 No connection <!here> was found.\nCheck the id, or try /dliconn list.\n\n"
        "  › reference c0ffee"
    )


def test_rich_text_renders_values_exactly_with_emoji_dates_and_mentions() -> None:
    hostile = "<!channel> *b* `c` :smile: \u200b"
    block = rich_block(
        [
            *[emoji("eyes"), words(" by "), user("U1"), words(" in "), channel("C1")],
            *[words(" at "), date(NOW), words(": "), *code(hostile), words(" / ")],
            *value("x" * 300, 50),
        ],
        preformatted("line 1\n  line <2>", 100),
    )
    assert render_text(Message("fallback", [block])) == (
        f"👀 by @U1 in #C1 at 2024-05-01 12:00 UTC: {hostile} / "
        + "x" * 29
        + "… 271 more characters\n    line 1\n      line <2>"
    )


def test_control_characters_cannot_drive_the_terminal() -> None:
    block = rich_block(value("red\x1b[31m\rover\x7f\tand\nnext"))
    assert render_text(Message("f", [block])) == "red␛[31m␍over␡\tand\nnext"
