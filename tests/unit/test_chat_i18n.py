"""The chat features in Simplified Chinese: help, not-understood reasons, watch notices, refusals,
the audit and policy views; the person's input and DLI's values exact in every language; what is
stored stays English; a reply for everyone in the channel's language, the asker's words in theirs.
"""

from __future__ import annotations

import logging
import re

import pytest

from bot import audit as trail
from bot.audit import AuditEntry, shown_action, shown_result
from bot.blocks.actions import TEST_ADDRESS_INPUT, TEST_QUEUE_INPUT
from bot.blocks.guardrails import refusal
from bot.blocks.message import Message
from bot.chat.chatops import help_reply
from bot.chat.conntest import input_problem, submission_errors
from bot.chat.parsing import HELP_COMMANDS, Help, Policy, help_text, parse_command
from bot.chat.replies import for_everyone, guarded, privately
from bot.config import ChannelConfig, Guardrails
from bot.dli.targets import MAX_ADDRESS_CHARS, AddressProblem, address_problem, explained
from bot.i18n import current_locale, speaking
from bot.lookup.projects import NotFoundAnywhere
from bot.policy import ChannelFacts, Person, decide
from bot.slack.facts import Asking, Guard
from tests.fakes.chat import chat_parts, connection_id, failing, healthy, text_of
from tests.helpers import chinese
from tests.slack_limits import assert_shows, assert_within_slack_limits

ORDERS = connection_id(1)
GONE = connection_id(3)
ONCALL, ALICE, BOB = "S0ONCALL", "U0ALICE", "U0BOB"
C = "C0PAYMENTS"
#: A few Chinese characters, enough to tell a translated sentence from an English one.
# --------------------------------------------------------------------------- help


async def test_help_is_in_chinese_with_every_command_exactly_as_typed() -> None:
    async with chat_parts() as parts:
        with speaking("zh-CN"):
            reply = await parts.chat.command(Help(), ephemeral=True, channel="C1", user="U1")
    text = text_of(reply.message)
    assert_within_slack_limits(reply.message)
    assert "用于查询 DLI 增强型跨源连接" in text and "looks up DLI" not in text
    assert "其队列或资源池变为 FAILED 时在此频道告警" in text
    assert "alert this channel" not in text
    for commands in HELP_COMMANDS:
        for typed in commands:
            assert typed in text
    assert "/dliconn show list" in text  # an example inside an explanation, as typed


def test_the_help_has_the_same_commands_and_markup_in_both_languages() -> None:
    english = help_text()
    with speaking("zh-CN"):
        zh = help_text()
    assert zh != english
    assert re.findall(r"`[^`]*`", zh) == re.findall(r"`[^`]*`", english)
    assert zh.count("\n") == english.count("\n") and zh.count("*") == english.count("*")


# --------------------------------------------------------------------------- not understood


@pytest.mark.parametrize(
    ("typed", "reason", "echo"),
    [
        ("frobnicate the thing", "未知命令", '"frobnicate"'),
        # An echo that is also one of our English words is still the person's input.
        ("ok please", "未知命令", '"ok"'),
        ("订单 查询", "未知命令", '"订单"'),
        ("history orders 31d", "不是有效的历史时间窗口", '"31d"'),
        ("test orders q-1 10.0.0.300:99", "主机不是有效的 IPv4 地址", '"10.0.0.300:99"'),
        ("test orders q-1 db:0", "端口必须是 1 到 65535 之间的数字", '"db:0"'),
        ("12345", "连接名称不能只包含数字", '"12345"'),
        ("x" * 70, "连接名称最多 64 个字符", '"' + "x" * 39 + '…"'),
    ],
)
async def test_a_not_understood_reply_is_in_chinese_and_echoes_the_input_exactly(
    typed: str, reason: str, echo: str
) -> None:
    async with chat_parts() as parts:
        with speaking("zh-CN"):
            parsed = parse_command(typed)
            reply = await parts.chat.command(parsed, ephemeral=True, channel="C1", user="U1")
    assert isinstance(parsed, Help) and parsed.reason is not None
    assert reason in parsed.reason and echo in parsed.reason
    assert not reply.shareable
    assert_within_slack_limits(reply.message)
    assert_shows(reply.message.blocks, parsed.reason)
    assert "成功" not in text_of(reply.message)  # "ok", echoed, is not translated


def test_reasons_without_an_echo_are_translated_and_keep_the_grammar_words() -> None:
    with speaking("zh-CN"):
        reasons = {
            text: getattr(parse_command(text), "reason", None)
            for text in ("watches now", "policy now", "list stale", "audit 99", "watch a b")
        }
    assert reasons == {
        "watches now": "watches 不接受参数",
        "policy now": "policy 不接受参数",
        "list stale": "list 只接受以下之一：failed, active, deleted",
        "audit 99": "audit 需要 1 到 30 之间的条目数",
        "watch a b": "watch 需要一个连接 ID 或名称",
    }


ADDRESSES_WITH_PROBLEMS = [
    "",
    "h" * (MAX_ADDRESS_CHARS + 1),
    "db:99999",
    "10.0.0.256",
    "db_host",
    "::1",
]


def test_the_addresses_tried_cover_every_kind_of_problem() -> None:
    assert {address_problem(a) for a in ADDRESSES_WITH_PROBLEMS} == set(AddressProblem)


@pytest.mark.parametrize("address", ADDRESSES_WITH_PROBLEMS)
def test_every_address_problem_has_its_translation(address: str) -> None:
    problem = address_problem(address)
    assert problem is not None
    # English: the same words as the client's ValueError.
    assert input_problem("q1", address) == explained(problem)
    with speaking("zh-CN"):
        shown = input_problem("q1", address)
        errors = submission_errors(
            {TEST_QUEUE_INPUT: {TEST_QUEUE_INPUT: {"value": "q/1"}},
             TEST_ADDRESS_INPUT: {TEST_ADDRESS_INPUT: {"value": address}}}
        )  # fmt: skip
    assert shown is not None and chinese(shown)
    assert not address or address not in shown  # our words never quote it
    assert errors is not None and all(chinese(e) and e.endswith("。") for e in errors.values())


# --------------------------------------------------------------------------- watching


async def test_watch_and_unwatch_confirmations_are_in_chinese_with_values_exact() -> None:
    async with chat_parts(failing(ORDERS, "orders_<b>")) as parts:
        with speaking("zh-CN"):
            watched = await parts.chat.watching.watch(ORDERS, channel="C1", user=ALICE)
            again = await parts.chat.watching.watch(ORDERS, channel="C1", user=ALICE)
            stopped = await parts.chat.watching.unwatch("orders_<b>", channel="C1", user=ALICE)
            missing = await parts.chat.watching.unwatch("orders_<b>", channel="C1", user=ALICE)
    for reply in (watched, again, stopped, missing):
        assert_within_slack_limits(reply.message, mentions=[ALICE])
        assert_shows(reply.message.blocks, "orders_<b>")
    text = text_of(watched.message)
    assert "此频道开始关注" in text and "Watching" not in text
    assert "其中 1 个队列和资源池当前为 FAILED" in text  # DLI's status, as DLI says it
    assert "`/dliconn unwatch`" in watched.message.blocks[-1]["elements"][0]["text"]
    assert "此频道已在关注" in text_of(again.message)
    assert "此频道已取消关注" in text_of(stopped.message)
    assert "此频道未关注" in text_of(missing.message)
    assert chinese(watched.message.text) and chinese(stopped.message.text)


async def test_mute_and_acknowledge_notices_are_in_chinese() -> None:
    async with chat_parts(failing(ORDERS, "orders")) as parts:
        with speaking("zh-CN"):
            muted = await parts.chat.watching.mute(ORDERS, 4, channel="C1", user=ALICE)
            nothing = await parts.chat.watching.acknowledge(ORDERS, channel="C1", user=ALICE)
    assert "的告警已在此静音 4 小时" in text_of(muted.message)
    assert muted.message.text == "已静音 4 小时"
    assert "此处该连接已没有未关闭的告警" in text_of(nothing.message)
    assert_shows(muted.message.blocks, ORDERS)


# --------------------------------------------------------------------------- refusals


def test_a_refusal_names_its_rule_in_chinese_and_logs_in_english() -> None:
    rules = ChannelConfig(operators=[ONCALL, ALICE])
    decision = decide(Guardrails(), rules, "mute", ChannelFacts(C), Person(BOB))
    english = decision.sentence
    with speaking("zh-CN"):
        shown, logged, message = decision.sentence, decision.logged, refusal(decision)
    assert shown == f"仅 {ONCALL} 或 {ALICE} 可以在 {C} 中静音告警（channels.{C}.operators）。"
    assert (
        logged
        == english
        == (f"Only members of {ONCALL} or {ALICE} may mute alerts in {C} (channels.{C}.operators).")
    )
    assert "静音告警" in text_of(message) and f"channels.{C}.operators" in text_of(message)
    assert message.text == shown
    alone = decide(
        Guardrails(), ChannelConfig(operators=[ALICE]), "test", ChannelFacts(C), Person(BOB)
    )
    with speaking("zh-CN"):
        assert_within_slack_limits(refusal(alone), mentions=[ALICE])


@pytest.mark.parametrize(
    ("channel", "person", "rules", "words"),
    [
        (ChannelFacts(C, external=True), Person(BOB), ChannelConfig(), "与其他组织共享"),
        (ChannelFacts(C), Person(BOB), ChannelConfig(allow=["lookup"]), "此频道不允许"),
        (ChannelFacts(C, external=None), Person(BOB), ChannelConfig(), "是否与其他组织共享"),
        (ChannelFacts(C), Person(BOB, external=True), ChannelConfig(operators=[ALICE]), "其他组织"),
        (
            ChannelFacts(C),
            Person(BOB, unknown_groups=frozenset({ONCALL})),
            ChannelConfig(operators=[ONCALL]),
            "暂时未列出",
        ),
    ],
)
def test_every_refusal_reads_in_chinese_with_its_rule(
    channel: ChannelFacts, person: Person, rules: ChannelConfig, words: str
) -> None:
    decision = decide(Guardrails(external_channels="read"), rules, "watch", channel, person)
    assert not decision.allowed and decision.rule
    english_ids = [p for p in decision.parts() if not isinstance(p, str)]
    with speaking("zh-CN"):
        sentence = decision.sentence
        ids = [p for p in decision.parts() if not isinstance(p, str)]
    assert words in sentence and "关注或取消关注连接" in sentence
    assert sentence.endswith(f"（{decision.rule}）。")
    # The channel, people and groups stay apart, for the builder to show as mentions.
    assert sorted(i.ids for i in ids) == sorted(i.ids for i in english_ids)
    assert not chinese(decision.logged)


async def test_the_guards_log_line_stays_english_whoever_is_refused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with chat_parts() as parts:
        guard = Guard(parts.services.deployment)
        with speaking("zh-CN"), caplog.at_level(logging.WARNING, logger="bot.slack.facts"):
            checked = await guard.check("watch", Asking(C, BOB, ext_shared=True))
    assert not checked.allowed
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("refused")]
    assert "is shared with another organisation" in line and not chinese(line)


# --------------------------------------------------------------------------- audit and policy


async def test_the_audit_reply_is_in_chinese_and_the_trail_stays_english() -> None:
    async with chat_parts(healthy(ORDERS, "orders")) as parts:
        with speaking("zh-CN"):
            await parts.chat.watching.watch(ORDERS, channel="C1", user=ALICE)
            await parts.chat.watching.watch(ORDERS, channel="C1", user=ALICE)
            await parts.chat.watching.mute(ORDERS, 4, channel="C1", user=ALICE)
            reply = await parts.chat.audit.recent("C1", 10)
        stored = await parts.services.audit.recent("C1", 10)
    assert [(e.action, e.result) for e in stored] == [
        ("mute 4 h", "ok"),
        ("watch", "unchanged: already watched"),
        ("watch", "ok"),
    ]
    text = text_of(reply.message)
    assert_within_slack_limits(reply.message, mentions=[ALICE])
    assert "静音 4 小时" in text and "未变更：已在关注" in text and "成功" in text
    assert "already watched" not in text and "mute 4 h" not in text
    assert_shows(reply.message.blocks, ORDERS)
    assert not reply.shareable


STORED_FORMS = [
    (trail.WATCH, "关注"),
    (trail.UNWATCH, "取消关注"),
    (trail.ACK, "认领"),
    (trail.mute_action(24), "静音 24 小时"),
    (trail.conntest_action("etl_q", "10.0.0.8:5432"), "测试 etl_q → 10.0.0.8:5432"),
]
STORED_RESULTS = [
    (trail.OK, "成功"),
    (trail.NOTHING_OPEN, "未变更：没有未关闭的告警"),
    (trail.AMBIGUOUS, "未变更：该名称匹配多个连接"),
    (trail.DELETED, "未变更：已删除"),
    (trail.ALREADY_WATCHED, "未变更：已在关注"),
    (trail.NOT_WATCHED, "未变更：此频道未关注"),
    (trail.NOT_RUN_AMBIGUOUS, "未运行：该名称匹配多个连接"),
    (trail.NOT_BOUND, "未运行：队列未绑定"),
    (trail.REACHABLE, "可达"),
    (trail.UNREACHABLE, "不可达"),
    (trail.FAILED_NOT_FOUND, "失败：未找到"),
    (trail.FAILED_STORE, "失败：存储不可用"),
    (trail.FAILED_UNEXPECTED, "失败：意外错误"),
    (trail.refused_by_dli("DLI.0001", not_found=False), "被 DLI 拒绝：DLI.0001"),
    (trail.refused_by_dli(None, not_found=True), "被 DLI 拒绝：未找到"),
    (trail.still_checking("task-7"), "仍在检查（任务 task-7）"),
    (trail.dli_answered("PENDING"), "DLI 返回 PENDING"),
    (trail.dli_answered(""), "DLI 返回 （空）"),
    (trail.failed_dli("throttled"), "失败：DLI 正在对请求限流"),
    (trail.failed_dli("brand_new_kind"), "失败：DLI brand_new_kind"),
]


@pytest.mark.parametrize(("stored", "zh"), STORED_FORMS)
def test_every_stored_action_reads_in_chinese(stored: str, zh: str) -> None:
    assert shown_action(stored) == stored
    with speaking("zh-CN"):
        assert shown_action(stored) == zh


@pytest.mark.parametrize(("stored", "zh"), STORED_RESULTS)
def test_every_stored_result_reads_in_chinese(stored: str, zh: str) -> None:
    # A DLI failure is stored by its kind and read as the phrase every surface uses for it.
    if not stored.startswith("failed: DLI "):
        assert shown_result(stored) == stored
    with speaking("zh-CN"):
        assert shown_result(stored) == zh


def test_a_stored_dli_failure_reads_as_what_it_means() -> None:
    assert shown_result(trail.failed_dli("throttled")) == "failed: DLI is throttling requests"
    assert shown_result(trail.failed_dli("brand_new_kind")) == "failed: DLI brand_new_kind"


def test_an_entry_this_version_does_not_know_is_shown_as_stored() -> None:
    entry = AuditEntry(1.0, ALICE, "C1", "watch", "rewind 3 d", ORDERS, None, "ok-ish")
    with speaking("zh-CN"):
        assert trail.shown(entry) == entry


async def test_the_policy_view_is_in_chinese_with_config_keys_as_typed() -> None:
    async with chat_parts() as parts:
        with speaking("zh-CN"):
            shared = await parts.chat.command(
                Policy(), ephemeral=True, channel=C, user=BOB,
                facts=(ChannelFacts(C, external=True), Person(BOB)),
            )  # fmt: skip
            private = await parts.chat.command(
                Policy(), ephemeral=True, channel=C, user=BOB,
                facts=(ChannelFacts(C, private=True), Person(BOB)),
            )  # fmt: skip
    shared_text, private_text = text_of(shared.message), text_of(private.message)
    assert "与其他组织共享（Slack Connect）；external_channels = deny：机器人在此不作任何应答" in (
        shared_text
    )
    assert "默认：除 test 外的所有操作" in private_text and "私有，仅限本组织" in private_text
    assert "every verb but" not in private_text
    for reply in (shared, private):
        assert not reply.shareable
        assert_within_slack_limits(reply.message, mentions=[C])


# --------------------------------------------------------------------------- for everyone


async def test_for_everyone_writes_results_in_the_channels_language_the_rest_in_the_askers() -> (
    None
):
    async with chat_parts(healthy(ORDERS, "orders")) as parts:
        with speaking("zh-CN"), for_everyone("en"):
            watched = await parts.chat.watching.watch(ORDERS, channel="C1", user=ALICE)
            help_ = await parts.chat.command(Help(), ephemeral=False, channel="C1", user=ALICE)
            policy = await parts.chat.command(Policy(), ephemeral=False, channel="C1", user=ALICE)
            with privately():
                inner = current_locale()
            outer = current_locale()
    assert (outer, inner) == ("en", "zh-CN")
    assert "Watching orders in this channel" in text_of(watched.message)
    assert "用于查询 DLI 增强型跨源连接" in text_of(help_.message)
    assert chinese(text_of(policy.message))


async def test_a_failure_inside_for_everyone_is_explained_in_the_askers_language() -> None:
    async def work() -> Message:
        raise NotFoundAnywhere(GONE, ["prod", "staging"], {"staging": "unavailable"})

    with speaking("zh-CN"), for_everyone("en"):
        reply = await guarded(GONE, work)
        after = current_locale()
    assert after == "en" and not reply.shareable
    assert "在 prod 中未找到；staging 无法访问" in text_of(reply.message)
    assert_shows(reply.message.blocks, GONE)


async def test_outside_for_everyone_privately_is_the_current_language() -> None:
    with speaking("zh-CN"), privately():
        assert current_locale() == "zh-CN"
    with privately():
        assert current_locale() == "en"
    assert help_reply(None).text.startswith("*dliconn* looks up")
