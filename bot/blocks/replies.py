"""Short replies in the bot's own words: errors with hints, help, and notices."""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.blocks import message as kit
from bot.blocks import text as rich
from bot.i18n import _

# --------------------------------------------------------------------------- errors and help


def _error_text(kind: str) -> tuple[str, str]:
    """A kind's headline and default hint, in the reader's language: `{subject}` is filled with
    the id or name, as code; a leading `:name:` is the icon; backticks in our words mark code.
    Anything unknown is "unexpected"."""
    texts = {
        "not_found": (
            _(":mag: No connection {subject} was found."),
            _("Check the id, or try `/dliconn list`."),
        ),
        "forbidden": (
            _(":no_entry: The bot's credentials may not read DLI connections in this project."),
            _("Ask an administrator to grant the bot's IAM user read access to DLI."),
        ),
        "throttled": (
            _(":hourglass_flowing_sand: DLI is throttling requests; the bot is retrying."),
            _("Try again in a minute if nothing arrives."),
        ),
        "unavailable": (_(":warning: DLI is unreachable right now."), _("Try again in a minute.")),
        "auth_failed": (
            _(":closed_lock_with_key: DLI rejected the bot's credentials."),
            _("Check the AK/SK (or IAM user and password) and that the server clock is correct."),
        ),
        "bad_response": (
            _(":warning: DLI sent an answer the bot could not read."),
            _("Try again; if it persists, report the request id."),
        ),
        "bad_input": (
            _(":grey_question: I did not understand that: {subject}."),
            _("Try `/dliconn help`."),
        ),
        "store_unavailable": (
            _(":warning: The bot's storage (Redis) is unreachable right now."),
            _("Lookups still work; watching needs the storage. Try again in a minute."),
        ),
        "unexpected": (
            _(":boom: Something went wrong on the bot's side."),
            _("Tell the bot's operators the reference below."),
        ),
    }
    return texts.get(kind, texts["unexpected"])


_ICON = re.compile(r":([a-z_]+): ")


def ours(text: str) -> rich.Pieces:
    """Our own words for rich text: a leading `:name: ` is an emoji, `backticks` mark code."""
    icon = _ICON.match(text)
    rest = text[icon.end() :] if icon else text
    parts = enumerate(rest.split("`"))
    pieces = [rich.words(part, code=index % 2 == 1) for index, part in parts if part]
    return rich.icon_line(icon.group(1), pieces) if icon else pieces


def styled(pieces: rich.Pieces, *, bold: bool = False, italic: bool = False) -> rich.Pieces:
    """`pieces` (a `phrase`, say) with our own plain words in bold or italic; the values in it
    (styled elements, dates, mentions) are left as they are."""
    style = {k: True for k, on in (("bold", bold), ("italic", italic)) if on}
    return [
        {**p, "style": dict(style)} if p["type"] == "text" and "style" not in p and style else p
        for p in pieces
    ]


def error_message(
    kind: str,
    *,
    subject: str | None = None,
    hint: str | None = None,
    correlation_id: str | None = None,
    request_id: str | None = None,
    stale_shown: bool = False,
) -> kit.Message:
    """A friendly error reply. `kind` is a DliError.kind or bad_input / unexpected (the fallback
    for anything unknown). `hint` is the bot's own words (backticks mark code); `subject` is
    shown exactly, as code."""
    headline, default_hint = _error_text(kind)
    if kind == "unavailable" and stale_shown:
        default_hint = _("Showing the last known copy below.")
    before, has_subject, after = headline.partition("{subject}")
    shown = (rich.code(subject, 100) if subject else [rich.words(_("that"))]) if has_subject else []
    hint_text = rich.shortened(hint, 2000, marker="…") if hint else default_hint
    body = [*ours(before), *shown, *ours(after), rich.words("\n"), *ours(hint_text)]
    blocks = [kit.rich_block(body)]
    context = []
    if correlation_id:
        context.append(
            kit.plain_text(_("reference {id}").format(id=rich.shortened(correlation_id, 40)))
        )
    if request_id:
        context.append(
            kit.plain_text(_("DLI request id {id}").format(id=rich.shortened(request_id, 100)))
        )
    if context:
        blocks.append(kit.context_block(context))
    subject_text = rich.shortened(subject, 100, marker="…") if subject else _("that")
    sentence = _ICON.sub("", headline, count=1).format(subject=subject_text)
    if correlation_id:
        sentence = _("{sentence} (reference {id})").format(
            sentence=sentence, id=rich.shortened(correlation_id, 40, marker="…")
        )
    return kit.Message(text=kit.fallback_text(sentence), blocks=blocks)


def help_message(help_text: str) -> kit.Message:
    """The help text, split to fit sections. It is the bot's own mrkdwn: formatting is kept, but
    `&`, `<`, `>` are escaped, so write `/dliconn <id>` plainly."""
    paragraphs = rich.trusted(help_text.strip(), kit.TEXT_BUDGET).split("\n\n")
    sections: list[str] = []
    for paragraph in paragraphs:
        for start in range(0, len(paragraph), kit.SECTION_TEXT_MAX):
            chunk = paragraph[start : start + kit.SECTION_TEXT_MAX]
            if sections and len(sections[-1]) + 2 + len(chunk) <= kit.SECTION_TEXT_MAX:
                sections[-1] += "\n\n" + chunk
            else:
                sections.append(chunk)
    blocks = [kit.section_block(s) for s in sections[: kit.MAX_BLOCKS]]
    first_line = help_text.strip().splitlines()[0] if help_text.strip() else "dliconn help"
    return kit.Message(text=kit.fallback_text(first_line), blocks=blocks)


# --------------------------------------------------------------------------- notices, watches


def notice(body: rich.Pieces, *, fallback: str, context: Sequence[str] = ()) -> kit.Message:
    """A short reply: `body` is rich text (values in it built with `code`/`value`, so they stay
    exact and inert); `context` lines are our own mrkdwn (escaped here); `fallback` the sentence
    for notifications (escaped here too)."""
    blocks = [kit.rich_block(body)]
    if context:
        blocks.append(
            kit.context_block([rich.trusted(c, 2000) for c in context[: kit.CONTEXT_MAX]])
        )
    return kit.Message(text=kit.fallback_text(fallback), blocks=blocks)
