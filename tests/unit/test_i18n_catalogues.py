"""The two catalogues against the code and each other: same messages, same placeholders, same
markup, every Chinese entry translated, every marked call extractable."""

from __future__ import annotations

import ast
import re
import string
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg

from bot.i18n import LOCALES, N_, _, current_locale, locale_for, ngettext, speaking
from bot.i18n.catalogues import read_catalogue

ROOT = Path(__file__).resolve().parents[2]
MARKERS = {"_", "ngettext", "N_"}
MsgId = str | tuple[str, ...]


def extracted() -> set[MsgId]:
    """Every msgid Babel finds in the code and the diagnosis catalogue, as `make messages` does."""
    with (ROOT / "bot" / "i18n" / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)  # type: ignore[no-untyped-call]
    found: set[MsgId] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map
    ):
        found.add(message if isinstance(message, str) else tuple(message))
    return found


def entries(catalogue: Catalog) -> Iterator[Message]:
    for message in catalogue:
        if message.id:
            yield message


def ids(catalogue: Catalog) -> set[MsgId]:
    return {m.id if isinstance(m.id, str) else tuple(m.id) for m in entries(catalogue)}


def fields(text: str) -> set[str]:
    """The `str.format` fields of `text` (raises on unbalanced braces)."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def markup(text: str) -> tuple[object, ...]:
    """What must survive translation unchanged: bold and code marks, line breaks, emoji, and
    anything Slack could read as a link, a mention or an entity (a translation used as mrkdwn
    must not add one)."""
    shortcodes = tuple(sorted(re.findall(r":[a-z0-9_+-]+:", text)))
    marks = tuple(text.count(mark) for mark in ("*", "`", "\n", "<", ">", "&", "|", "@", "://"))
    return (*marks, shortcodes)


def pairs(message: Message) -> Iterator[tuple[str, str]]:
    """(source, translation) for each form: plural forms compare with the plural msgid."""
    if isinstance(message.id, str):
        assert isinstance(message.string, str)
        yield message.id, message.string
        return
    source_forms = list(message.id)
    assert isinstance(message.string, tuple | list)
    for n, form in enumerate(message.string):
        yield source_forms[min(n, len(source_forms) - 1)], form


def test_every_marked_message_is_in_both_catalogues_and_nothing_else() -> None:
    code = extracted()
    assert code, "extraction found nothing: the Babel mapping is broken"
    for locale in LOCALES:
        held = ids(read_catalogue(locale))
        assert code - held == set(), f"{locale}: missing; run `make messages`"
        assert held - code == set(), f"{locale}: obsolete; run `make messages`"


def test_every_chinese_message_is_translated_and_not_fuzzy() -> None:
    untranslated = [
        m.id
        for m in entries(read_catalogue("zh-CN"))
        if m.fuzzy or not all(form for _, form in pairs(m))
    ]
    assert untranslated == []


@pytest.mark.parametrize("locale", [lang for lang in LOCALES if lang != "en"])
def test_placeholders_and_markup_are_the_same_in_every_translation(locale: str) -> None:
    wrong = []
    for message in entries(read_catalogue(locale)):
        for source, translation in pairs(message):
            if fields(translation) != fields(source) or markup(translation) != markup(source):
                wrong.append((source, translation))
    assert wrong == []


def test_english_translates_nothing_so_its_words_are_the_codes() -> None:
    # An English msgstr would be a second copy of the words that could drift from the code's
    # (and escape the placeholder and markup checks above, which compare it with itself).
    overridden = [
        source for m in entries(read_catalogue("en")) for source, form in pairs(m) if form
    ]
    assert overridden == []


def test_placeholders_are_named_so_a_translation_may_reorder_them() -> None:
    positional = [
        m.id
        for m in entries(read_catalogue("en"))
        for source, _ in pairs(m)
        if any(name == "" or name.isdigit() for name in fields(source))
    ]
    assert positional == []


def _marked_constants(tree: ast.Module) -> set[str]:
    """Module-level names bound to `N_("…")`: `_(NAME)` translates an extracted literal."""
    names = set()
    for node in tree.body:
        target: ast.expr | None = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        value = getattr(node, "value", None)
        if (
            isinstance(target, ast.Name)
            and isinstance(value, ast.Call)
            and isinstance(value.func, ast.Name)
            and value.func.id == "N_"
        ):
            names.add(target.id)
    return names


def _unextractable_calls() -> Iterator[str]:
    for folder in ("bot", "handlers"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            constants = _marked_constants(tree)
            for node in ast.walk(tree):
                if not (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Name)
                    and node.func.id in MARKERS
                ):
                    continue
                texts = node.args[: 2 if node.func.id == "ngettext" else 1]
                if not texts or not all(
                    (isinstance(arg, ast.Constant) and isinstance(arg.value, str))
                    or (node.func.id == "_" and isinstance(arg, ast.Name) and arg.id in constants)
                    for arg in texts
                ):
                    yield f"{path.relative_to(ROOT)}:{node.lineno}"


def test_every_marked_call_has_literal_text_babel_can_extract() -> None:
    # `_(f"…")` or `_(name)` would translate nothing: Babel extracts only literals (or a
    # constant marked with N_ where it is defined).
    assert list(_unextractable_calls()) == []


def test_slack_locales_choose_a_language() -> None:
    assert [
        locale_for(x) for x in ("zh-CN", "zh-TW", "zh_CN", "ZH", "en-US", "ja-JP", "", None)
    ] == [
        "zh-CN",
        "zh-CN",
        "zh-CN",
        "zh-CN",
        "en",
        "en",
        "en",
        "en",
    ]


def test_speaking_chooses_the_language_for_the_block_only() -> None:
    message = "Status"  # a card label: 状态
    assert current_locale() == "en"
    assert _(message) == message
    with speaking("zh-CN"):
        assert current_locale() == "zh-CN"
        assert _(message) != message
    assert _(message) == message
    assert N_(message) == message


def test_english_plural_forms_follow_the_count() -> None:
    assert ngettext("{n} queue", "{n} queues", 1) == "{n} queue"
    assert ngettext("{n} queue", "{n} queues", 2) == "{n} queues"
