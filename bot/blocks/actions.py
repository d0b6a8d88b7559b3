"""Every action id a button carries: the builders set them, the Slack adapter routes them."""

from __future__ import annotations

from typing import Final

# Cards (contract: Refresh, Watch/Unwatch, Share, Show) and the console link.
ACTION_REFRESH: Final = "dliconn_refresh"
ACTION_WATCH: Final = "dliconn_watch"
ACTION_UNWATCH: Final = "dliconn_unwatch"
ACTION_SHARE: Final = "dliconn_share"
ACTION_SHOW: Final = "dliconn_show"
ACTION_CONSOLE: Final = "dliconn_console"

# Alerts.
ACTION_MUTE: Final = "dliconn_mute"
ACTION_ACK: Final = "dliconn_ack"
# Marks an alert's buttons, resolved or not, so a click knows it sits on an alert (Refresh then
# answers in the thread instead of replacing the alert).
ALERT_ACTIONS: Final = "dliconn_alert"
#: Slack wants action ids unique within a block, so each mute button gets a suffix; handlers
#: match the prefix (`re.compile(MUTE_ACTION_PATTERN)`) and read "<connection_id>|<hours>".
MUTE_ACTION_PATTERN: Final = r"^dliconn_mute(_\d+h)?$"

# Diagnosis: the What to check button under a FAILED binding whose err_msg the catalogue knows
# (value "<entry id>|<connection id>"), the modal it opens, and the modal's link to Huawei's page.
ACTION_WHAT_TO_CHECK: Final = "dliconn_what_to_check"
ACTION_WHAT_TO_CHECK_DOC: Final = "dliconn_what_to_check_doc"
VIEW_WHAT_TO_CHECK: Final = "dliconn_what_to_check_view"
# History: on cards ("<connection id>") and a history page's Older ("<id>|<window>|<record>").
ACTION_HISTORY: Final = "dliconn_history"
# Connectivity test: the button on FAILED queues (value "<connection_id>|<queue>") and the
# modal it opens (its callback id; its two inputs' block and action ids).
ACTION_TEST: Final = "dliconn_test"
VIEW_TEST: Final = "dliconn_test_view"
TEST_QUEUE_INPUT: Final = "dliconn_test_queue"
TEST_ADDRESS_INPUT: Final = "dliconn_test_address"
