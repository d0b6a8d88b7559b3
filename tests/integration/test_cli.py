"""`python -m bot show` as a shell user runs it: a real subprocess in demo mode, exit codes
(and its `--lang` in-process, through `main`)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import bot
from bot import __main__ as cli
from bot.local.demo import demo_connections
from tests.fakes.dli import WITHVPC
from tests.fakes.slack_stack import SECRET_KEY
from tests.helpers import SETTING_PREFIXES

# The directory holding the `bot` package, so the subprocess imports this checkout.
_SOURCE_ROOT = str(Path(bot.__file__).resolve().parent.parent)


def run_bot(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m bot args…` with no setting from this shell and no .env in its directory."""
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith(SETTING_PREFIXES)}
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


def test_show_lang_prints_the_card_in_chinese(tmp_path: Path) -> None:
    done = run_bot(tmp_path, "show", "withvpc", "--lang", "zh-CN")

    assert done.returncode == 0, done.stderr
    assert "[刷新]" in done.stdout and "[Refresh]" not in done.stdout
    assert "withvpc" in done.stdout and WITHVPC in done.stdout  # DLI's values, exact
    assert "resource_mode_1" in done.stdout and "ACTIVE" in done.stdout


@pytest.fixture
def in_process(isolated: None, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """`main` in this process, in demo mode, leaving the test run's logging as it is."""
    monkeypatch.setattr(cli, "configure_logging", lambda *args, **kwargs: None)
    return monkeypatch


@pytest.mark.parametrize(
    ("argv", "setting", "chinese"),
    [
        (["show", "withvpc"], None, False),
        (["show", "withvpc"], "zh-CN", True),  # without --lang: DLICONN_LOCALE
        (["show", "withvpc", "--lang", "zh-CN"], None, True),
        (["show", "withvpc", "--lang", "en"], "zh-CN", False),
    ],
)
def test_show_speaks_the_lang_asked_for_else_dliconn_locale(
    in_process: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    setting: str | None,
    chinese: bool,
) -> None:
    if setting is not None:
        in_process.setenv("DLICONN_LOCALE", setting)

    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert ("[刷新]" in out) is chinese and ("[Refresh]" in out) is not chinese
    assert WITHVPC in out


def test_a_verb_uses_the_deployment_the_command_line_read(
    in_process: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Read once, before logging is set up with its secrets: no verb reads dliconn.toml again.
    def read_again(settings: object) -> None:
        raise AssertionError("dliconn.toml read a second time")

    in_process.setattr("bot.services.load_deployment", read_again)
    assert cli.main(["show", "withvpc"]) == 0
    assert WITHVPC in capsys.readouterr().out


def test_lang_takes_only_the_languages_the_bot_speaks(
    in_process: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for verb in ("show", "console"):
        with pytest.raises(SystemExit) as exited:
            cli.main([verb, *(["withvpc"] if verb == "show" else []), "--lang", "fr"])
        assert exited.value.code == 2
        assert "invalid choice: 'fr'" in capsys.readouterr().err


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


@pytest.mark.parametrize(
    ("verb", "setting", "env"),
    [
        ("watch", "DLICONN_METRICS_PORT", {}),
        ("serve", "PORT", {"SLACK_SIGNING_SECRET": "s"}),
    ],
)
def test_a_port_already_taken_stops_start_up_with_one_line(
    tmp_path: Path, verb: str, setting: str, env: dict[str, str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))  # where serve and watch listen
        taken.listen()
        port = taken.getsockname()[1]
        done = run_bot(tmp_path, verb, SLACK_BOT_TOKEN="xoxb-1", **{setting: str(port)}, **env)

    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    # The last line (before it: the log of what started, the demo data here).
    line = done.stderr.splitlines()[-1]
    assert line == (
        f"dliconn: configuration error: {setting}: cannot listen on 0.0.0.0:{port}: "
        "Address already in use"
    )


FILE_SK = "file-project-sk-never-printed-0123456789"
PROJECTS_TOML = """
[projects.prod]
region = "cn-north-4"
project_id = "0123456789abcdef0123456789abcdef"
ak = "${PROD_AK}"
sk = "${PROD_SK}"

[projects.eu]
region = "eu-west-101"
project_id = "fedcba9876543210fedcba9876543210"
iam_user = "ops-bot"
iam_password = "${EU_PASSWORD}"
iam_domain = "acme"

[channels.C0PAYMENTS]
projects = ["prod"]
watch_tags = { team = "payments" }
operators = ["S0ONCALL"]

[guardrails]
external_channels = "read"
"""
PROJECT_SECRETS = {"PROD_AK": "AKIAPRODEXAMPLE", "PROD_SK": FILE_SK, "EU_PASSWORD": FILE_SK[::-1]}


def write_config(directory: Path, text: str, mode: int = 0o600) -> None:
    path = directory / "dliconn.toml"
    path.write_text(text)
    path.chmod(mode)


def test_config_without_a_file_shows_the_default_demo_project(tmp_path: Path) -> None:
    done = run_bot(
        tmp_path, "config", "--json", DLICONN_WATCH_ALL_CHANNELS="C0ALERTS", DLICONN_LOCALE="zh-CN"
    )

    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["source"] is None
    assert list(shown["projects"]) == ["default"]
    assert shown["projects"]["default"]["auth"] == "demo"
    assert shown["channels"]["C0ALERTS"]["watch_all"] is True
    assert shown["routes"] == {"C0ALERTS": "default: every connection"}
    assert shown["settings"]["redis"] == "not configured: in memory, one process"
    assert shown["settings"]["locale"] == "zh-CN"
    assert shown["settings"]["metrics_port"] == "not set: watch serves no HTTP"
    assert shown["notes"] == []


def test_config_prints_every_project_and_channel_with_secrets_masked(tmp_path: Path) -> None:
    write_config(tmp_path, PROJECTS_TOML)

    done = run_bot(
        tmp_path,
        "config",
        **PROJECT_SECRETS,
        SLACK_BOT_TOKEN="xoxb-never-printed",
        REDIS_URL="redis://:redis-pw-never-printed@127.0.0.1:6379/2",
        DLICONN_METRICS_PORT="9100",
    )

    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("dliconn configuration from dliconn.toml\n")
    for shown in (
        "prod",
        "cn-north-4",
        "https://dli.cn-north-4.myhuaweicloud.com",
        "https://iam.eu-west-101.myhuaweicloud.eu",
        "AKIA…(masked)",
        "C0PAYMENTS",
        "S0ONCALL",
        "prod: connections tagged team=payments",
        "external_channels  read",
        "redis://127.0.0.1:6379/2",
    ):
        assert shown in out
    assert re.search(r"^  metrics_port +9100$", out, re.MULTILINE)
    for secret in (*PROJECT_SECRETS.values(), "xoxb-never-printed", "redis-pw-never-printed"):
        assert secret not in out


def test_config_json_is_the_same_configuration_for_scripts(tmp_path: Path) -> None:
    write_config(tmp_path, PROJECTS_TOML)

    # Variables of the single-project set-up left behind: the file's projects win, and it says so.
    leftovers = {"HUAWEICLOUD_SDK_AK": "AKOLD", "HUAWEICLOUD_SDK_SK": "old", "DLI_REGION": "x"}
    done = run_bot(tmp_path, "config", "--json", **PROJECT_SECRETS, **leftovers, DLI_PROJECT_ID="p")

    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["source"] == "dliconn.toml"
    assert shown["notes"] == [
        "DLI_* / HUAWEICLOUD_SDK_* credentials are ignored: the file has [projects]"
    ]
    assert shown["projects"]["prod"] == {
        "region": "cn-north-4",
        "project_id": "0123456789abcdef0123456789abcdef",
        "endpoint": "https://dli.cn-north-4.myhuaweicloud.com",
        "iam_endpoint": None,
        "auth": "aksk",
        "credentials": {"ak": "AKIA…(masked)", "sk": "(set)"},
    }
    assert shown["projects"]["eu"]["credentials"] == {
        "iam_user": "ops-bot",
        "iam_password": "(set)",
        "iam_domain": "acme",
    }
    assert shown["channels"]["C0PAYMENTS"]["projects"] == ["prod"]
    assert shown["channels"]["C0PAYMENTS"]["allow"] == [
        "lookup",
        "list",
        "history",
        "watch",
        "mute",
        "ack",
    ]
    assert shown["guardrails"] == {"external_channels": "read"}


@pytest.mark.parametrize("verb", [["config"], ["show", "withvpc"], ["console"], ["watch"]])
def test_a_bad_file_stops_every_verb_with_one_line(tmp_path: Path, verb: list[str]) -> None:
    write_config(tmp_path, PROJECTS_TOML)
    secrets = {k: v for k, v in PROJECT_SECRETS.items() if k != "EU_PASSWORD"}

    done = run_bot(tmp_path, *verb, **secrets)

    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "dliconn: configuration error: dliconn.toml: projects.eu.iam_password: "
        "${EU_PASSWORD} is not set"
    ]


def test_config_refuses_a_literal_secret_others_can_read(tmp_path: Path) -> None:
    write_config(tmp_path, PROJECTS_TOML.replace("${PROD_SK}", FILE_SK), 0o644)

    done = run_bot(tmp_path, "config", **PROJECT_SECRETS)

    assert done.returncode == 2
    assert done.stderr == (
        "dliconn: configuration error: dliconn.toml: projects.prod.sk: a literal secret in a "
        "file others can read; use ${NAME} or chmod 600\n"
    )
    assert FILE_SK not in done.stderr


def test_dliconn_config_names_the_file_in_the_error(tmp_path: Path) -> None:
    path = tmp_path / "conf.toml"
    path.write_text(PROJECTS_TOML.replace('sk = "${PROD_SK}"', "sk = 1"))

    done = run_bot(tmp_path, "config", DLICONN_CONFIG=str(path), **PROJECT_SECRETS)

    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert line == f"dliconn: configuration error: {path}: projects.prod.sk: must be a string"
