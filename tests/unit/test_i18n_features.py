"""History, diagnosis and the connectivity test for a zh-CN reader: our words in Chinese, DLI's
values exact, still valid Block Kit; every catalogue entry translated within its own rules."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given

from bot.blocks.actions import ACTION_WHAT_TO_CHECK_DOC
from bot.blocks.conntest import (
    conntest_button,
    conntest_modal,
    conntest_result,
    dli_refused,
    not_bound,
)
from bot.blocks.diagnosis import cause_blocks, what_to_check_view
from bot.blocks.history import history_message, never_seen_message, not_recorded_message, span
from bot.blocks.message import Message
from bot.diagnosis import Entry, Value, default_catalogue, self_check
from bot.diagnosis.catalogue import CAUSE_MAX, CHECK_MAX
from bot.dli.models import Connection
from bot.i18n import speaking
from bot.i18n.catalogues import read_catalogue
from bot.i18n.extract import TRANSLATED_FIELDS
from bot.lookup.cache import ProjectRef
from bot.watch.history import HistoryEntry, HistoryPage, HistoryRecord, Tally
from bot.watch.transitions import BindingState, ConnState
from tests.fakes.chat import text_of
from tests.slack_limits import assert_shows, assert_view_blocks, assert_within_slack_limits
from tests.unit.test_exact_values import _ANY, _SETTINGS, a_connection, inert

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
CID = "2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d"
ENTRIES = default_catalogue().entries
ERR = "failed to connect to specified address 172.16.1.10:3306 <!here> `x`"


def _connection(err: str = ERR) -> Connection:
    return Connection.model_validate(
        {
            "id": CID,
            "name": "orders <!channel>",
            "status": "ACTIVE",
            "hosts": [{"name": "mysql-primary", "ip": "172.16.1.10"}],
            "routes": [{"name": "swr", "cidr": "100.125.3.0/24"}],
            "available_queue_info": [
                {"name": "sql_prod", "status": "FAILED", "err_msg": err, "update_time": 1},
                {"name": "sql_ok", "status": "ACTIVE", "err_msg": ""},
            ],
        }
    )


def _page() -> HistoryPage:
    at = NOW.timestamp()
    entries = [
        HistoryEntry(CID, "status", at - 7200, "queue:q1", "ACTIVE", "FAILED", at - 7200, ERR),
        HistoryEntry(
            CID, "status", at - 6000, "queue:q1", "FAILED", "ACTIVE", at - 6000, "", 1200.0
        ),
        HistoryEntry(CID, "status", at - 600, "pool:p1", "ACTIVE", "FAILED", at - 600, "boom"),
    ]
    records = [HistoryRecord(f"{n}-0", e, Tally(n, 1, 1200.0, n)) for n, e in enumerate(entries)]
    bindings = {"pool:p1": BindingState(name="p1", kind="pool", status="FAILED", since=at - 600)}
    state = ConnState(name="orders", status="ACTIVE", bindings=bindings)
    return HistoryPage(records[::-1], False, Tally(2, 1, 1200.0, 3), state, True)


def _rich_texts(node: Any) -> list[dict[str, Any]]:
    """Every rich text element in `node`."""
    if isinstance(node, dict):
        own = [node] if node.get("type") in ("text", "date") and "elements" not in node else []
        return own + [e for value in node.values() for e in _rich_texts(value)]
    if isinstance(node, list):
        return [e for item in node for e in _rich_texts(item)]
    return []


# --------------------------------------------------------------------------- history


def test_a_history_reply_in_chinese_keeps_dli_values_and_slack_dates() -> None:
    project = ProjectRef("prod", "cn-north-4")
    with speaking("zh-CN"):
        message = history_message(_connection(), project, _page(), window="7d", now=NOW)
    assert_within_slack_limits(message)
    text = text_of(message)
    assert "最近 7 天：2 次故障" in text and "Last 7d" not in text
    assert "共中断 30 分钟" in text  # 20 min recovered + 10 min still failed
    assert "平均恢复时间 20 分钟（1 次恢复）" in text
    assert "资源池 p1 仍为 FAILED，已持续 10 分钟" in text
    assert "队列 q1 FAILED → 🟢 ACTIVE · 20 分钟后恢复" in text
    assert "mean time" not in text and "recovered" not in text and "transitions" not in text
    for shown in ("orders <!channel>", ERR, "boom", "q1", "p1", "FAILED", "ACTIVE"):
        assert_shows(message.blocks, shown)
    assert "最近 7 天内 2 次故障" in message.text
    # Every moment is a Slack date element (the reader's own time zone) with a UTC fallback;
    # no time is written out as our text.
    dates = [e for e in _rich_texts(message.blocks) if e["type"] == "date"]
    assert len(dates) == 3 and all(d["fallback"].endswith(" UTC") for d in dates)
    assert not any("UTC" in e.get("text", "") for e in _rich_texts(message.blocks))


def test_plain_history_answers_in_chinese() -> None:
    connection = _connection()
    with speaking("zh-CN"):
        replies = [
            not_recorded_message(connection, ProjectRef("prod", "cn-north-4")),
            not_recorded_message(connection, None),
            never_seen_message(connection, ProjectRef("prod", "cn-north-4")),
            never_seen_message(connection, None),
        ]
    for reply in replies:
        assert_within_slack_limits(reply)
        assert_shows(reply.blocks, "orders <!channel>")
        assert "watcher has" not in text_of(reply) and "监控进程 (watcher)" in text_of(reply)
    assert "尚未在项目 prod · cn-north-4 中运行" in text_of(replies[0])
    assert "`python -m bot watch`" in str(replies[0].blocks)


def test_durations_and_windows_read_in_chinese() -> None:
    with speaking("zh-CN"):
        assert [span(s) for s in (5, 60, 3600, 3660, 86400, 90000)] == [
            "不到 1 分钟", "1 分钟", "1 小时", "1 小时 1 分钟", "1 天", "1 天 1 小时"
        ]  # fmt: skip
        empty = HistoryPage([], False, Tally(0, 0, 0.0, 0), None, True)
        message = history_message(_connection(), None, empty, window="24h", now=NOW)
    assert_within_slack_limits(message)
    assert "最近 24 小时内没有记录到状态变化。" in text_of(message)


# --------------------------------------------------------------------------- diagnosis


def _entry(entry_id: str) -> Entry:
    found = default_catalogue().get(entry_id)
    assert found is not None
    return found


def test_the_cause_line_and_the_modal_in_chinese() -> None:
    entry = _entry("connect-failed")
    connection = _connection()
    with speaking("zh-CN"):
        [line] = cause_blocks(ERR, CID)
        view = what_to_check_view(entry, connection)
        chinese = [entry.shown_title(), entry.shown_cause(), *entry.shown_checks()]
    assert line["text"]["text"].startswith("*可能原因：* 队列的网络")
    assert line["accessory"]["text"]["text"] == "排查项"
    assert view["title"]["text"] == "排查项" and view["close"]["text"] == "关闭"
    assert_view_blocks(view["blocks"], max_blocks=100)
    text = str(view)
    assert all(c in text for c in chinese) and view["blocks"][0]["text"]["text"] == chinese[0]
    assert not any(c in text for c in (entry.title, entry.cause, *entry.checks))
    assert "机器人自行检查的结果" in text and "What to check" not in text
    for shown in (ERR, "sql_prod", "swr", "100.125.3.0/24", "mysql-primary", "172.16.1.10"):
        assert_shows(view["blocks"], shown)
    # The Huawei page in Chinese: the same path under /intl/zh-cn.
    [doc] = [b for b in view["blocks"] if b.get("accessory", {}).get("url")]
    chinese_page = "https://support.huaweicloud.com/intl/zh-cn/dli_faq/dli_03_0179.html"
    assert doc["accessory"]["action_id"] == ACTION_WHAT_TO_CHECK_DOC
    assert doc["accessory"]["url"] == chinese_page and chinese_page in text
    assert entry.doc_url == "https://support.huaweicloud.com/intl/en-us/dli_faq/dli_03_0179.html"


def test_the_huawei_page_follows_the_reader() -> None:
    subnet = _entry("subnet-no-ip")
    assert subnet.shown_page() == (subnet.page_id, subnet.doc_url)
    with speaking("zh-CN"):
        assert subnet.shown_page() == (
            "zh-cn_topic_0013748726",
            "https://support.huaweicloud.com/intl/zh-cn/usermanual-vpc/zh-cn_topic_0013748726.html",
        )
        for entry in ENTRIES:
            page_id, url = entry.shown_page()
            assert "en-us" not in url and page_id in url
            assert url.removeprefix("https://support.huaweicloud.com/intl/zh-cn/") == (
                entry.doc_url.removeprefix("https://support.huaweicloud.com/intl/en-us/").replace(
                    "en-us_topic_", "zh-cn_topic_"
                )
            )


def test_self_checks_in_chinese_keep_values_apart() -> None:
    connection = _connection()
    with speaking("zh-CN"):
        found = self_check(_entry("connect-failed"), [ERR], connection)
        hosts = self_check(_entry("unknown-host"), ["UnknownHostException: node-2"], connection)
    assert found == [
        ("路由 ", Value("swr"), "（", Value("100.125.3.0/24"),
         "）位于华为云为其服务保留的网段内（100.64.x.x、100.125.x.x）。"),
        ("主机 ", Value("mysql-primary"), "（", Value("172.16.1.10"), "）位于错误信息中的 ",
         Value("172.16.1.10"), " 内。"),
    ]  # fmt: skip
    assert hosts == [
        ("错误信息中的 ", Value("node-2"), " 不在连接的主机信息中（共 ", "1", " 条）。")
    ]


def _zh(catalogue: dict[str, str], english: str) -> str:
    translated = catalogue.get(english, "")
    assert translated, f"no Chinese for {english!r}"
    return translated


def test_every_catalogue_entry_is_translated_within_the_catalogues_own_rules() -> None:
    chinese = {
        m.id: m.string
        for m in read_catalogue("zh-CN")
        if isinstance(m.id, str) and isinstance(m.string, str) and not m.fuzzy
    }
    assert TRANSLATED_FIELDS == ("title", "cause", "checks")
    for entry in ENTRIES:
        fields = {
            "title": _zh(chinese, entry.title),
            "cause": _zh(chinese, entry.cause),
            "checks": [_zh(chinese, check) for check in entry.checks],
        }
        # The entry's own model checks the translated words: no `<`, `>`, backticks,
        # @channel/@here or control characters, title 80, cause CAUSE_MAX, checks CHECK_MAX.
        translated = Entry.model_validate({**entry.model_dump(), **fields})
        assert len(translated.cause) <= CAUSE_MAX
        assert all(len(check) <= CHECK_MAX for check in translated.checks)
        with speaking("zh-CN"):
            assert entry.shown_title() == fields["title"] != entry.title
            assert entry.shown_cause() == fields["cause"] != entry.cause
            assert list(entry.shown_checks()) == fields["checks"]
        assert entry.shown_checks() == entry.checks  # English outside a zh-CN reply


def test_an_unknown_failure_still_gets_nothing_in_chinese() -> None:
    with speaking("zh-CN"):
        assert cause_blocks("something nobody has seen", CID) == []


# --------------------------------------------------------------------------- connectivity test


@pytest.mark.parametrize("connectivity", ["REACHABLE", "UNREACHABLE", "CHECKING", "WEIRD"])
def test_connectivity_replies_in_chinese(connectivity: str) -> None:
    connection = _connection()
    diagnosis = _entry("connect-failed") if connectivity == "UNREACHABLE" else None
    with speaking("zh-CN"):
        results = [
            conntest_result(
                connection,
                ProjectRef("prod", "cn-north-4"),
                queue="sql_prod",
                address="172.16.1.10:3306",
                connectivity=connectivity,
                task_id="42",
                request_id="req-1",
                user_id="U0ALICE",
                waited=20.0,
                queue_failed=True,
                diagnosis=found,
            )
            for found in (diagnosis, None)
        ]
    for result in results:
        assert_within_slack_limits(result, mentions=("U0ALICE",))
        text = text_of(result)
        assert "队列 sql_prod → 172.16.1.10:3306" in text and "连接：orders <!channel>" in text
        assert "DLI 任务 ID 42" in text and "DLI 请求 ID req-1" in text
        assert "由 @U0ALICE 运行" in text
        assert "queue " not in text and "on connection" not in text and "Run by" not in text
        for shown in ("sql_prod", "172.16.1.10:3306", "orders <!channel>", CID, "req-1"):
            assert_shows(result.blocks, shown)
        assert result.text.startswith("连通性测试：sql_prod → 172.16.1.10:3306 结果为 ")
    verdict = {"REACHABLE": "可达", "UNREACHABLE": "不可达", "CHECKING": "20 秒后 DLI 仍在检查"}
    assert verdict.get(connectivity, "DLI 返回 WEIRD") in text_of(results[0])
    if connectivity == "UNREACHABLE":
        diagnosed, general = (text_of(r) for r in results)
        assert "排查项 （队列状态为 FAILED；可能原因：队列的网络" in diagnosed
        assert "https://support.huaweicloud.com/intl/zh-cn/dli_faq/dli_03_0179.html" in diagnosed
        assert "1. 该队列的绑定状态为 FAILED" in general and "网络ACL双向放通" in general


def test_the_verdict_is_bold_and_the_values_are_not() -> None:
    with speaking("zh-CN"):
        result = conntest_result(
            _connection(),
            None,
            queue="q",
            address="a:1",
            connectivity="REACHABLE",
            task_id="1",
            request_id=None,
        )
    first = result.blocks[0]["elements"][0]["elements"]
    styled = [(e.get("text"), e.get("style", {})) for e in first if e["type"] == "text"]
    assert ("q", {"code": True}) in styled and ("a:1", {"code": True}) in styled
    assert (" 可达", {"bold": True}) in styled


def test_the_connectivity_modal_button_and_refusals_in_chinese() -> None:
    connection = _connection()
    with speaking("zh-CN"):
        modal = conntest_modal(connection, "sql_prod", metadata="{}")
        button = conntest_button(CID, "sql_prod")
        unbound = not_bound(connection, "nope", ["sql_prod", "sql_ok"])
        refused = dli_refused("sql_prod", "DLI.0001: 队列不存在", "DLI.0001", "req-1")
        silent = dli_refused("sql_prod", "", None, None)
    assert modal["title"]["text"] == "连通性测试" and len(modal["title"]["text"]) <= 24
    assert (modal["submit"]["text"], modal["close"]["text"]) == ("运行测试", "取消")
    assert_view_blocks(modal["blocks"], max_blocks=100)
    assert_shows(modal["blocks"], CID)
    assert_shows(modal["blocks"], "orders <!channel>")
    labels = [b["label"]["text"] for b in modal["blocks"] if b["type"] == "input"]
    assert labels == ["队列", "地址 (host[:port])"]
    assert modal["blocks"][2]["hint"]["text"] == (
        "连接的主机：mysql-primary → 172.16.1.10。添加 :port 可测试端口。"
    )
    assert button is not None and button["text"]["text"] == "测试连通性"
    assert button["confirm"]["confirm"]["text"] == "选择地址"
    for message, values in (
        (unbound, ("nope", "sql_prod", "sql_ok", CID)),
        (refused, ("sql_prod", "DLI.0001: 队列不存在", "req-1")),
        (silent, ("sql_prod",)),
    ):
        assert_within_slack_limits(message)
        for shown in values:
            assert_shows(message.blocks, shown)
    assert "没有名为 nope 的队列或资源池绑定到" in text_of(unbound)
    assert "已绑定：sql_prod、sql_ok" in text_of(unbound)
    assert "DLI 拒绝从队列 sql_prod 运行测试：未说明原因" in text_of(silent)
    assert refused.text == "DLI 拒绝运行连通性测试"


@_SETTINGS
@given(name=_ANY, cid=_ANY, queue=_ANY, address=_ANY, word=_ANY, other=_ANY)
def test_chinese_builders_show_every_value_exactly(
    name: str, cid: str, queue: str, address: str, word: str, other: str
) -> None:
    conn = a_connection(name, cid, "ACTIVE", other, word)
    project = ProjectRef("p", other)
    entry = max(ENTRIES, key=lambda e: sum(map(len, e.checks)))
    with speaking("zh-CN"):
        messages: list[tuple[Message, tuple[str, ...]]] = [
            (
                conntest_result(
                    conn,
                    project,
                    queue=queue,
                    address=address,
                    connectivity=connectivity,
                    task_id=other,
                    request_id=other,
                    user_id="U0ALICE",
                    queue_failed=True,
                    diagnosis=entry if connectivity == "UNREACHABLE" else None,
                ),
                (queue, address, conn.id, other),
            )
            for connectivity in ("REACHABLE", "UNREACHABLE", "CHECKING", word)
        ]
        messages.append((not_bound(conn, queue, [name, other]), (queue, name, other)))
        messages.append((dli_refused(queue, word, other, other), (queue, word, other)))
        view = what_to_check_view(entry, conn)
        modal = conntest_modal(conn, queue, metadata="{}")
    for message, values in messages:
        inert(message, mentions=("U0ALICE",))
        for shown in values:
            assert_shows(message.blocks, shown if shown.strip() else "")
    assert_view_blocks(view["blocks"], max_blocks=100)
    assert_view_blocks(modal["blocks"], max_blocks=100)
    assert_shows(modal["blocks"], conn.id)
