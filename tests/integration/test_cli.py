"""`python -m bot show` as a shell user runs it: a real subprocess in demo mode, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import bot
from bot.local.demo import demo_connections
from tests.fakes.dli import WITHVPC
from tests.fakes.slack_stack import SECRET_KEY

_SETTING_PREFIXES = ("HUAWEICLOUD_", "DLI_", "DLICONN_", "REDIS_", "SLACK_", "PORT")
# The directory holding the `bot` package, so the subprocess imports this checkout.
_SOURCE_ROOT = str(Path(bot.__file__).resolve().parent.parent)


def run_bot(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m bot args…` with no setting from this shell and no .env in its directory."""
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith(_SETTING_PREFIXES)}
    python_path = os.pathsep.join(p for p in (_SOURCE_ROOT, clean.get("PYTHONPATH")) if p)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env={**clean, "PYTHONPATH": python_path, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def without_empty_lists(connection: dict[str, object]) -> dict[str, object]:
    # The model spells absent lists as []; the demo data leaves some of them out.
    return {k: v for k, v in connection.items() if v != []}


def test_show_a_name_prints_the_card(tmp_path: Path) -> None:
    done = run_bot(tmp_path, "show", "withvpc")

    assert done.returncode == 0, done.stderr
    assert "withvpc" in done.stdout
    assert WITHVPC in done.stdout
    assert "resource_mode_1 · queue · ACTIVE" in done.stdout
    assert "\x1b[" not in done.stdout  # no colours when stdout is not a terminal


def test_show_json_is_the_connection_in_the_apis_shape(tmp_path: Path) -> None:
    done = run_bot(tmp_path, "show", WITHVPC.upper(), "--json")

    assert done.returncode == 0, done.stderr
    [expected] = [c for c in demo_connections() if c["id"] == WITHVPC]
    assert without_empty_lists(json.loads(done.stdout)) == expected


def test_show_an_unknown_name_fails_with_a_reason(tmp_path: Path) -> None:
    done = run_bot(tmp_path, "show", "nosuch")

    assert done.returncode == 1
    assert done.stdout == ""
    assert "not found" in done.stderr and "nosuch" in done.stderr
    assert "Traceback" not in done.stderr


def test_show_without_a_target_is_a_usage_error(tmp_path: Path) -> None:
    done = run_bot(tmp_path, "show")

    assert done.returncode == 2
    assert "id-or-name" in done.stderr


@pytest.mark.parametrize(
    ("setting", "value", "named"),
    [
        ("PORT", "abc", "PORT"),
        ("HUAWEICLOUD_SDK_AK", "AK-WITHOUT-ITS-SK", "HUAWEICLOUD_SDK_SK"),
        ("HUAWEICLOUD_SDK_SK", SECRET_KEY, "HUAWEICLOUD_SDK_AK"),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_variable(
    tmp_path: Path, setting: str, value: str, named: str
) -> None:
    done = run_bot(tmp_path, "show", "withvpc", **{setting: value})

    assert done.returncode == 2
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith("dliconn: configuration error: ")
    assert named in line
    assert value not in line  # the value might have been a secret


@pytest.mark.parametrize(
    ("verb", "env", "named"),
    [
        ("serve", {"SLACK_SIGNING_SECRET": "s"}, "SLACK_BOT_TOKEN"),
        (
            "serve",
            {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": ""},
            "SLACK_SIGNING_SECRET",
        ),
        ("socket", {"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_APP_TOKEN"),
        ("socket", {"SLACK_APP_TOKEN": "xapp-1"}, "SLACK_BOT_TOKEN"),
    ],
)
def test_a_mode_without_its_slack_settings_says_which_one_is_missing(
    tmp_path: Path, verb: str, env: dict[str, str], named: str
) -> None:
    done = run_bot(tmp_path, verb, **env)

    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert named in line
    assert "Traceback" not in done.stderr
