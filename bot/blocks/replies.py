"""Short replies in the bot's own words: errors with hints, help, and notices."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from bot.blocks.message import (
    CONTEXT_MAX,
    MAX_BLOCKS,
    SECTION_TEXT_MAX,
    TEXT_BUDGET,
    Message,
    context_block,
    fallback_text,
    section_block,
)
from bot.blocks.text import clean_plain, code, truncate

# --------------------------------------------------------------------------- errors and help


_ERROR_TEXT: Final[dict[str, tuple[str, str]]] = {
    # kind: (headline, default hint). `{subject}` is filled with the escaped id or name.
    "not_found": (
        ":mag: No connection {subject} was found.",
        "Check the id, or try `/dliconn list`.",
    ),
    "forbidden": (
        ":no_entry: The bot's credentials may not read DLI connections in this project.",
        "Ask an administrator to grant the bot's IAM user read access to DLI.",
    ),
    "throttled": (
        ":hourglass_flowing_sand: DLI is throttling requests; the bot is retrying.",
        "Try again in a minute if nothing arrives.",
    ),
    "unavailable": (":warning: DLI is unreachable right now.", "Try again in a minute."),
    "auth_failed": (
        ":closed_lock_with_key: DLI rejected the bot's credentials.",
        "Check the AK/SK (or IAM user and password) and that the server clock is correct.",
    ),
    "bad_response": (
        ":warning: DLI sent an answer the bot could not read.",
        "Try again; if it persists, report the request id.",
    ),
    "bad_input": (":grey_question: I did not understand that: {subject}.", "Try `/dliconn help`."),
    "store_unavailable": (
        ":warning: The bot's storage (Redis) is unreachable right now.",
        "Lookups still work; watching needs the storage. Try again in a minute.",
    ),
    "unexpected": (
        ":boom: Something went wrong on the bot's side.",
        "Tell the bot's operators the reference below.",
    ),
}


def error_message(
    kind: str,
    *,
    subject: str | None = None,
    hint: str | None = None,
    correlation_id: str | None = None,
    request_id: str | None = None,
    stale_shown: bool = False,
) -> Message:
    """A friendly error reply. `kind` is a DliError.kind or bad_input / unexpected (the fallback
    for anything unknown). `hint` is trusted mrkdwn from the bot; `subject` is escaped."""
    headline, default_hint = _ERROR_TEXT.get(kind, _ERROR_TEXT["unexpected"])
    text = headline.format(subject=code(subject, 100) if subject else "that")
    if kind == "unavailable" and stale_shown:
        default_hint = "Showing the last known copy below."
    hint_text = truncate(hint, 2000, style="trusted", multiline=True) if hint else default_hint
    blocks = [section_block(f"{text}\n{hint_text}")]
    context = []
    if correlation_id:
        context.append(f"reference {code(correlation_id, 40)}")
    if request_id:
        context.append(f"DLI request id {code(request_id, 100)}")
    if context:
        blocks.append(context_block(context))
    fallback = headline.format(subject=clean_plain(subject)[:100] if subject else "that")
    fallback = re.sub(r":[a-z_]+: ", "", fallback)
    if correlation_id:
        fallback += f" (reference {clean_plain(correlation_id)[:40]})"
    return Message(text=fallback_text(fallback), blocks=blocks)


def help_message(help_text: str) -> Message:
    """The help text, split to fit sections. It is the bot's own mrkdwn: formatting is kept, but
    `&`, `<`, `>` are escaped, so write `/dliconn <id>` plainly."""
    paragraphs = truncate(help_text.strip(), TEXT_BUDGET, style="trusted", multiline=True).split(
        "\n\n"
    )
    sections: list[str] = []
    for paragraph in paragraphs:
        for start in range(0, len(paragraph), SECTION_TEXT_MAX):
            chunk = paragraph[start : start + SECTION_TEXT_MAX]
            if sections and len(sections[-1]) + 2 + len(chunk) <= SECTION_TEXT_MAX:
                sections[-1] += "\n\n" + chunk
            else:
                sections.append(chunk)
    blocks = [section_block(s) for s in sections[:MAX_BLOCKS]]
    first_line = help_text.strip().splitlines()[0] if help_text.strip() else "dliconn help"
    return Message(text=fallback_text(first_line, "trusted"), blocks=blocks)


# --------------------------------------------------------------------------- notices, watches


def notice(text: str, *, fallback: str, context: Sequence[str] = ()) -> Message:
    """A short reply in the bot's own words.

    `text` and `context` are final mrkdwn: whatever a caller inserts from outside must already
    have gone through `code`/`escape_mrkdwn` (so nothing here escapes it a second time).
    `fallback` is the plain sentence for notifications; it is escaped here.
    """
    blocks = [section_block(_cut_final(text, SECTION_TEXT_MAX))]
    if context:
        blocks.append(context_block([_cut_final(c, 2000) for c in context[:CONTEXT_MAX]]))
    return Message(text=fallback_text(fallback), blocks=blocks)


def _cut_final(mrkdwn: str, limit: int) -> str:
    """Cut already-escaped mrkdwn without splitting an `&…;` entity."""
    if len(mrkdwn) <= limit:
        return mrkdwn
    cut = mrkdwn[: limit - 1]
    entity = cut.rfind("&")
    if entity != -1 and ";" not in cut[entity:]:
        cut = cut[:entity]
    return cut + "…"
