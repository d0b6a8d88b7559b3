"""The bot's own words in the reader's language: gettext catalogues, one language per reply.

Every sentence the bot writes is an English msgid marked with `_` (or `ngettext`, or `N_` where
a table of words is built at import and translated where it is shown). The catalogues are
`bot/i18n/locales/<locale>/LC_MESSAGES/dliconn.po`, kept in the repository and compiled in
memory when first used (bot.i18n.catalogues), so a stale compiled file can never ship.
`make messages` extracts the msgids with Babel and merges them into both catalogues; the tests
fail when a message, or a placeholder, is in one catalogue and not the other.

The language is chosen once per reply or post (`speaking(locale)`) and held in a context
variable: asyncio copies it into each task, so concurrent replies in two languages never mix,
and the builders keep their signatures. Outside any `speaking` block the bot speaks English.

Placeholders are `str.format` names (`{count}`), never positional, so a translation may put
them in another order. DLI's own words (names, err_msg) never pass through here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Final, Literal

from bot.i18n.catalogues import Translations, translations

#: The languages the bot speaks, as the contract spells them (`DLICONN_LOCALE`, a channel's
#: `locale`).
Locale = Literal["en", "zh-CN"]
LOCALES: Final[tuple[Locale, ...]] = ("en", "zh-CN")
DEFAULT_LOCALE: Final[Locale] = "en"

_speaking: ContextVar[Locale] = ContextVar("dliconn_locale", default=DEFAULT_LOCALE)


def load_catalogues() -> None:
    """Compile every catalogue now (at start-up), so no reply, nor a modal's ack, pays for it."""
    for locale in LOCALES:
        translations(locale)


def locale_for(slack_locale: str | None) -> Locale:
    """The language for a Slack locale (`users.info`'s `locale`, e.g. `zh-CN`, `en-US`): a
    Chinese one (Simplified or Traditional: Simplified reads better to either than English)
    gets Chinese, anything else English."""
    if slack_locale and slack_locale.replace("_", "-").lower().split("-")[0] == "zh":
        return "zh-CN"
    return "en"


def current_locale() -> Locale:
    return _speaking.get()


@contextmanager
def speaking(locale: Locale) -> Iterator[None]:
    """Everything `_` translates inside this block is in `locale`."""
    token = _speaking.set(locale)
    try:
        yield
    finally:
        _speaking.reset(token)


def _active() -> Translations:
    return translations(_speaking.get())


def _(message: str) -> str:
    """`message` in the current language (the msgid itself when it has no translation)."""
    return _active().gettext(message)


def ngettext(singular: str, plural: str, count: int) -> str:
    """The form of a counted message for `count` in the current language (Chinese has one)."""
    return _active().ngettext(singular, plural, count)


def N_(message: str) -> str:
    """Marks `message` for extraction without translating it: for words kept in a table built
    at import, translated with `_` where they are shown."""
    return message
