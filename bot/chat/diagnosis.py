"""The What to check modal for a person: the catalogue entry, and the connection as this channel
may see it, for the bot's own checks."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final

from bot.blocks.diagnosis import parse_button_value, what_to_check_view
from bot.chat.context import ChatContext
from bot.chat.replies import logged_bug, partly_searched
from bot.diagnosis import default_catalogue
from bot.dli.models import Connection
from bot.errors import DliError, NotFound, StoreUnavailable
from bot.i18n import _
from bot.lookup.cache import Lookup
from bot.lookup.projects import NotFoundAnywhere

log = logging.getLogger(__name__)

#: A trigger_id is good for 3 s; a slow lookup must not cost the person the modal itself.
LOOKUP_WAIT: Final = 1.5


async def what_to_check(context: ChatContext, value: str, channel: str | None) -> dict[str, Any]:
    """The modal for a What to check button's `value` clicked in `channel`."""
    entry_id, connection_id = parse_button_value(value)
    entry = default_catalogue().get(entry_id)
    connection, why_not = await _connection(context, connection_id, channel)
    return what_to_check_view(entry, connection, why_not=why_not)


async def _connection(
    context: ChatContext, connection_id: str, channel: str | None
) -> tuple[Connection | None, str]:
    try:
        async with asyncio.timeout(LOOKUP_WAIT):
            found = await context.find(connection_id, channel)
    except NotFound as exc:
        if isinstance(exc, NotFoundAnywhere) and (searched := partly_searched(exc)):
            # Not "cannot be read": a project this channel sees could not be asked just now.
            return None, _("{searched} The bot checked nothing itself.").format(searched=searched)
        # The same words whether it was deleted or lives in a project this channel cannot see.
        return None, _unreadable()
    except (DliError, StoreUnavailable, TimeoutError) as exc:
        log.info("what to check: connection %s not read: %s", connection_id, type(exc).__name__)
        return None, _(
            "DLI could not be asked about the connection just now, so the bot checked nothing "
            "itself."
        )
    except Exception as exc:  # noqa: BLE001 - a bug must not cost the person the checklist too
        ref = logged_bug(connection_id[:100], exc)
        return None, _(
            "The bot could not read the connection because of a fault on its side (reference "
            "{id}), so it checked nothing itself. Tell the bot's operators the reference."
        ).format(id=ref)
    if not isinstance(found, Lookup):
        return None, _unreadable()
    return found.connection, ""


def _unreadable() -> str:
    return _(
        "The connection cannot be read from this channel now, so the bot checked nothing itself."
    )
