"""The catalogue of known DLI failures: its models, the loader that validates it, the matcher."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)

from bot.errors import ConfigError
from bot.files import read_toml
from bot.i18n import current_locale
from bot.i18n.catalogues import translations

#: Only this much of an err_msg is searched: DLI's are a few hundred characters, and a pasted
#: stack trace must not make every card render slowly.
MATCH_WINDOW: Final = 4000
CAUSE_MAX: Final = 200
CHECK_MAX: Final = 300
CHECKS_MAX: Final = 12
_PATTERN_MAX: Final = 300
_DOC_PREFIX: Final = "https://support.huaweicloud.com/"
# Huawei's international site publishes each page in English under /intl/en-us/ and in Chinese
# under /intl/zh-cn/, on the same path (an `en-us_topic_` page is a `zh-cn_topic_` one there);
# Huawei's SDK docs link both, e.g. /intl/zh-cn/api-vpc/vpc_subnet01_0001.html.
_ENGLISH_DOCS: Final = _DOC_PREFIX + "intl/en-us/"
_CHINESE_DOCS: Final = _DOC_PREFIX + "intl/zh-cn/"
_ENGLISH_TOPIC: Final = "en-us_topic_"
_CHINESE_TOPIC: Final = "zh-cn_topic_"
# Our own mrkdwn (escaped when shown), so nothing that Slack would read as markup or a mention.
_UNSAFE_TEXT: Final = re.compile(r"[<>`\x00-\x1f\x7f]|@(channel|here|everyone)", re.IGNORECASE)

SelfCheck = Literal["addresses", "hosts"]


def _compiled(pattern: Any) -> re.Pattern[str]:
    if isinstance(pattern, re.Pattern):
        return pattern
    if not isinstance(pattern, str) or not pattern:
        raise ValueError("must be a non-empty string")
    if len(pattern) > _PATTERN_MAX:
        raise ValueError(f"longer than {_PATTERN_MAX} characters")
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None


def _our_words(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be empty")
    bad = _UNSAFE_TEXT.search(text)
    if bad:
        raise ValueError(f"must not contain {bad.group(0)!r} (it is shown as mrkdwn)")
    return text


Pattern = Annotated[re.Pattern[str], BeforeValidator(_compiled)]
OurWords = Annotated[str, AfterValidator(_our_words)]


class Entry(BaseModel):
    """One known failure: how its err_msg reads, what it means, what to check, and its source."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=40)]
    title: Annotated[OurWords, Field(max_length=80)]
    page_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+$", max_length=40)]
    doc_url: Annotated[str, Field(max_length=300)]
    source: Annotated[str, Field(min_length=1, max_length=400)]
    patterns: Annotated[tuple[Pattern, ...], Field(min_length=1, max_length=10)]
    cause: Annotated[OurWords, Field(max_length=CAUSE_MAX)]
    checks: Annotated[
        tuple[Annotated[OurWords, Field(max_length=CHECK_MAX)], ...],
        Field(min_length=1, max_length=CHECKS_MAX),
    ]
    self_checks: tuple[SelfCheck, ...] = ()
    examples: Annotated[tuple[str, ...], Field(min_length=1)]
    near_misses: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _sound(self) -> Entry:
        if not self.doc_url.startswith(_DOC_PREFIX) or self.page_id not in self.doc_url:
            raise ValueError(f"doc_url must be a {_DOC_PREFIX} page naming page_id")
        for example in self.examples:
            if not self.matches(example):
                raise ValueError(f"example {example!r} is not matched by any pattern")
        for miss in self.near_misses:
            if self.matches(miss):
                raise ValueError(f"near miss {miss!r} is matched")
        return self

    def matches(self, err_msg: str) -> bool:
        window = err_msg[:MATCH_WINDOW]
        return any(p.search(window) for p in self.patterns)

    # The catalogue keeps English; these are what a reader sees, in their language (the
    # title, cause and checks are msgids: bot.i18n.extract takes them from catalogue.toml).

    def shown_title(self) -> str:
        return _in_reader_language(self.title)

    def shown_cause(self) -> str:
        return _in_reader_language(self.cause)

    def shown_checks(self) -> tuple[str, ...]:
        return tuple(_in_reader_language(check) for check in self.checks)

    def shown_page(self) -> tuple[str, str]:
        """(page id, address) of the Huawei page in the reader's language: for zh-CN, the
        international site's Chinese page of the same path when doc_url is its English one."""
        if current_locale() != "zh-CN" or not self.doc_url.startswith(_ENGLISH_DOCS):
            return self.page_id, self.doc_url
        folder, _, page = self.doc_url.removeprefix(_ENGLISH_DOCS).rpartition("/")
        page_id = self.page_id
        if page.startswith(_ENGLISH_TOPIC):
            page = _CHINESE_TOPIC + page.removeprefix(_ENGLISH_TOPIC)
            page_id = _CHINESE_TOPIC + page_id.removeprefix(_ENGLISH_TOPIC)
        return page_id, f"{_CHINESE_DOCS}{folder}/{page}" if folder else _CHINESE_DOCS + page


def _in_reader_language(text: str) -> str:
    """Catalogue text in the current reply's language (bot.i18n.speaking); the English itself
    when it has no translation. Looked up by value, as gettext does: the msgids come from
    catalogue.toml, not from a literal here."""
    return translations(current_locale()).gettext(text)


#: How many err_msg windows a catalogue remembers its match for, before starting afresh.
_MATCHES_KEPT: Final = 1024


class Catalogue(BaseModel):
    """Every entry, in the order they are tried."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    entries: Annotated[tuple[Entry, ...], Field(min_length=1)]
    _matched: dict[str, Entry | None] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _distinct(self) -> Catalogue:
        seen: set[str] = set()
        for entry in self.entries:
            if entry.id in seen:
                raise ValueError(f"two entries have the id {entry.id!r}")
            seen.add(entry.id)
        # Each entry's examples are its own: no other entry may claim them, whatever the order.
        for entry in self.entries:
            for example in entry.examples:
                others = [o.id for o in self.entries if o is not entry and o.matches(example)]
                if others:
                    raise ValueError(
                        f"example {example!r} of {entry.id!r} is also matched by {others[0]!r}"
                    )
        return self

    def match(self, err_msg: str) -> Entry | None:
        """The first entry whose patterns find something in `err_msg`; None for anything else
        (an unknown failure gets no invented cause). Remembered by the window searched: a card
        matches each FAILED binding's err_msg (the modal twice more), and many share one."""
        window = err_msg[:MATCH_WINDOW]
        if not window.strip():
            return None
        if window not in self._matched:
            if len(self._matched) >= _MATCHES_KEPT:
                self._matched.clear()
            self._matched[window] = next((e for e in self.entries if e.matches(window)), None)
        return self._matched[window]

    def get(self, entry_id: str) -> Entry | None:
        return next((e for e in self.entries if e.id == entry_id), None)


def packaged_path() -> Path:
    """The catalogue shipped in the package (package data, see pyproject.toml)."""
    return Path(str(resources.files("bot.diagnosis").joinpath("catalogue.toml")))


def load_catalogue(path: Path) -> Catalogue:
    """Read and validate a catalogue file; any problem is one ConfigError line naming the file
    and the entry."""
    _, raw = read_toml(path, missing="the diagnosis catalogue is missing")
    try:
        return Catalogue.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_problem(exc, raw)}") from None


def _problem(exc: ValidationError, raw: Any) -> str:
    """`entries[3] (id).key: problem` for the first error, one line."""
    first = exc.errors(include_input=False)[0]
    loc: Sequence[int | str] = first["loc"]
    where = ""
    for index, part in enumerate(loc):
        if isinstance(part, int):
            where += f"[{part}]"
            if index == 1 and loc[0] == "entries":
                entry_id = _entry_id(raw, part)
                where += f" ({entry_id})" if entry_id else ""
        else:
            where += f".{part}" if where else str(part)
    message = str(first["msg"]).removeprefix("Value error, ")
    message = {"Extra inputs are not permitted": "unknown key", "Field required": "required"}.get(
        message, message
    )
    return f"{where}: {message}".replace("\n", " ") if where else message.replace("\n", " ")


def _entry_id(raw: Any, index: int) -> str | None:
    entries = raw.get("entries") if isinstance(raw, dict) else None
    if isinstance(entries, list) and index < len(entries) and isinstance(entries[index], dict):
        entry_id = entries[index].get("id")
        return entry_id if isinstance(entry_id, str) else None
    return None


@functools.cache
def default_catalogue() -> Catalogue:
    """The packaged catalogue, read once per process (start-up calls this first, so a broken
    file stops the bot before it answers anything)."""
    return load_catalogue(packaged_path())
