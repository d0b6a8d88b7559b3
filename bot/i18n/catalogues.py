"""Loading the gettext catalogues: each `.po` read with Babel and compiled in memory, once."""

from __future__ import annotations

import gettext
import io
from functools import cache
from pathlib import Path
from typing import Final

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

DOMAIN: Final = "dliconn"
LOCALES_DIR: Final = Path(__file__).parent / "locales"

Translations = gettext.NullTranslations


def po_path(locale: str) -> Path:
    """The catalogue of a contract locale (`zh-CN` lives in gettext's `zh_CN`)."""
    return LOCALES_DIR / locale.replace("-", "_") / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_catalogue(locale: str) -> Catalog:
    with po_path(locale).open("rb") as source:
        return read_po(source, locale=locale.replace("-", "_"), domain=DOMAIN)


@cache
def translations(locale: str) -> Translations:
    """The compiled catalogue of `locale`. A fuzzy or empty entry is left out, so that message
    shows in English rather than in a guessed translation."""
    compiled = io.BytesIO()
    write_mo(compiled, read_catalogue(locale), use_fuzzy=False)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)
