"""What Slack's ids look like: one rule each for users, user groups and channels.

The config file's checks, the guardrails and the replies that name people and channels all use
these, so they agree on what an id is.
"""

from __future__ import annotations

import re
from typing import Final

# A prefix letter, then upper-case letters and digits (Slack's are 8-10 today; the bound keeps
# a pasted paragraph from passing for one).
_TAIL: Final = "[A-Z0-9]{1,20}"
_USER: Final = re.compile(f"[UW]{_TAIL}")
_USERGROUP: Final = re.compile(f"S{_TAIL}")
_CHANNEL: Final = re.compile(f"[CGD]{_TAIL}")


def is_user_id(value: str) -> bool:
    """A person (U…, or W… in an Enterprise Grid)."""
    return _USER.fullmatch(value) is not None


def is_usergroup_id(value: str) -> bool:
    """A user group (S…), as `operators` may name one."""
    return _USERGROUP.fullmatch(value) is not None


def is_channel_id(value: str) -> bool:
    """A channel: public (C…), private (G…) or a direct message (D…)."""
    return _CHANNEL.fullmatch(value) is not None
