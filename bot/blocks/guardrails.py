"""The guardrails' replies: a refusal naming its rule, what a channel allows, its audit trail."""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.audit import AuditEntry
from bot.blocks.message import Message, context_block, fallback_text, rich_block
from bot.blocks.replies import styled
from bot.blocks.text import (
    Element,
    Pieces,
    channel,
    code,
    date,
    icon_line,
    joined,
    person,
    phrase,
    usergroup,
    value,
    words,
)
from bot.i18n import _, ngettext
from bot.policy import Decision, Ids

_GROUP = re.compile(r"S[A-Z0-9]{2,20}")


def someone(slack_id: str) -> Pieces:
    """A user or user group the configuration names: shown by Slack as @name, never pinging (the
    replies holding them are ephemeral); anything else as the exact text."""
    if _GROUP.fullmatch(slack_id):
        return [usergroup(slack_id)]
    return person(slack_id)


def _listed(values: Sequence[str], empty: str) -> Pieces:
    return joined([code(v) for v in values], _(", ")) if values else [words(empty)]


def _where(channel_id: str) -> Element:
    return channel(channel_id)


def _ids(ids: Ids, *, is_channel: bool) -> Pieces:
    if is_channel:
        return [_where(ids.ids[0])] if ids.ids else [words(_("this channel"))]
    return joined([someone(i) for i in ids.ids], _(" or "))


def refusal(decision: Decision) -> Message:
    """A refusal: what may not be done here, who may, and the rule (a key of dliconn.toml)."""
    body: Pieces = icon_line("no_entry", [])
    for part in decision.parts():
        if isinstance(part, str):
            body.append(words(part))
        else:
            body += _ids(part, is_channel=part.ids == (decision.channel_id,))
    body += phrase(_(" ({rule})."), rule=[words(decision.rule or "policy", code=True)])
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
        phrase(
            _("only {operators} ({key})"),
            operators=joined([someone(o) for o in operators], _(", ")),
            key=f"channels.{channel_id}.operators",
        )
        if operators
        else [words(_("anyone here (no operators are set)"))]
    )
    title = styled(phrase(_("What {channel} allows"), channel=_where(channel_id)), bold=True)
    lines: list[Pieces] = [
        icon_line("shield", title),
        phrase(_("Sharing: {sharing}"), sharing=sharing),
        phrase(_("Verbs: {verbs} ({rule})"), verbs=_listed(verbs, _("none")), rule=verbs_rule),
        phrase(_("Watch, unwatch, mute, ack, test and the audit trail: {who}"), who=changes),
        phrase(_("You may use: {verbs}"), verbs=_listed(yours, _("nothing"))),
        phrase(_("Projects: {projects}"), projects=_listed(projects, _("none"))),
    ]
    body = joined(lines, "\n")
    sentence = _("What {channel} allows").format(channel=channel_id)
    return Message(text=fallback_text(sentence), blocks=[rich_block(body)])


def audit_message(channel_id: str, entries: Sequence[AuditEntry], *, asked: int) -> Message:
    """A channel's last changes, newest first: when, who, what, which connection, the result."""
    where = _where(channel_id)
    title: Pieces = icon_line(
        "scroll", styled(phrase(_("Last changes in {channel}"), channel=where), bold=True)
    )
    if not entries:
        body = [*title, words("\n" + _("Nothing was changed here in the last 90 days."))]
        return Message(text=fallback_text(_("No recorded changes")), blocks=[rich_block(body)])
    lines: list[Pieces] = [title]
    for entry in entries:
        slots: dict[str, Pieces | Element | str] = {
            "when": [date(entry.when)],
            "who": someone(entry.user),
            # What was done, in the reader's words (bot.audit.shown); it may carry what the
            # person typed (a queue, an address), so it is a value: nothing in it links.
            "action": value(entry.action, 200),
            "connection": code(entry.connection, 80),
            "result": value(entry.result, 120),
        }
        if entry.project:
            template = _("{when} {who} {action} {connection} in {project}: {result}")
            lines.append(phrase(template, project=code(entry.project, 40), **slots))
        else:
            lines.append(phrase(_("{when} {who} {action} {connection}: {result}"), **slots))
    blocks = [rich_block(joined(lines, "\n"))]
    shown = _("The last {count} (of at most {asked} asked); entries are kept 90 days.")
    blocks.append(context_block([shown.format(count=len(entries), asked=asked)]))
    sentence = ngettext("Last {n} change", "Last {n} changes", len(entries))
    return Message(text=fallback_text(sentence.format(n=len(entries))), blocks=blocks)
