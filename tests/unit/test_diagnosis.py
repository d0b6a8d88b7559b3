"""The diagnosis catalogue: every entry's examples, nothing invented, broken files refused, the
bot's own checks, and the cause line and modal on cards and alerts."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.__main__ import main
from bot.blocks.actions import ACTION_WHAT_TO_CHECK
from bot.blocks.card import connection_card
from bot.blocks.diagnosis import cause_blocks, parse_button_value, what_to_check_view
from bot.blocks.render import render_text
from bot.diagnosis import catalogue as catalogue_module  # the module, not the function
from bot.diagnosis import self_check
from bot.diagnosis.catalogue import (
    Catalogue,
    Entry,
    default_catalogue,
    load_catalogue,
    packaged_path,
)
from bot.diagnosis.selfcheck import Value, addresses_in
from bot.dli.models import Connection
from bot.errors import ConfigError
from bot.lookup.cache import Lookup
from bot.watch.messages import alert_message
from bot.watch.transitions import Incident, IncidentQueue
from tests.slack_limits import assert_shows, assert_view_blocks, assert_within_slack_limits

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
CID = "4c693ecc-bab8-4113-a838-129cedc9a563"
ENTRIES = default_catalogue().entries
EXAMPLES = [(entry, example) for entry in ENTRIES for example in entry.examples]
_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


def _entry(entry_id: str) -> Entry:
    found = default_catalogue().get(entry_id)
    assert found is not None, entry_id
    return found


# --------------------------------------------------------------------------- the catalogue


def test_the_packaged_catalogue_has_at_least_twelve_sourced_entries() -> None:
    assert len(ENTRIES) >= 12
    assert len({e.id for e in ENTRIES}) == len(ENTRIES)
    for entry in ENTRIES:
        assert entry.doc_url.startswith("https://support.huaweicloud.com/intl/en-us/")
        assert entry.doc_url.endswith(f"/{entry.page_id}.html")
        assert entry.source.startswith("opentelekomcloud-docs/")
        assert entry.checks and entry.cause
    # The pages the issue names are all drawn on.
    pages = {e.page_id for e in ENTRIES}
    for page in ("dli_03_0179", "dli_01_0006", "dli_03_0047", "dli_03_0238", "dli_03_0257"):
        assert page in pages
    assert {"dli_03_0080", "vpc_faq_0063", "vpc_faq_0070"} <= pages
    # DLI answers in Chinese in the cn- regions: most entries know those messages too.
    chinese = [
        e for e in ENTRIES if any("\u4e00" <= c <= "\u9fff" for p in e.patterns for c in p.pattern)
    ]
    assert len(chinese) >= 12


def test_it_is_shipped_as_package_data() -> None:
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert "catalogue.toml" in pyproject["tool"]["setuptools"]["package-data"]["bot.diagnosis"]
    assert packaged_path().is_file()
    assert packaged_path().parent.name == "diagnosis"


@pytest.mark.parametrize(
    ("entry", "example"),
    EXAMPLES,
    ids=[f"{e.id}:{i}" for e in ENTRIES for i in range(len(e.examples))],
)
def test_each_example_is_matched_by_its_entry_and_no_other(entry: Entry, example: str) -> None:
    assert default_catalogue().match(example) == entry
    assert [other.id for other in ENTRIES if other.matches(example)] == [entry.id]
    # Wherever it sits in a longer err_msg, and whatever the case.
    assert (
        default_catalogue().match(f"DLI.0999: job 42 failed. {example.upper()} (retry 3)") == entry
    )


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.id for e in ENTRIES])
def test_near_misses_are_not_matched(entry: Entry) -> None:
    for miss in entry.near_misses:
        assert not entry.matches(miss)


@pytest.mark.parametrize(
    "err_msg",
    [
        "",
        "   ",
        "queue is FAILED",
        "internal error",
        "DLI.0999: unknown",
        "失败",
        "Connection reset",
    ],
)
def test_unknown_failures_get_nothing_invented(err_msg: str) -> None:
    assert default_catalogue().match(err_msg) is None
    assert cause_blocks(err_msg, CID) == []


@settings(max_examples=300, deadline=None)
# Without digits: one entry rightly matches any address in a range Huawei reserves
# (reserved-cidr-route), and random text once made "100.125.0.0".
@given(st.text(st.characters(exclude_categories=("Cs", "Nd")), max_size=300))
def test_random_text_matches_nothing(text: str) -> None:
    assert default_catalogue().match(text) is None


@settings(max_examples=100, deadline=None)
@given(
    st.text(alphabet=st.characters(codec="ascii", categories=("L", "N", "Zs", "P")), max_size=200)
)
def test_random_ascii_prose_matches_nothing(text: str) -> None:
    assert default_catalogue().match(text) is None


# --------------------------------------------------------------------------- broken files

_GOOD_ENTRY = """
[[entries]]
id = "demo"
title = "A demo"
page_id = "dli_03_0179"
doc_url = "https://support.huaweicloud.com/intl/en-us/dli_faq/dli_03_0179.html"
source = "somewhere"
patterns = ['demo failure']
cause = "A cause."
checks = ["First.", "Second."]
examples = ["a demo failure here"]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalogue.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_minimal_file_loads(tmp_path: Path) -> None:
    loaded = load_catalogue(_write(tmp_path, _GOOD_ENTRY))
    assert [e.id for e in loaded.entries] == ["demo"]
    assert loaded.entries[0].checks == ("First.", "Second.")


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            ("'demo failure'", "'demo (failure'"),
            "entries[0] (demo).patterns[0]: invalid regular expression",
        ),
        (("cause =", "reason = 1\ncause ="), "entries[0] (demo).reason: unknown key"),
        (('examples = ["a demo failure here"]', 'examples = ["nothing alike"]'), "is not matched"),
        (('checks = ["First.", "Second."]', "checks = []"), "entries[0] (demo).checks"),
        (('cause = "A cause."', 'cause = "<!channel> look"'), "must not contain '<'"),
        (('cause = "A cause."', 'cause = "see `this`"'), "must not contain '`'"),
        (("https://support.huaweicloud.com/intl", "https://example.com/intl"), "doc_url must be"),
        (('page_id = "dli_03_0179"', 'page_id = "dli_03_0047"'), "naming page_id"),
        (('id = "demo"', 'id = "Demo Entry"'), "entries[0] (Demo Entry).id"),
        (('title = "A demo"\n', ""), "entries[0] (demo).title: required"),
        (("[[entries]]", "[[entries]\n"), "catalogue.toml: "),
        (("examples =", 'near_misses = ["demo failure"]\nexamples ='), "near miss"),
    ],
)
def test_a_broken_file_is_one_clear_line(
    tmp_path: Path, change: tuple[str, str], problem: str
) -> None:
    old, new = change
    assert old in _GOOD_ENTRY
    path = _write(tmp_path, _GOOD_ENTRY.replace(old, new, 1))
    with pytest.raises(ConfigError) as raised:
        load_catalogue(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: ")
    assert problem in message
    assert "\n" not in message and "Traceback" not in message


def test_two_entries_claiming_one_example_or_one_id_are_refused(tmp_path: Path) -> None:
    twin = _GOOD_ENTRY.replace('id = "demo"', 'id = "twin"')
    with pytest.raises(ConfigError, match="is also matched by 'twin'"):
        load_catalogue(_write(tmp_path, _GOOD_ENTRY + twin))
    with pytest.raises(ConfigError, match="two entries have the id 'demo'"):
        load_catalogue(_write(tmp_path, _GOOD_ENTRY + _GOOD_ENTRY))


def test_a_missing_file_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="the diagnosis catalogue is missing"):
        load_catalogue(tmp_path / "nope.toml")


@pytest.fixture
def broken_catalogue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The packaged catalogue replaced by a broken one for this test (the cache emptied)."""
    broken = _write(tmp_path, _GOOD_ENTRY.replace("'demo failure'", "'(unclosed'"))
    monkeypatch.setattr(catalogue_module, "packaged_path", lambda: broken)
    default_catalogue.cache_clear()
    yield broken
    default_catalogue.cache_clear()


@pytest.mark.parametrize("argv", [["config"], ["show", "withvpc"]])
def test_a_broken_catalogue_stops_start_up_with_exit_2(
    broken_catalogue: Path,
    argv: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DLICONN_CONFIG", raising=False)
    monkeypatch.chdir(broken_catalogue.parent)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"dliconn: configuration error: {broken_catalogue}: entries[0] (demo)")
    assert "invalid regular expression" in err


# --------------------------------------------------------------------------- self-checks


def _connection(
    err_msg: str,
    *,
    routes: list[dict[str, str]] | None = None,
    hosts: list[dict[str, str]] | None = None,
    queues: list[dict[str, Any]] | None = None,
) -> Connection:
    return Connection.model_validate(
        {
            "id": CID,
            "name": "orders",
            "status": "ACTIVE",
            "routes": routes or [],
            "hosts": hosts or [],
            "available_queue_info": queues
            or [
                {"name": "sql_prod", "status": "FAILED", "err_msg": err_msg},
                {"name": "sql_ok", "status": "ACTIVE", "err_msg": ""},
            ],
        }
    )


def _findings(entry_id: str, err: str, connection: Connection) -> list[str]:
    """What the entry's self-checks find for `err` on `connection`, as plain text."""
    found = self_check(_entry(entry_id), [err], connection)
    return ["".join(p.text if isinstance(p, Value) else p for p in f) for f in found]


def test_addresses_are_read_from_an_err_msg() -> None:
    text = "to 192.168.0.12:3306 via 172.16.0.0/12, not v1.2.3.4.5 nor 999.1.1.1 or 10.0.0.0/99"
    assert [str(a) for a in addresses_in(text)] == ["192.168.0.12/32", "172.16.0.0/12"]


def test_a_cidr_in_the_error_is_compared_with_routes_and_hosts() -> None:
    err = _entry("cidr-overlap").examples[0]  # mentions 172.16.0.0/12 and 172.16.0.0/16
    connection = _connection(
        err,
        routes=[
            {"name": "to-orders", "cidr": "172.16.8.0/24"},
            {"name": "far", "cidr": "10.9.0.0/16"},
        ],
        hosts=[{"name": "mysql-primary", "ip": "172.16.1.10"}, {"name": "other", "ip": "10.1.1.1"}],
    )
    found = _findings("cidr-overlap", err, connection)
    assert (
        "172.16.0.0/12 in the error overlaps the connection's route to-orders (172.16.8.0/24)."
        in found
    )
    assert "Host mysql-primary (172.16.1.10) is in 172.16.0.0/12 from the error." in found
    assert not any("far" in f or "10.1.1.1" in f for f in found)


@pytest.mark.parametrize(
    ("err", "route", "finding"),
    [
        pytest.param(
            "failed to connect to specified address 192.168.50.7:3306",
            {"name": "r", "cidr": "10.0.0.0/8"},
            "192.168.50.7 in the error is outside every route and host address of the connection.",
            id="an address outside everything",
        ),
        pytest.param(
            "failed to connect to specified address",
            {"name": "swr", "cidr": "100.125.3.0/24"},
            "Route swr (100.125.3.0/24) is in a range Huawei Cloud reserves for its services "
            "(100.64.x.x, 100.125.x.x).",
            id="a route in a reserved range",
        ),
    ],
)
def test_a_failed_connect_is_checked_against_the_routes(
    err: str, route: dict[str, str], finding: str
) -> None:
    assert _findings("connect-failed", err, _connection(err, routes=[route])) == [finding]


def test_unknown_hosts_are_looked_up_in_the_host_information() -> None:
    err = "java.net.UnknownHostException: node-master2.mrs.com"
    listed = _connection(err, hosts=[{"name": "node-master1.mrs.com", "ip": "192.168.0.22"}])
    assert _findings("unknown-host", err, listed) == [
        "node-master2.mrs.com from the error is not in the connection's host information (1 entry)."
    ]
    mapped = _connection(err, hosts=[{"name": "Node-Master2.mrs.com", "ip": "192.168.0.23"}])
    assert _findings("unknown-host", err, mapped)[0].startswith(
        "node-master2.mrs.com is in the connection's host information, as 192.168.0.23"
    )
    assert _findings("kerberos-auth", err, _connection(err)) == [
        "The connection has no host information (IP address → host name) at all."
    ]


def test_entries_without_self_checks_find_nothing() -> None:
    err = _entry("peering-quota").examples[0]
    assert self_check(_entry("peering-quota"), [err], _connection(err)) == []


# --------------------------------------------------------------------------- cards and alerts


def _card(connection: Connection) -> dict[str, Any]:
    message = connection_card(Lookup(connection, "live", NOW), now=NOW)
    assert_within_slack_limits(message)
    return {"message": message, "text": render_text(message)}


def _cause_sections(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [b for b in blocks if b["type"] == "section" and "Likely cause" in b["text"]["text"]]


def test_a_card_shows_the_likely_cause_under_a_matching_failed_queue_only() -> None:
    err = _entry("route-table-full").examples[0]
    connection = _connection(
        err,
        queues=[
            {"name": "q_known", "status": "FAILED", "err_msg": err},
            {"name": "q_unknown", "status": "FAILED", "err_msg": "something odd happened"},
            {"name": "q_active", "status": "ACTIVE", "err_msg": err},
        ],
    )
    card = _card(connection)
    blocks = card["message"].blocks
    [line] = _cause_sections(blocks)
    assert _entry("route-table-full").cause in line["text"]["text"]
    button = line["accessory"]
    assert button["action_id"] == ACTION_WHAT_TO_CHECK
    assert parse_button_value(button["value"]) == ("route-table-full", CID)
    # Right under q_known's section (its err_msg preformatted), before the next queue.
    index = blocks.index(line)
    assert "q_known" in str(blocks[index - 1])
    assert card["text"].count("Likely cause") == 1


def _failing(count: int, err: str) -> Connection:
    queues = [{"name": f"q{i:03d}", "status": "FAILED", "err_msg": err} for i in range(count)]
    return _connection(err, queues=queues)


@pytest.mark.parametrize("count", [1, 15, 20, 21, 40, 60, 300])
def test_many_failed_queues_keep_the_card_within_limits_with_causes_shown(count: int) -> None:
    err = _entry("subnet-no-ip").examples[0] + " " + "x" * 2000
    blocks = _card(_failing(count, err))["message"].blocks
    lines = _cause_sections(blocks)
    assert 1 <= len(lines) <= count
    for line in lines:  # each follows the section of a queue of its own
        assert blocks[blocks.index(line) - 1]["type"] == "rich_text"


_HOSTILE = st.lists(
    st.sampled_from(["<!channel>", "<@U1>", "`", "*", "&", "\u202e", "\x00", ":smile:", "é"]),
    max_size=6,
).map("".join)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    example=st.sampled_from([x for _, x in EXAMPLES]),
    before=_HOSTILE,
    after=_HOSTILE,
    name=_HOSTILE,
)
def test_diagnosed_cards_and_alerts_show_every_value_exactly(
    example: str, before: str, after: str, name: str
) -> None:
    err = f"{before} {example} {after}"  # apart: glued letters would make other words
    connection = _connection(
        err,
        routes=[{"name": name, "cidr": "172.16.0.0/16"}],
        hosts=[{"name": name, "ip": "172.16.1.10"}],
        queues=[{"name": name or "q", "status": "FAILED", "err_msg": err}],
    )
    card = connection_card(Lookup(connection, "live", NOW), now=NOW)
    assert_within_slack_limits(card)
    assert_shows(card.blocks, err)
    assert len(_cause_sections(card.blocks)) == 1
    incident = Incident(
        id="i",
        connection_id=CID,
        connection_name=name,
        kind="failed",
        queues=(IncidentQueue(name=name, kind="queue", err_msg=err, since=1_700_000_000.0),),
        started_at=1_700_000_060.0,
    )
    alert = alert_message(incident)
    assert_within_slack_limits(alert)
    assert_shows(alert.blocks, err)
    assert len(_cause_sections(alert.blocks)) == 1
    entry = default_catalogue().match(err)
    assert entry is not None
    view = what_to_check_view(entry, connection)
    assert_view_blocks(view["blocks"], max_blocks=100)
    assert_shows(view["blocks"], err)


def test_an_alert_shows_the_cause_under_each_matching_queue() -> None:
    known = _entry("communication-link-failure").examples[0]
    queues = (
        IncidentQueue(name="a", kind="queue", err_msg=known, since=1_700_000_000.0),
        IncidentQueue(name="b", kind="pool", err_msg="who knows", since=1_700_000_000.0),
    )
    incident = Incident(
        id="i", connection_id=CID, connection_name="n", kind="failed", queues=queues,
        started_at=1_700_000_060.0,
    )  # fmt: skip
    alert = alert_message(incident)
    assert_within_slack_limits(alert)
    [line] = _cause_sections(alert.blocks)
    assert parse_button_value(line["accessory"]["value"]) == ("communication-link-failure", CID)
    assert "queue a" in render_text(alert).split("Likely cause")[0]


# --------------------------------------------------------------------------- the modal


def _view_text(view: dict[str, Any]) -> str:
    return str(view)


def test_the_modal_lists_the_checks_in_order_the_findings_and_the_source() -> None:
    entry = _entry("connect-failed")
    err = "failed to connect to specified address 172.16.1.10:3306"
    connection = _connection(err, hosts=[{"name": "<!channel>", "ip": "172.16.1.10"}])
    view = what_to_check_view(entry, connection)
    assert view["type"] == "modal" and len(view["title"]["text"]) <= 24
    assert_view_blocks(view["blocks"], max_blocks=100)
    text = _view_text(view)
    positions = [text.find(check[:40]) for check in entry.checks]
    assert all(p >= 0 for p in positions) and positions == sorted(positions)
    assert_shows(view["blocks"], "<!channel>")  # the host name, exactly and inert
    assert_shows(view["blocks"], err)
    urls = [b["accessory"]["url"] for b in view["blocks"] if b.get("accessory", {}).get("url")]
    assert urls == [entry.doc_url]
    assert "dli_03_0179" in text


def test_the_modal_without_the_connection_says_why_and_still_helps() -> None:
    entry = _entry("cidr-overlap")
    view = what_to_check_view(entry, None, why_not="The connection cannot be read from here.")
    assert_view_blocks(view["blocks"], max_blocks=100)
    text = _view_text(view)
    assert "The connection cannot be read from here." in text
    assert entry.checks[-1][:40] in text


def test_a_modal_for_an_entry_no_longer_known_says_so() -> None:
    view = what_to_check_view(None, None)
    assert_view_blocks(view["blocks"], max_blocks=100)
    assert "no longer in the bot's catalogue" in _view_text(view)


def test_the_catalogue_model_rejects_an_empty_one() -> None:
    with pytest.raises(ValueError, match="entries"):
        Catalogue.model_validate({"entries": []})
