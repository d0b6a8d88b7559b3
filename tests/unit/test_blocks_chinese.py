"""The builders in Chinese: our words come from the zh-CN catalogue, DLI's and people's words stay
exact (Chinese err_msgs included), statuses stay DLI's, and every limit still holds."""

from __future__ import annotations

from typing import Any

import pytest

from bot.audit import AuditEntry
from bot.blocks.guardrails import audit_message, policy_message
from bot.blocks.home import home_view
from bot.blocks.lists import choose_connection, connection_list, watches_message
from bot.blocks.message import Message
from bot.blocks.replies import error_message
from bot.blocks.route import RouteLine, route_message
from bot.dli.ids import normalise_id
from bot.dli.models import Connection
from bot.i18n import speaking
from bot.lookup.cache import ProjectRef
from tests.slack_limits import (
    assert_home_view_within_limits,
    assert_shows,
    assert_within_slack_limits,
    readable,
    text_objects,
)
from tests.unit.test_blocks import NOW, card, connection, many_connections, queue

# DLI's own words, some of them Chinese (as its err_msgs often are), some hostile.
NAME = "订单库 <!here> *peer*"
CONN_ID = "4c693ecc-bab8-4113-a838-129cedc9a563"
ERR = "创建增强型跨源连接失败：<@U1> `x` 子网 subnet-a 的 IP 地址不足"
LONG_ERR = "对等连接配额不足；" * 1_500
PROJECT = ProjectRef("生产", "cn-north-4")


def everything(node: Any) -> str:
    """All the text a reader sees: rich text runs, plain_text and our mrkdwn alike."""
    return "\n".join([*readable(node), *(t["text"] for t in text_objects(node))])


def failing() -> Connection:
    return connection(
        id=CONN_ID,
        name=NAME,
        available_queue_info=[
            queue("队列_etl", "FAILED", ERR, update_time=1_700_000_000_000),
            queue("q_long", "FAILED", LONG_ERR),
            queue("q_ok", "ACTIVE"),
        ],
    )


def chinese(build: Any, *args: Any, **kwargs: Any) -> Any:
    with speaking("zh-CN"):
        return build(*args, **kwargs)


def test_a_chinese_card_has_our_words_translated_and_dli_words_exact() -> None:
    message = chinese(card, failing(), "cache", console_url="https://console.example/c")
    text = everything(message.blocks)
    for ours in ("刷新", "关注", "历史", "在控制台中打开", "状态：", "子网：", "更新于", "缓存于"):
        assert ours in text, ours
    for english in ("Refresh", "Open in console", "Status:", "Subnet:", "updated", "Cached"):
        assert english not in text, english
    for exact in (NAME, CONN_ID, ERR, "队列_etl", "FAILED", "ACTIVE"):
        assert_shows(message.blocks, exact)
    # The long err_msg is cut with the Chinese marker, and what is shown is its exact prefix.
    assert "个字符" in text and "more characters" not in text
    assert_shows(message.blocks, LONG_ERR)
    assert message.text.startswith(NAME.replace("<", "&lt;").replace(">", "&gt;") + "（")
    assert "状态为 ACTIVE" in message.text


def test_a_chinese_list_and_shortlist_are_in_chinese_with_values_exact() -> None:
    others = [connection(id=f"id-{i}", name=f"备用-{i}") for i in range(3)]
    listing = chinese(connection_list, [failing(), *others], filter_label="failed", now=NOW)
    assert_within_slack_limits(listing)
    text = everything(listing.blocks)
    assert "DLI 增强型跨源连接 · failed" in text
    assert "4 个连接" in text and "1 个含 FAILED 队列" in text and "3 个中 2 个 FAILED" in text
    assert "connections" not in text and "with FAILED queues" not in text
    for exact in (NAME, "备用-0", "failed"):
        assert_shows(listing.blocks, exact)
    assert listing.text.startswith("4 个 DLI 连接（failed）；1 个含 FAILED 队列：")

    empty = chinese(connection_list, [], filter_label="*失败*", now=NOW)
    assert_within_slack_limits(empty)
    assert "没有与 *失败* 匹配的连接。" in everything(empty.blocks)

    shortlist = chinese(choose_connection, [failing(), *others], NAME)
    assert_within_slack_limits(shortlist)
    text = everything(shortlist.blocks)
    assert "匹配到 4 个连接，要看哪一个？" in text and "查看" in text
    assert "Which one?" not in text and "Show" not in text
    for exact in (NAME, CONN_ID, "id-2"):
        assert_shows(shortlist.blocks, exact)


def test_chinese_watches_home_tab_and_route_dry_run() -> None:
    watches = chinese(
        watches_message, [failing()], [("旧连接", "id-gone")], unknown=[("x", "id-x")], now=NOW
    )
    assert_within_slack_limits(watches)
    text = everything(watches.blocks)
    assert "本频道关注的连接" in text and "在 DLI 中未找到（已删除？）" in text
    assert "Watched in this channel" not in text
    assert_shows(watches.blocks, "旧连接")

    view = chinese(
        home_view,
        [(failing(), ["C0123"]), (connection(id="id-2", name="计费"), ["C0456"])],
        project_of={normalise_id(CONN_ID): PROJECT, "id-2": ProjectRef("测试")},
        now=NOW,
        demo=True,
    )
    assert_home_view_within_limits(view)
    text = everything(view["blocks"])
    assert "你关注的 DLI 连接" in text and "已关注 *2 个连接* · 1 个含 FAILED 队列" in text
    assert "FAILED 已持续" in text and "演示数据" in text and "项目 生产 · cn-north-4" in text
    assert "you watch" not in text and "watched in" not in text
    for exact in (NAME, "队列_etl", "计费"):
        assert_shows(view["blocks"], exact)
    empty = chinese(home_view, [], now=NOW)
    assert "`/dliconn watch &lt;id-or-name&gt;`" in everything(empty["blocks"])

    lines = [
        RouteLine("C0123", "watched", by="U0ALICE", since=1.7e9, muted_until=1.8e9),
        RouteLine("C0456", "hidden", by="运维", since=1.7e9, paused=True),
        RouteLine("C0789", "tags", tags=(("环境", "生产 <!here>"),)),
        RouteLine("C0ABC", "watch_all"),
    ]
    route = chinese(route_message, failing(), PROJECT, lines)
    assert_within_slack_limits(route, mentions=("U0ALICE",))
    text = everything(route.blocks)
    assert "告警路由" in text and "的告警会发到 3 个频道" in text and "静音至" in text
    assert "would alert" not in text and "watched by" not in text
    for exact in (NAME, "环境=生产 <!here>", "运维", "watch_all", "watch_tags"):
        assert_shows(route.blocks, exact)
    nowhere = chinese(route_message, failing(), None, [])
    assert_within_slack_limits(nowhere)
    assert "/dliconn watch" in everything(nowhere.blocks)


@pytest.mark.parametrize(
    ("kind", "headline"),
    [
        ("not_found", "未找到连接"),
        ("forbidden", "无权读取"),
        ("throttled", "限流"),
        ("unavailable", "无法连接 DLI"),
        ("auth_failed", "拒绝了机器人的凭证"),
        ("bad_response", "无法解析"),
        ("bad_input", "无法理解"),
        ("store_unavailable", "Redis"),
        ("unexpected", "内部出错"),
        ("KeyError('secret')", "内部出错"),
    ],
)
def test_chinese_error_replies(kind: str, headline: str) -> None:
    subject, reference, request_id = "订单 <!channel> `x`", "c0ffee", "请求-<@U1>"
    message = chinese(
        error_message, kind, subject=subject, correlation_id=reference, request_id=request_id
    )
    assert_within_slack_limits(message)
    text = everything(message.blocks)
    assert headline in text and "参考编号 c0ffee" in text and "DLI 请求 ID" in text
    assert "reference" not in text and "Try again" not in text
    assert_shows(message.blocks, reference)
    assert_shows(message.blocks, request_id)
    if kind in ("not_found", "bad_input"):
        assert_shows(message.blocks, subject)
    assert message.text.endswith("（参考编号 c0ffee）")


def test_chinese_guardrail_replies() -> None:
    policy = chinese(
        policy_message,
        "C0123",
        sharing="仅本组织",
        verbs=["lookup", "watch"],
        verbs_rule="channels.C0123.allow",
        operators=["U0ALICE", "ops-team"],
        yours=["lookup"],
        projects=["生产"],
    )
    assert_within_slack_limits(policy, mentions=("U0ALICE",))
    text = everything(policy.blocks)
    assert "允许的操作" in text and "可用命令：lookup、watch" in text and "仅限 " in text
    assert "Verbs:" not in text
    entries = [AuditEntry(1.7e9, "U0ALICE", "C0123", "watch", "watch", NAME, "生产", "成功")]
    audit = chinese(audit_message, "C0123", entries, asked=20)
    assert_within_slack_limits(audit, mentions=("U0ALICE",))
    text = everything(audit.blocks)
    assert "的最近变更" in text and "（项目 生产）：成功" in text and "记录保留 90 天" in text
    assert_shows(audit.blocks, NAME)


def test_chinese_builders_keep_within_limits_at_their_largest() -> None:
    # Budgets that reserve room for our words must hold in Chinese too.
    huge = many_connections("连接", "名")
    listing = chinese(connection_list, huge, filter_label="all", now=NOW)
    assert_within_slack_limits(listing)
    assert "… 另有 " in everything(listing.blocks)
    shortlist = chinese(choose_connection, huge[:100], "连接")
    assert_within_slack_limits(shortlist)
    assert "请按 id 查询" in everything(shortlist.blocks)
    view = chinese(home_view, [(c, ["C0123"]) for c in huge[:300]], now=NOW)
    assert_home_view_within_limits(view)
    queues = [queue(f"失败_{i:03}", "FAILED", "错" * 9_990) for i in range(60)]
    queues += [queue(f"active_{i:03}", "ACTIVE") for i in range(200)]
    big = chinese(card, connection(available_queue_info=queues))
    assert isinstance(big, Message)
    text = everything(big.blocks)
    assert "（200 个队列）：" in text and "另有" in text


def test_a_card_with_one_queue_or_pool_says_one_not_all() -> None:
    one_queue = connection(available_queue_info=[queue("q1", "ACTIVE")], elastic_resource_pools=[])
    one_pool = connection(available_queue_info=[], elastic_resource_pools=[queue("p1", "ACTIVE")])
    two = connection(
        available_queue_info=[queue("q1", "ACTIVE"), queue("q2", "ACTIVE")],
        elastic_resource_pools=[],
    )
    with speaking("zh-CN"):
        texts = [card(c).text for c in (one_queue, one_pool, two)]
    assert "1 个队列，状态 ACTIVE" in texts[0] and "均为" not in texts[0]
    assert "1 个弹性资源池，状态 ACTIVE" in texts[1] and "均为" not in texts[1]
    assert "2 个队列均为 ACTIVE" in texts[2]
