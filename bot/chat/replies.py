"""The one place a failure becomes a reply: expected errors explained, the rest referenced."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.blocks.message import Message
from bot.blocks.replies import error_message
from bot.errors import DliError, NotFound, StoreUnavailable
from bot.lookup.projects import NotFoundAnywhere

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reply:
    """A message plus whether it is a result worth showing the channel (not help or an error)."""

    message: Message
    shareable: bool


def _partly_searched(exc: NotFoundAnywhere) -> str | None:
    """Which projects said no and which could not be asked: the id may be in one of those."""
    if not exc.unreachable:
        return None
    answered = [a for a in exc.searched if a not in exc.unreachable]
    return (
        f"Not found in {', '.join(answered) or 'any project'}; "
        f"{', '.join(exc.unreachable)} could not be reached, so it may be there. Try again soon."
    )


def correlation_id() -> str:
    """Short enough to read out over a call, unique enough to grep the logs for."""
    return secrets.token_hex(4)


async def guarded(subject: str | None, work: Callable[[], Awaitable[Message]]) -> Reply:
    """Run `work`; any failure becomes an explained, unshareable reply about `subject`."""
    try:
        return Reply(await work(), shareable=True)
    except NotFoundAnywhere as exc:
        failure = error_message("not_found", subject=subject, hint=_partly_searched(exc))
    except NotFound as exc:
        failure = error_message("not_found", subject=subject, request_id=exc.request_id)
    except DliError as exc:
        log.warning("DLI %s while answering about %r: %s", exc.kind, subject, exc)
        failure = error_message(exc.kind, subject=subject, request_id=exc.request_id)
    except StoreUnavailable as exc:
        log.warning("storage unavailable while answering about %r: %s", subject, exc)
        failure = error_message("store_unavailable", subject=subject)
    except Exception:  # broad: a bug still gets the person an answer, with a reference
        ref = correlation_id()
        log.exception("unexpected error [ref %s] while answering about %r", ref, subject)
        failure = error_message("unexpected", subject=subject, correlation_id=ref)
    return Reply(failure, shareable=False)
