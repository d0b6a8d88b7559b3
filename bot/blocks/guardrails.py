"""The guardrails' replies: a refusal naming its rule, what a channel allows, its audit trail."""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.audit import AuditEntry
from bot.blocks.message import Message, context_block, fallback_text, rich_block
from bot.blocks.text import (
    Element,
    Pieces,
    channel,
    code,
    date,
    emoji,
    is_user_id,
    joined,
    user,
    usergroup,
    value,
    words,
)
from bot.policy import Decision, Ids

_GROUP = re.compile(r"S[A-Z0-9]{2,20}")


def someone(slack_id: str) -> Pieces:
    """A user or user group the configuration names: shown by Slack as @name, never pinging (the
    replies holding them are ephemeral); anything else as the exact text."""
    if _GROUP.fullmatch(slack_id):
        return [usergroup(slack_id)]
    return [user(slack_id)] if is_user_id(slack_id) else code(slack_id, 40)


def _listed(values: Sequence[str], empty: str) -> Pieces:
    return joined([code(v) for v in values], ", ") if values else [words(empty)]


def _where(channel_id: str) -> Element:
    return channel(channel_id)


def _ids(ids: Ids, *, is_channel: bool) -> Pieces:
    if is_channel:
        return [_where(ids.ids[0])] if ids.ids else [words("this channel")]
    return joined([someone(i) for i in ids.ids], " or ")


def refusal(decision: Decision) -> Message:
    """A refusal: what may not be done here, who may, and the rule (a key of dliconn.toml)."""
    body: Pieces = [emoji("no_entry"), words(" ")]
    for part in decision.parts():
        if isinstance(part, str):
            body.append(words(part))
        else:
            body += _ids(part, is_channel=part.ids == (decision.channel_id,))
    body += [words(" ("), words(decision.rule or "policy", code=True), words(").")]
    return Message(text=fallback_text(decision.sentence), blocks=[rich_block(body)])


def policy_message(
    channel_id: str,
    *,
    sharing: str,
    verbs: Sequence[str],
    verbs_rule: str,
    operators: Sequence[str],
    yours: Sequence[str],
    projects: Sequence[str],
) -> Message:
    """What `/dliconn policy` shows: sharing, verbs, who may change things, visible projects."""
    changes: Pieces = (
        [words("only "), *joined([someone(o) for o in operators], ", "),
         words(f" (channels.{channel_id}.operators)")]
        if operators
        else [words("anyone here (no operators are set)")]
    )  # fmt: skip
    lines: list[Pieces] = [
        [emoji("shield"), words(" What "), _where(channel_id), words(" allows", bold=True)],
        [words("Sharing: "), words(sharing)],
        [words("Verbs: "), *_listed(verbs, "none"), words(f" ({verbs_rule})")],
        [words("Watch, unwatch, mute, ack, test and the audit trail: "), *changes],
        [words("You may use: "), *_listed(yours, "nothing")],
        [words("Projects: "), *_listed(projects, "none")],
    ]  # fmt: skip
    body = joined(lines, "\n")
    return Message(text=fallback_text(f"What {channel_id} allows"), blocks=[rich_block(body)])


def audit_message(channel_id: str, entries: Sequence[AuditEntry], *, asked: int) -> Message:
    """A channel's last changes, newest first: when, who, what, which connection, the result."""
    title: Pieces = [emoji("scroll"), words(" Last changes in ", bold=True), _where(channel_id)]
    if not entries:
        body = [*title, words("\nNothing was changed here in the last 90 days.")]
        return Message(text=fallback_text("No recorded changes"), blocks=[rich_block(body)])
    lines: list[Pieces] = [title]
    for entry in entries:
        project = [words(" in "), *code(entry.project, 40)] if entry.project else []
        lines.append(
            [date(entry.when), words(" "), *someone(entry.user), words(f" {entry.action} "),
             *code(entry.connection, 80), *project, words(": "), *value(entry.result, 120)]
        )  # fmt: skip
    blocks = [rich_block(joined(lines, "\n"))]
    shown = f"The last {len(entries)} (of at most {asked} asked); entries are kept 90 days."
    blocks.append(context_block([shown]))
    return Message(text=fallback_text(f"Last {len(entries)} changes"), blocks=blocks)
