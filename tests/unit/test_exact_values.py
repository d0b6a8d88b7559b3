"""Every builder shows any DLI or user string exactly (or visibly cut), inert, within limits,
in every language the bot speaks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.blocks.card import connection_card
from bot.blocks.conntest import conntest_modal, conntest_result, dli_refused, not_bound
from bot.blocks.history import history_message, never_seen_message, not_recorded_message
from bot.blocks.home import home_view
from bot.blocks.lists import choose_connection, connection_list, watches_message
from bot.blocks.message import Message
from bot.blocks.replies import error_message, notice
from bot.blocks.route import RouteLine, route_message
from bot.blocks.text import code, words
from bot.diagnosis import default_catalogue
from bot.dli.ids import normalise_id
from bot.dli.models import Connection
from bot.i18n import LOCALES, Locale, current_locale, speaking
from bot.lookup.cache import Freshness, Lookup, ProjectRef
from bot.slack_ids import is_user_id
from bot.watch.history import HistoryEntry, HistoryPage, HistoryRecord, Tally
from bot.watch.messages import (
    alert_message,
    flipped_reply,
    gone_notice,
    recovered_reply,
    stabilised_reply,
    stuck_notice,
    unreachable_notice,
)
from bot.watch.transitions import (
    BindingState,
    ConnState,
    DliUnreachable,
    Flipped,
    Gone,
    Incident,
    IncidentQueue,
    Recovered,
    Stabilised,
    Stuck,
)
from tests.slack_limits import (
    assert_home_view_within_limits,
    assert_shows,
    assert_view_blocks,
    assert_within_slack_limits,
    text_objects,
)

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
_NASTY = st.sampled_from(
    [
        "<!channel>",
        "<!here>",
        "<@U1>",
        "<https://x|y>",
        "`",
        "```",
        "*",
        "_",
        "~",
        ":smile:",
        "&amp;",
        "&",
        "\u202e",
        "\u2066",
        "\u2069",
        "\u200b",
        "\u200d",
        "\u0301",
        "\x00",
        "\ud800",
        "\x1b[31m",
        "\r\n",
        "@here",
    ]
)
# Any text: hypothesis' own, hostile fragments glued together, and 10,000-character strings.
_ANY = st.one_of(
    st.text(max_size=60),
    st.lists(st.one_of(_NASTY, st.text(max_size=4)), max_size=12).map("".join),
    st.text(min_size=1, max_size=7).map(lambda s: (s * 10_000)[:10_000]),
)
# Each property runs once per language: 30 examples each (was 40 in English alone), so both
# languages together cost about 1.5 times what English did.
_SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(autouse=True, params=LOCALES)
def locale(request: pytest.FixtureRequest) -> Iterator[Locale]:
    """Every test here runs in each language: the builders speak it for the whole test."""
    with speaking(request.param):
        yield request.param


def test_the_properties_run_in_each_language(locale: Locale) -> None:
    assert current_locale() == locale
    buttons = connection_card(
        Lookup(a_connection("n", "c", "ACTIVE", "", ""), "live", NOW), now=NOW
    )
    assert ("刷新" in str(buttons.blocks)) == (locale == "zh-CN")


def inert(message: Message, mentions: tuple[str, ...] = ()) -> None:
    """Slack's limits, and nothing Slack parses (mrkdwn, the top-level text) holds a value."""
    assert_within_slack_limits(message, mentions=mentions)
    for text in [message.text] + [
        t["text"] for t in text_objects(message.blocks) if t["type"] == "mrkdwn"
    ]:
        for control in ("<!channel", "<!here", "<@U1", "<https"):
            assert control not in text, text


def a_connection(name: str, cid: str, status: str, other: str, err: str) -> Connection:
    return Connection.model_validate(
        {
            "id": cid or "x",
            "name": name,
            "status": status,
            "dest_vpc_id": other,
            "dest_network_id": other,
            "hosts": [{"name": other, "ip": status}],
            "routes": [{"name": name, "cidr": other}],
            "available_queue_info": [
                {"name": name, "status": "FAILED", "err_msg": err, "update_time": 1},
                {"name": other, "status": status, "err_msg": ""},
            ],
        }
    )


@_SETTINGS
@given(name=_ANY, cid=_ANY, status=_ANY, other=_ANY, err=_ANY)
def test_the_card_shows_every_value_exactly(
    name: str, cid: str, status: str, other: str, err: str
) -> None:
    conn = a_connection(name, cid, status, other, err)
    lookup = Lookup(conn, "stale", NOW, request_id=other, stale_reason=err)
    message = connection_card(lookup, now=NOW)
    inert(message)
    for shown in (conn.id, status, other, err, name if name.strip() else conn.id):
        assert_shows(message.blocks, shown)


@_SETTINGS
@given(name=_ANY, cid=_ANY, status=_ANY, other=_ANY, label=_ANY)
def test_lists_and_the_shortlist_show_every_value_exactly(
    name: str, cid: str, status: str, other: str, label: str
) -> None:
    conn = a_connection(name, cid, status, other, "")
    listing = connection_list(
        [conn], filter_label=label, now=NOW, freshness=Freshness(None, None, other)
    )
    empty = connection_list([], filter_label=label, now=NOW)
    shortlist = choose_connection([conn, conn], label)
    for message in (listing, empty, shortlist):
        inert(message)
    for shown in (name, status, other if listing else ""):
        assert_shows(listing.blocks, shown)
    assert_shows(listing.blocks, label)
    assert_shows(empty.blocks, label)
    for shown in (name, status, conn.id, label):
        assert_shows(shortlist.blocks, shown)


@_SETTINGS
@given(subject=_ANY, reference=_ANY, request_id=_ANY, name=_ANY, cid=_ANY)
def test_errors_notices_and_watches_show_every_value_exactly(
    subject: str, reference: str, request_id: str, name: str, cid: str
) -> None:
    for kind in ("not_found", "bad_input", "unavailable", "no_such_kind"):
        error = error_message(
            kind, subject=subject, correlation_id=reference, request_id=request_id
        )
        inert(error)
        assert_shows(error.blocks, reference)
        assert_shows(error.blocks, request_id)
        if kind in ("not_found", "bad_input"):
            assert_shows(error.blocks, subject)
    said = notice([words("Watching "), *code(subject, 80)], fallback=f"Watching {subject}")
    inert(said)
    assert_shows(said.blocks, subject)
    conn = a_connection(name, cid, "ACTIVE", "", "")
    watches = watches_message([conn], [(name, cid)], unknown=[(subject, cid)], now=NOW)
    inert(watches)
    for shown in (name, subject):
        assert_shows(watches.blocks, shown)


@_SETTINGS
@given(name=_ANY, cid=_ANY, queue=_ANY, channel=st.sampled_from(["C0123", "<!here>", ""]))
def test_the_home_tab_shows_every_value_exactly(
    name: str, cid: str, queue: str, channel: str
) -> None:
    conn = a_connection(name, cid, "ACTIVE", queue, "")
    view = home_view([(conn, [channel])], now=NOW, note="A *note*")
    assert_home_view_within_limits(view)
    assert_shows(view["blocks"], name)


def _incident(name: str, queue: str, err: str, **changes: Any) -> Incident:
    base = Incident(
        id="i",
        connection_id="cid",
        connection_name=name,
        kind="failed",
        queues=(IncidentQueue(name=queue, kind="queue", err_msg=err, since=1_700_000_000.0),),
        started_at=1_700_000_060.0,
    )
    return base.model_copy(update=changes)


@_SETTINGS
@given(name=_ANY, queue=_ANY, err=_ANY, status=_ANY, who=_ANY)
def test_every_watch_message_shows_every_value_exactly(
    name: str, queue: str, err: str, status: str, who: str
) -> None:
    alerts = [
        alert_message(_incident(name, queue, err), acknowledged_by=who),
        alert_message(_incident(name, queue, err, resolved_at=1_700_003_600.0)),
        alert_message(_incident(name, queue, err, kind="flapping", flips=5)),
    ]
    for alert in alerts:
        inert(alert)
        assert_shows(alert.blocks, queue)
        assert_shows(alert.blocks, name or "cid")
    assert_shows(alerts[0].blocks, err if err.strip() else "")
    assert_shows(alerts[0].blocks, who)
    replies = [
        (recovered_reply(Recovered("e", "i", "cid", queue, "queue", status, name, 60.0)), status),
        (flipped_reply(Flipped("e", "i", "cid", queue, "pool", status, err)), err.strip() and err),
        (flipped_reply(Flipped("e", "i", "cid", queue, "pool", status, err)), status),
        (stabilised_reply(Stabilised("e", "i", "cid", queue, "queue", status, 60.0)), status),
        (gone_notice(Gone("e", "cid", name, deleted=True)), name),
        (stuck_notice(Stuck("e", "cid", name, queue, "pool", 1_700_000_000.0)), queue),
        (stuck_notice(Stuck("e", "cid", name, queue, "pool", 1_700_000_000.0)), name),
        (unreachable_notice(DliUnreachable("e", 1_700_000_000.0, err)), err),
    ]
    for reply, shown in replies:
        inert(reply)
        assert_shows(reply.blocks, shown)


@_SETTINGS
@given(name=_ANY, cid=_ANY, who=_ANY, key=_ANY, value=_ANY, alias=_ANY)
def test_the_route_dry_run_and_grouped_lists_show_every_value_exactly(
    name: str, cid: str, who: str, key: str, value: str, alias: str
) -> None:
    conn = a_connection(name, cid, "ACTIVE", "", "")
    project = ProjectRef(alias or "p", value)
    lines = [
        RouteLine("C0123", "watched", by=who, since=1.0, muted_until=2.0),
        RouteLine("C0456", "hidden", by=who, since=1.0, paused=True),
        RouteLine("C0789", "tags", tags=((key, value),)),
        RouteLine("C0ABC", "watch_all"),
    ]
    route = route_message(conn, project, lines)
    inert(route, mentions=(who,) if is_user_id(who) else ())
    for shown in (name or conn.id, f"{key}={value}"):
        assert_shows(route.blocks, shown)
    grouped = connection_list(
        [conn],
        filter_label="all",
        now=NOW,
        project_of={normalise_id(conn.id): project},
        unlisted=[(ProjectRef("other"), value)],
    )
    inert(grouped)
    assert_shows(grouped.blocks, name)


@_SETTINGS
@given(name=_ANY, cid=_ANY, queue=_ANY, status=_ANY, err=_ANY)
def test_the_history_timeline_shows_every_value_exactly(
    name: str, cid: str, queue: str, status: str, err: str
) -> None:
    conn = a_connection(name, cid, "ACTIVE", "", "")
    at = NOW.timestamp()
    entries = [
        HistoryEntry(cid, "status", at - n, f"queue:{queue}", status, "FAILED", at, err)
        for n in range(30)
    ] + [HistoryEntry(cid, "status", at, f"pool:{queue}", "FAILED", status, None, "", 60.0)]
    records = [HistoryRecord(f"{n}-0", e, Tally(n, 1, 60.0, n)) for n, e in enumerate(entries)]
    bindings = {f"queue:{queue}": BindingState(name=queue, kind="queue", status="FAILED", since=at)}
    state = ConnState(name=name, status="ACTIVE", bindings=bindings)
    page = HistoryPage(records[::-1], True, Tally(30, 1, 60.0, 31), state, True)
    message = history_message(conn, ProjectRef("prod", "cn-north-4"), page, window="7d", now=NOW)
    inert(message)
    for shown in (conn.name or conn.id, queue, status, err):
        assert_shows(message.blocks, shown)
    for plain in (not_recorded_message(conn, None), never_seen_message(conn, None)):
        inert(plain)
        assert_shows(plain.blocks, conn.name or conn.id)


@_SETTINGS
@given(name=_ANY, cid=_ANY, queue=_ANY, address=_ANY, word=_ANY, other=_ANY)
def test_the_connectivity_test_shows_every_value_exactly(
    name: str, cid: str, queue: str, address: str, word: str, other: str
) -> None:
    conn = a_connection(name, cid, "ACTIVE", other, "")
    project = ProjectRef("p", other)
    for connectivity in ("REACHABLE", "UNREACHABLE", "CHECKING", word):
        result = conntest_result(
            conn, project, queue=queue, address=address, connectivity=connectivity,
            task_id=other, request_id=other, user_id="U0ALICE", waited=20.0, queue_failed=True,
        )  # fmt: skip
        inert(result, mentions=("U0ALICE",))
        for shown in (queue, address, conn.id, name if name.strip() else conn.id, other):
            assert_shows(result.blocks, shown)
    assert_shows(result.blocks, word if word.strip() else "")
    # UNREACHABLE with the catalogue's entry (the longest checklist): still within the limits.
    entry = max(default_catalogue().entries, key=lambda e: sum(map(len, e.checks)))
    diagnosed = conntest_result(
        conn, project, queue=queue, address=address, connectivity="UNREACHABLE",
        task_id=other, request_id=other, user_id="U0ALICE", queue_failed=True, diagnosis=entry,
    )  # fmt: skip
    inert(diagnosed, mentions=("U0ALICE",))
    for shown in (queue, address, conn.id, other):
        assert_shows(diagnosed.blocks, shown)
    unbound = not_bound(conn, queue, [name, other])
    inert(unbound)
    for shown in (queue, name, other):
        assert_shows(unbound.blocks, shown)
    refused = dli_refused(queue, word, other, other)
    inert(refused)
    for shown in (queue, word if word.strip() else "", other):
        assert_shows(refused.blocks, shown)
    modal = conntest_modal(conn, queue, metadata="{}")
    assert_view_blocks(modal["blocks"], max_blocks=100)
    assert_shows(modal["blocks"], conn.id)
