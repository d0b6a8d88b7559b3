"""The command line: serve | socket | watch | console | show | config, and nothing else."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Coroutine, Sequence
from typing import Any

from bot.config import Deployment, Settings, load_deployment, load_settings
from bot.diagnosis import default_catalogue
from bot.errors import ConfigError, DliError, NotFound
from bot.i18n import LOCALES, Locale, speaking
from bot.logs import configure_logging

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _add_lang(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--lang", choices=LOCALES, default=None, help=f"{what} (default: DLICONN_LOCALE)"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="dliconn: a Slack bot for Huawei Cloud DLI enhanced datasource connections.",
        epilog="With no command: console when no Slack token is configured, else serve "
        "(socket when SLACK_APP_TOKEN is set).",
    )
    verbs = parser.add_subparsers(dest="verb", metavar="command")
    verbs.add_parser("serve", help="HTTP mode: /slack/events, /healthz, /metrics on $PORT")
    verbs.add_parser("socket", help="Socket Mode with SLACK_APP_TOKEN")
    verbs.add_parser("watch", help="the watcher: post when watched queues fail and recover")
    console = verbs.add_parser(
        "console", help="a local chat console on the same app (try-before-install)"
    )
    console.add_argument("--user", default=None, help="who types (a Slack user id; U…)")
    console.add_argument("--channel", default=None, help="where (a channel id; D… is your DM)")
    console.add_argument(
        "--groups", default="", help="the user's user groups, comma-separated (S…)"
    )
    console.add_argument(
        "--slack-connect", action="store_true", help="the channel is shared with another org"
    )
    _add_lang(console, "the language of your Slack, so of the replies and the console")
    show = verbs.add_parser("show", help="look one connection up and print it")
    show.add_argument("target", metavar="id-or-name")
    show.add_argument("--json", action="store_true", help="the connection as DLI's JSON")
    _add_lang(show, "the language of the card")
    config = verbs.add_parser(
        "config", help="print the effective configuration (secrets masked) and check it"
    )
    config.add_argument("--json", action="store_true", help="as JSON, for scripts")
    return parser


def _default_verb(settings: Settings) -> str:
    if settings.slack_bot_token is None:
        return "console"
    return "socket" if settings.slack_app_token else "serve"


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)  # exits 2 on a usage error, as argparse does
    try:
        settings = load_settings()
        # Read dliconn.toml now, for every verb: a bad file stops start-up with one line.
        deployment = load_deployment(settings)
        # And the diagnosis catalogue (package data): a broken one stops start-up the same way.
        default_catalogue()
    except ConfigError as exc:
        print(f"dliconn: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    verb = args.verb or _default_verb(settings)
    if verb == "config":
        return _config(settings, deployment, as_json=args.json)
    configure_logging(
        settings.dliconn_log_format,
        "WARNING" if verb in {"show", "console"} else settings.dliconn_log_level,
        [*settings.secret_values(), *deployment.secret_values()],
    )
    try:
        # The file read above, once: its secrets are the ones the log scrubber was given.
        return _run(_verb(verb, settings, deployment, args))
    except ConfigError as exc:
        print(f"dliconn: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _verb(
    verb: str, settings: Settings, deployment: Deployment, args: argparse.Namespace
) -> Coroutine[Any, Any, int]:
    if verb == "show":
        lang: Locale = args.lang or settings.dliconn_locale
        return _show(settings, deployment, args.target, as_json=args.json, lang=lang)
    if verb == "console":
        from bot.local.console import run_console, seat_from

        return _done(run_console(settings, seat=seat_from(args), deployment=deployment))
    if verb in {"serve", "socket"} and settings.slack_bot_token is None:
        raise ConfigError(f"SLACK_BOT_TOKEN is required by {verb}")
    if verb == "serve":
        if settings.slack_signing_secret is None:
            raise ConfigError("SLACK_SIGNING_SECRET is required by serve")
        from bot.runtime import serve

        return _done(serve(settings, deployment))
    if verb == "socket":
        if settings.slack_app_token is None:
            raise ConfigError("SLACK_APP_TOKEN is required by socket")
        from bot.runtime import socket_mode

        return _done(socket_mode(settings, deployment))
    if verb == "watch":
        if settings.slack_bot_token is None:
            raise ConfigError("SLACK_BOT_TOKEN is required by watch (it posts the alerts)")
        from bot.runtime import watch

        return _done(watch(settings, deployment))
    raise ConfigError(f"{verb} is not a command")


def _config(settings: Settings, deployment: Deployment, *, as_json: bool) -> int:
    from bot.config_view import describe, render_json, render_text

    description = describe(settings, deployment)
    print(render_json(description) if as_json else render_text(description))
    return EXIT_OK


async def _done(work: Coroutine[Any, Any, None]) -> int:
    await work
    return EXIT_OK


def _run(work: Coroutine[Any, Any, int]) -> int:
    try:
        return asyncio.run(work)
    except KeyboardInterrupt:
        return EXIT_OK


async def _show(
    settings: Settings, deployment: Deployment, target: str, *, as_json: bool, lang: Locale
) -> int:
    from datetime import UTC, datetime

    from bot.blocks.card import connection_card
    from bot.blocks.lists import choose_connection
    from bot.blocks.render import render_text
    from bot.lookup.finder import Ambiguous
    from bot.services import build_services

    services = await build_services(settings, deployment=deployment)
    try:
        found = await services.directory.find(target)
    except NotFound as exc:
        print(f"dliconn: not found: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except DliError as exc:
        print(f"dliconn: DLI {exc.kind.replace('_', ' ')}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        await services.aclose()
    if isinstance(found, Ambiguous):
        with speaking(lang):
            shortlist = choose_connection(found.matches, found.query, project_of=found.project_of)
        print(render_text(shortlist), file=sys.stderr)
        return EXIT_FAILED
    if as_json:
        print(json.dumps(found.connection.to_api(), indent=2, ensure_ascii=False))
    else:
        with speaking(lang):
            card = connection_card(found, now=datetime.now(UTC), demo=services.demo)
        print(render_text(card, color=sys.stdout.isatty()))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
