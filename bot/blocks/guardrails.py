"""The guardrails' replies: a refusal naming its rule, what a channel allows, its audit trail."""

from __future__ import annotations

from collections.abc import Sequence

from bot.audit import AuditEntry
from bot.blocks import message as kit
from bot.blocks import text as rich
from bot.blocks.replies import styled
from bot.i18n import _, ngettext
from bot.policy import Decision, Ids
from bot.slack_ids import is_usergroup_id


def someone(slack_id: str) -> rich.Pieces:
    """A user or user group the configuration names: shown by Slack as @name, never pinging (the
    replies holding them are ephemeral); anything else as the exact text."""
    if is_usergroup_id(slack_id):
        return [rich.usergroup(slack_id)]
    return rich.person(slack_id)


def _listed(values: Sequence[str], empty: str) -> rich.Pieces:
    return rich.joined([rich.code(v) for v in values], _(", ")) if values else [rich.words(empty)]


def _where(channel_id: str) -> rich.Element:
    return rich.channel(channel_id)


def _ids(ids: Ids, *, is_channel: bool) -> rich.Pieces:
    if is_channel:
        return [_where(ids.ids[0])] if ids.ids else [rich.words(_("this channel"))]
    return rich.joined([someone(i) for i in ids.ids], _(" or "))


def refusal(decision: Decision) -> kit.Message:
    """A refusal: what may not be done here, who may, and the rule (a key of dliconn.toml)."""
    body: rich.Pieces = rich.icon_line("no_entry", [])
    for part in decision.parts():
        if isinstance(part, str):
            body.append(rich.words(part))
        else:
            body += _ids(part, is_channel=part.ids == (decision.channel_id,))
    body += rich.phrase(_(" ({rule})."), rule=[rich.words(decision.rule or "policy", code=True)])
    return kit.Message(text=kit.fallback_text(decision.sentence), blocks=[kit.rich_block(body)])


def policy_message(
    channel_id: str,
    *,
    sharing: str,
    verbs: Sequence[str],
    verbs_rule: str,
    operators: Sequence[str],
    yours: Sequence[str],
    projects: Sequence[str],
) -> kit.Message:
    """What `/dliconn policy` shows: sharing, verbs, who may change things, visible projects."""
    changes: rich.Pieces = (
        rich.phrase(
            _("only {operators} ({key})"),
            operators=rich.joined([someone(o) for o in operators], _(", ")),
            key=f"channels.{channel_id}.operators",
        )
        if operators
        else [rich.words(_("anyone here (no operators are set)"))]
    )
    title = styled(rich.phrase(_("What {channel} allows"), channel=_where(channel_id)), bold=True)
    lines: list[rich.Pieces] = [
        rich.icon_line("shield", title),
        rich.phrase(_("Sharing: {sharing}"), sharing=sharing),
        rich.phrase(_("Verbs: {verbs} ({rule})"), verbs=_listed(verbs, _("none")), rule=verbs_rule),
        rich.phrase(_("Watch, unwatch, mute, ack, test and the audit trail: {who}"), who=changes),
        rich.phrase(_("You may use: {verbs}"), verbs=_listed(yours, _("nothing"))),
        rich.phrase(_("Projects: {projects}"), projects=_listed(projects, _("none"))),
    ]
    body = rich.joined(lines, "\n")
    sentence = _("What {channel} allows").format(channel=channel_id)
    return kit.Message(text=kit.fallback_text(sentence), blocks=[kit.rich_block(body)])


def audit_message(channel_id: str, entries: Sequence[AuditEntry], *, asked: int) -> kit.Message:
    """A channel's last changes, newest first: when, who, what, which connection, the result."""
    where = _where(channel_id)
    title: rich.Pieces = rich.icon_line(
        "scroll", styled(rich.phrase(_("Last changes in {channel}"), channel=where), bold=True)
    )
    if not entries:
        body = [*title, rich.words("\n" + _("Nothing was changed here in the last 90 days."))]
        return kit.Message(
            text=kit.fallback_text(_("No recorded changes")), blocks=[kit.rich_block(body)]
        )
    lines: list[rich.Pieces] = [title]
    for entry in entries:
        slots: dict[str, rich.Pieces | rich.Element | str] = {
            "when": [rich.date(entry.when)],
            "who": someone(entry.user),
            # What was done, in the reader's words (bot.audit.shown); it may carry what the
            # person typed (a queue, an address), so it is a value: nothing in it links.
            "action": rich.value(entry.action, 200),
            "connection": rich.code(entry.connection, 80),
            "result": rich.value(entry.result, 120),
        }
        if entry.project:
            template = _("{when} {who} {action} {connection} in {project}: {result}")
            lines.append(rich.phrase(template, project=rich.code(entry.project, 40), **slots))
        else:
            lines.append(rich.phrase(_("{when} {who} {action} {connection}: {result}"), **slots))
    blocks = [kit.rich_block(rich.joined(lines, "\n"))]
    shown = _("The last {count} (of at most {asked} asked); entries are kept 90 days.")
    blocks.append(kit.context_block([shown.format(count=len(entries), asked=asked)]))
    sentence = ngettext("Last {n} change", "Last {n} changes", len(entries))
    return kit.Message(text=kit.fallback_text(sentence.format(n=len(entries))), blocks=blocks)
