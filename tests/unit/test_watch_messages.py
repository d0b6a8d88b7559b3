"""The watcher's Block Kit: exact values, Slack's limits, buttons, acknowledged and resolved."""

from __future__ import annotations

import json

import pytest

from bot.blocks.actions import ALERT_ACTIONS
from bot.blocks.message import FALLBACK_MAX, Message, block_text_length
from bot.i18n import LOCALES, Locale, speaking
from bot.slack_ids import is_user_id
from bot.watch.messages import (
    alert_message,
    flipped_reply,
    gone_notice,
    reachable_notice,
    recovered_reply,
    reset_summary,
    stabilised_reply,
    stuck_notice,
    unreachable_notice,
)
from bot.watch.transitions import (
    DliReachable,
    DliUnreachable,
    Flipped,
    Gone,
    Incident,
    IncidentQueue,
    Recovered,
    Stabilised,
    Stuck,
)
from tests.slack_limits import assert_shows, assert_within_slack_limits, text_objects

CID = "4c693ecc-bab8-4113-a838-129cedc9a563"
HOSTILE = "<!channel> *bold* <http://evil|click> @here `tick`"


def incident(queues: int = 1, err_msg: str = HOSTILE, **changes: object) -> Incident:
    base = Incident(
        id=f"{CID}:1:1",
        connection_id=CID,
        connection_name="orders <!here>",
        kind="failed",
        queues=tuple(
            IncidentQueue(name=f"q{n}", kind="queue", err_msg=err_msg, since=1_700_000_000.0)
            for n in range(queues)
        ),
        started_at=1_700_000_060.0,
    )
    return base.model_copy(update=changes)


def texts(blocks: list[dict[str, object]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def parsed(message: object) -> str:
    """What Slack parses for mentions and links: mrkdwn objects and the top-level text."""
    assert hasattr(message, "blocks") and hasattr(message, "text")
    mrkdwn = [t["text"] for t in text_objects(message.blocks) if t["type"] == "mrkdwn"]
    return "\n".join([message.text, *mrkdwn])


@pytest.mark.parametrize("locale", LOCALES)
def test_alert_shows_everything_from_dli_exactly_and_inert(locale: Locale) -> None:
    with speaking(locale):
        message = alert_message(incident())
    for raw in ("<!channel>", "<!here>", "<http://evil"):
        assert raw not in parsed(message)
    assert_shows(message.blocks, HOSTILE)
    assert_shows(message.blocks, "orders <!here>")
    [err] = [
        e
        for b in message.blocks
        if b["type"] == "rich_text"
        for e in b["elements"]
        if e["type"] == "rich_text_preformatted"
    ]
    assert err == {
        "type": "rich_text_preformatted",
        "elements": [{"type": "text", "text": HOSTILE}],
    }
    assert "q0" in texts(message.blocks) and CID in texts(message.blocks)


def test_alert_with_many_long_errors_stays_within_slack_limits() -> None:
    message = alert_message(incident(queues=40, err_msg="x" * 5000))
    assert len(message.blocks) <= 50
    assert block_text_length(message.blocks) < 11_000
    assert_within_slack_limits(message)
    assert "and 30 more" in texts(message.blocks)
    assert "more characters" in texts(message.blocks)
    assert len(message.text) <= FALLBACK_MAX


def test_open_alert_buttons_have_unique_action_ids_and_the_connection_in_values() -> None:
    [actions] = [b for b in alert_message(incident()).blocks if b["type"] == "actions"]
    elements = actions["elements"]
    ids = [e["action_id"] for e in elements]
    assert len(ids) == len(set(ids))
    assert [e["value"] for e in elements if e["action_id"].startswith("dliconn_mute")] == [
        f"{CID}|1",
        f"{CID}|4",
        f"{CID}|24",
    ]
    assert {"dliconn_refresh", "dliconn_ack"} <= set(ids)


def test_acknowledged_and_resolved_alerts_say_so() -> None:
    acked = alert_message(incident(), acknowledged_by="U0ACKER")
    assert "Acknowledged by <@U0ACKER>" in texts(acked.blocks)
    resolved = alert_message(
        incident(resolved_at=1_700_003_600.0, resolution="recovered"), acknowledged_by="U0ACKER"
    )
    body = texts(resolved.blocks)
    assert "Resolved" in body and "1 h down" in body
    [actions] = [b for b in resolved.blocks if b["type"] == "actions"]
    assert [e["action_id"] for e in actions["elements"]] == ["dliconn_refresh"]


def test_only_real_user_ids_become_mentions() -> None:
    assert is_user_id("U12345") and not is_user_id("<!channel>")
    hostile = alert_message(incident(), acknowledged_by="<!channel>")
    assert "<!channel>" not in parsed(hostile)
    assert_shows(hostile.blocks, "<!channel>")


def test_gone_notice_escapes_the_name() -> None:
    message = gone_notice(Gone("e1", CID, "<!channel>", deleted=True))
    assert "<!channel>" not in parsed(message)
    assert_shows(message.blocks, "<!channel>")
    assert "was deleted" in texts(message.blocks)


def test_open_and_resolved_alerts_mark_their_buttons_as_an_alerts() -> None:
    # The Refresh handler tells an alert from a card by this marker: a resolved alert has no
    # Acknowledge button left, yet must not be replaced by a card either.
    for alert in (incident(), incident(resolved_at=1_700_003_600.0, resolution="recovered")):
        [actions] = [b for b in alert_message(alert).blocks if b["type"] == "actions"]
        assert actions["block_id"] == ALERT_ACTIONS


def every_message() -> list[Message]:
    evil_name, evil_err = HOSTILE * 3, HOSTILE * 400
    return [
        alert_message(incident(queues=40, err_msg=evil_err)),
        alert_message(incident(), acknowledged_by="U0ACKER"),
        alert_message(incident(resolved_at=1_700_003_600.0, resolution="recovered")),
        alert_message(incident(kind="flapping", flips=7)),
        recovered_reply(Recovered("e1", "i1", CID, evil_name, "queue", "ACTIVE", evil_name, 90.0)),
        recovered_reply(Recovered("e2", "i1", CID, evil_name, "pool", HOSTILE, evil_name, 90.0)),
        flipped_reply(Flipped("e3", "i1", CID, evil_name, "queue", HOSTILE, evil_err)),
        stabilised_reply(Stabilised("e4", "i1", CID, evil_name, "queue", "ACTIVE", 1800.0)),
        gone_notice(Gone("e5", CID, evil_name, deleted=True)),
        gone_notice(Gone("e6", CID, evil_name, deleted=False)),
        stuck_notice(Stuck("e7", CID, evil_name, evil_name, "pool", 1_700_000_000.0)),
        unreachable_notice(DliUnreachable("e8", 1_700_000_000.0, evil_err)),
        reachable_notice(DliReachable("e9", 600.0)),
        reset_summary(
            [
                incident(queues=9, err_msg=evil_err).model_copy(update={"id": f"i{n}"})
                for n in range(40)
            ],
            noticed_at=1_700_000_000.0,
        ),
    ]


@pytest.mark.parametrize("locale", LOCALES)
def test_every_watcher_message_is_within_slack_limits_and_inert(locale: Locale) -> None:
    with speaking(locale):
        messages = every_message()

    for message in messages:
        assert_within_slack_limits(message, mentions=["U0ACKER"])


#: An err_msg as DLI writes many of them: in Chinese, with markup-like characters.
CHINESE_ERR = "创建对等连接失败：网段 172.16.0.0/12 与目标 VPC <!here> 的网段冲突 *请检查*"


def test_a_chinese_alert_has_our_words_in_chinese_and_dlis_exactly() -> None:
    alert = incident(queues=2, err_msg=CHINESE_ERR)
    with speaking("zh-CN"):
        message = alert_message(alert, acknowledged_by="U0ACKER", can_test=True)
        resolved = alert_message(
            alert.model_copy(update={"resolved_at": 1_700_003_600.0, "down_for": 3540.0})
        )
    body = texts(message.blocks)
    labels = [
        e["text"]["text"] for b in message.blocks if b["type"] == "actions" for e in b["elements"]
    ]
    assert labels[:5] == ["刷新", "静音 1 小时", "静音 4 小时", "静音 24 小时", "认领"]
    assert "Acknowledge" not in body and "Mute" not in body and "queues FAILED" not in body
    assert "2 个队列 FAILED" in body and "已由 <@U0ACKER> 认领" in body
    assert_shows(message.blocks, CHINESE_ERR)
    assert_shows(message.blocks, "orders <!here>")
    assert "<!here>" not in parsed(message)
    assert "已解决" in texts(resolved.blocks) and "Resolved" not in texts(resolved.blocks)
    assert message.text == "orders &lt;!here&gt;：q0、q1 状态为 FAILED"
    assert_within_slack_limits(message, mentions=["U0ACKER"])


def test_dlis_statuses_stay_as_dli_wrote_them_in_chinese() -> None:
    with speaking("zh-CN"):
        flipped = flipped_reply(Flipped("e3", "i1", CID, "orders", "pool", "DELETING", ""))
        back = recovered_reply(Recovered("e1", "i1", CID, "orders", "queue", "SUSPENDED", "q", 60))
    assert "资源池 " in texts(flipped.blocks) and "DELETING" in texts(flipped.blocks)
    assert "脱离" in texts(back.blocks) and "SUSPENDED" in texts(back.blocks)
    assert flipped.text == "orders 现为 DELETING"


def test_a_stuck_notice_carries_the_catalogue_entry_for_a_queue_stuck_creating() -> None:
    notice = stuck_notice(Stuck("e8", CID, "orders", "etl_q1", "queue", 1_700_000_000.0))

    [cause] = [b for b in notice.blocks if b.get("accessory")]
    assert "Likely cause" in cause["text"]["text"]
    assert cause["accessory"]["value"] == f"queue-not-ready|{CID}"
