"""The one place a failure becomes a reply: expected errors explained, the rest referenced."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from bot.blocks.message import Message
from bot.blocks.replies import error_message
from bot.errors import DliError, NotFound, StoreUnavailable, dli_problem
from bot.i18n import Locale, _, current_locale, speaking
from bot.lookup.projects import NotFoundAnywhere

log = logging.getLogger(__name__)

#: The language of the person who asked, while a reply for everyone is written in a channel's.
_asker: ContextVar[Locale | None] = ContextVar("dliconn_asker_locale", default=None)


@dataclass(frozen=True)
class Reply:
    """A message plus whether it is a result worth showing the channel (not help or an error)."""

    message: Message
    shareable: bool


def partly_searched(exc: NotFoundAnywhere) -> str | None:
    """Which projects said no and which could not be asked, and why (DLI's problem in the
    reader's words): the id may be in one of those. None when every project said no."""
    if not exc.unreachable:
        return None
    # An alias as code (backticks): `_` is allowed in one, and must not turn words italic.
    answered = [f"`{a}`" for a in exc.searched if a not in exc.unreachable]
    unasked = [
        _("{project} could not be asked ({problem})").format(
            project=f"`{alias}`", problem=dli_problem(kind)
        )
        for alias, kind in exc.problems.items()
    ]
    return _("Not found in {answered}; {unasked}, so it may be there. Try again soon.").format(
        answered=_(", ").join(answered) or _("any project"), unasked=_(", ").join(unasked)
    )


@contextmanager
def for_everyone(locale: Locale) -> Iterator[None]:
    """A reply that will be posted for everyone in a channel: its result is written in the
    channel's `locale`, but what goes only to the person who asked (an error, help, a reply
    that names people: see `privately`) stays in the language they read."""
    token = _asker.set(_asker.get() or current_locale())
    try:
        with speaking(locale):
            yield
    finally:
        _asker.reset(token)


@contextmanager
def privately() -> Iterator[None]:
    """Words for the person who asked only: in their language, also inside `for_everyone`."""
    with speaking(_asker.get() or current_locale()):
        yield


def correlation_id() -> str:
    """Short enough to read out over a call, unique enough to grep the logs for."""
    return secrets.token_hex(4)


async def guarded(subject: str | None, work: Callable[[], Awaitable[Message]]) -> Reply:
    """Run `work`; any failure becomes an explained, unshareable reply about `subject`."""
    try:
        return Reply(await work(), shareable=True)
    except Exception as exc:  # noqa: BLE001 - each explained by _failure; a bug with its reference
        with privately():  # a failure goes to the person who asked, never to the channel
            return Reply(_failure(subject, exc), shareable=False)


async def guarded_privately(subject: str | None, work: Callable[[], Awaitable[Message]]) -> Reply:
    """`guarded`, for an answer that names people or shows what only operators may see: built
    in the asker's language and never shared in the channel, whatever the response type."""

    async def in_their_words() -> Message:
        with privately():
            return await work()

    reply = await guarded(subject, in_their_words)
    return Reply(reply.message, shareable=False)


def _failure(subject: str | None, exc: Exception) -> Message:
    """The explained reply for a failure of work about `subject`; an unexpected one is logged
    with its traceback and a reference the person can quote."""
    if isinstance(exc, NotFoundAnywhere):
        return error_message("not_found", subject=subject, hint=partly_searched(exc))
    if isinstance(exc, NotFound):
        return error_message("not_found", subject=subject, request_id=exc.request_id)
    if isinstance(exc, DliError):
        log.warning("DLI %s while answering about %r: %s", exc.kind, subject, exc)
        return error_message(exc.kind, subject=subject, request_id=exc.request_id)
    if isinstance(exc, StoreUnavailable):
        log.warning("storage unavailable while answering about %r: %s", subject, exc)
        return error_message("store_unavailable", subject=subject)
    return error_message("unexpected", subject=subject, correlation_id=logged_bug(subject, exc))


def logged_bug(subject: str | None, exc: BaseException) -> str:
    """Log an unexpected failure of work about `subject` with its traceback under a new
    reference, and return the reference for the person to quote."""
    ref = correlation_id()
    log.error("unexpected error [ref %s] while answering about %r", ref, subject, exc_info=exc)
    return ref
