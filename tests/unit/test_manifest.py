"""manifest.yml is a valid Slack app manifest asking for the least and declaring what code uses."""

from __future__ import annotations

import ast
import copy
import json
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from bot.chat.parsing import Help, parse_command

REPO = Path(__file__).resolve().parents[2]
MANIFEST = REPO / "manifest.yml"
# In CI the shared folder is a sibling of the clone, as it is of the working tree here.
SCHEMA = REPO.parent / "shared" / "slack" / "manifest.schema.1.0.0.json"
SOURCE_DIRS = (REPO / "bot", REPO / "handlers")

EXPECTED_BOT_SCOPES = {
    "commands",
    "app_mentions:read",
    "chat:write",
    "channels:history",
    "channels:read",
    "groups:read",
    "groups:history",
    "im:read",
    "mpim:read",
    "usergroups:read",
    "users:read",
}
EXPECTED_BOT_EVENTS = {"app_mention", "app_home_opened", "message.channels", "message.groups"}
EVENTS_URL_PATH = "/slack/events"
# A Bolt listener for "message" needs the message.* subscriptions of the channel kinds it serves.
MESSAGE_SUBSCRIPTIONS = {"message.channels", "message.groups"}
INTERACTIVE_LISTENERS = {"action", "block_action", "view", "view_submission", "view_closed"}


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    loaded = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    if not SCHEMA.is_file():
        reason = f"Slack's manifest schema is not at {SCHEMA} (the shared folder beside the clone)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


def _schema_errors(
    validator: jsonschema.protocols.Validator, document: Mapping[str, Any]
) -> list[str]:
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
        for error in validator.iter_errors(document)
    ]


def test_manifest_matches_slacks_schema(
    manifest: dict[str, Any], validator: jsonschema.protocols.Validator
) -> None:
    assert _schema_errors(validator, manifest) == []


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("settings", "socket_mode"), True),
        (("features", "slash_commands", 0, "command"), "dliconn"),
        (("settings", "interactivity", "request_url"), "YOUR-HOST/slack/events"),
    ],
)
def test_schema_catches_a_broken_manifest(
    manifest: dict[str, Any],
    validator: jsonschema.protocols.Validator,
    path: tuple[str | int, ...],
    value: object,
) -> None:
    broken = copy.deepcopy(manifest)
    parent: Any = broken
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    assert _schema_errors(validator, broken) != []


def test_background_color_is_a_hex_color(manifest: dict[str, Any]) -> None:
    # Slack's schema spells this constraint "regex", which JSON Schema ignores, so check it here.
    color = manifest["display_information"]["background_color"]
    assert re.fullmatch(r"#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?", color)


CID = "4c693ecc-bab8-4113-a838-129cedc9a563"
EVERY_VERB = (
    "list",
    f"history {CID}",
    f"test {CID} adhoc 10.0.0.8:3306",
    f"route {CID}",
    f"watch {CID}",
    f"unwatch {CID}",
    "watches",
    "policy",
    "audit",
    "help",
)


def test_bot_scopes_are_exactly_the_minimal_set(manifest: dict[str, Any]) -> None:
    scopes = manifest["oauth_config"]["scopes"]
    assert sorted(scopes["bot"]) == sorted(EXPECTED_BOT_SCOPES)
    assert set(scopes) == {"bot"}


def test_subscriptions_and_command_are_declared(manifest: dict[str, Any]) -> None:
    settings = manifest["settings"]
    assert set(settings["event_subscriptions"]["bot_events"]) == EXPECTED_BOT_EVENTS
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == "/dliconn"
    assert command["should_escape"] is False
    assert "list [failed|active|deleted]" in command["usage_hint"]
    # Every verb of the grammar is hinted, and each hinted example parses as that verb.
    hinted = set(re.findall(r"[a-z]+", command["usage_hint"]))
    for example in EVERY_VERB:
        assert example.split()[0] in hinted, example
        parsed = parse_command(example)
        assert not isinstance(parsed, Help) or parsed == Help(), example  # "help" is Help()
    assert manifest["features"]["app_home"] == {
        "home_tab_enabled": True,
        "messages_tab_enabled": False,
    }
    assert settings["interactivity"]["is_enabled"] is True
    flags = ("org_deploy_enabled", "socket_mode_enabled", "token_rotation_enabled")
    assert [settings[flag] for flag in flags] == [False, False, False]


def test_every_request_url_is_the_one_events_endpoint(manifest: dict[str, Any]) -> None:
    urls = [
        manifest["settings"]["event_subscriptions"]["request_url"],
        manifest["settings"]["interactivity"]["request_url"],
        *(command["url"] for command in manifest["features"]["slash_commands"]),
    ]
    assert all(url.startswith("https://") and url.endswith(EVENTS_URL_PATH) for url in urls)


# -- what the code registers ---------------------------------------------------------------------


def _module_constants(tree: ast.Module) -> dict[str, str]:
    constants: dict[str, str] = {}
    for node in tree.body:
        target, value = None, None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign):
            target, value = node.target, node.value
        if (
            isinstance(target, ast.Name)
            and isinstance(value, ast.Constant)
            and isinstance(value.value, str)
        ):
            constants[target.id] = value.value
    return constants


def _literal(node: ast.expr, constants: dict[str, str]) -> str | None:
    """A listener's first argument as a string: a literal, a module constant or {"type": ...}."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    if isinstance(node, ast.Dict):
        for key, value in zip(node.keys, node.values, strict=True):
            if isinstance(key, ast.Constant) and key.value == "type" and value is not None:
                return _literal(value, constants)
    return None


def _looks_like_an_app(receiver: ast.expr) -> bool:
    # Listeners are registered on the Bolt app (`app`, `self.app`, `bolt_app`, ...); other
    # objects with an `.event(...)` method are not Slack subscriptions.
    name = receiver.attr if isinstance(receiver, ast.Attribute) else getattr(receiver, "id", "")
    return "app" in name.lower()


def _listener_registrations() -> Iterator[tuple[str, str | None, str]]:
    """(kind, argument, where) for each Bolt-style `x.command(...)`, `x.event(...)`, ... call."""
    kinds = {"command", "event", "message", "shortcut", *INTERACTIVE_LISTENERS}
    for source_dir in SOURCE_DIRS:
        for path in sorted(source_dir.rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            constants = _module_constants(tree)
            for node in ast.walk(tree):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                    continue
                if node.func.attr not in kinds or not _looks_like_an_app(node.func.value):
                    continue
                argument = _literal(node.args[0], constants) if node.args else None
                yield node.func.attr, argument, f"{path.relative_to(REPO)}:{node.lineno}"


def test_every_listener_the_code_registers_is_declared(manifest: dict[str, Any]) -> None:
    registrations = list(_listener_registrations())
    if not registrations:
        pytest.skip("no Bolt listeners are registered in bot/ or handlers/ yet")
    commands = {c["command"] for c in manifest["features"]["slash_commands"]}
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    interactive = manifest["settings"]["interactivity"]["is_enabled"]

    undeclared = []
    for kind, argument, where in registrations:
        if kind == "command":
            missing = argument is not None and argument not in commands
        elif kind == "message" or (kind == "event" and argument == "message"):
            missing = not events >= MESSAGE_SUBSCRIPTIONS
        elif kind == "event":
            missing = argument is not None and argument not in events
        elif kind == "shortcut":
            missing = True  # the manifest declares no shortcuts
        else:
            missing = not interactive
        if missing:
            undeclared.append(f"{where}: {kind}({argument!r})")
    assert undeclared == [], "listeners the manifest does not declare:\n" + "\n".join(undeclared)
