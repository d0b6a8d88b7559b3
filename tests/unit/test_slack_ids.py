"""The one rule per kind of Slack id (bot/slack_ids.py) that the config, guardrails and replies
share."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.slack_ids import is_channel_id, is_user_id, is_usergroup_id


@pytest.mark.parametrize(
    ("shape", "valid", "invalid"),
    [
        (is_user_id, ["U0ALICE", "W012AB3CD"], ["S0ONCALL", "u0alice", "U", "U" + "A" * 21]),
        (is_usergroup_id, ["S0ONCALL"], ["U0ALICE", "S", "S0 ONCALL"]),
        (is_channel_id, ["C0PAYMENTS", "G0STAGING", "D0ALICE"], ["c0x", "X0X", "C0X\n"]),
    ],
)
def test_one_rule_per_kind_of_slack_id(
    shape: Callable[[str], bool], valid: list[str], invalid: list[str]
) -> None:
    assert all(shape(v) for v in valid)
    assert not any(shape(v) for v in invalid)
