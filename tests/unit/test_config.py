"""Settings: every contract variable is read, bad values fail with one line, secrets stay hidden."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Settings, env_project, load_settings
from bot.errors import ConfigError
from bot.local.demo import DEMO_PROJECT_ID
from bot.logs import SecretScrubber

SK = "sk-value-that-must-never-print-0123456789"


pytestmark = pytest.mark.usefixtures("isolated")


def test_nothing_configured_means_demo_mode_on_embedded_defaults() -> None:
    settings = load_settings()

    assert settings.dli_mode == "demo"
    assert settings.project_id == DEMO_PROJECT_ID
    assert settings.redis_dsn is None
    assert settings.port == 3000
    assert settings.dliconn_metrics_port is None  # the worker listens on nothing
    assert settings.dliconn_cache_ttl == 30
    assert settings.dliconn_watch_interval == 60
    assert settings.dliconn_response_type == "ephemeral"
    assert settings.slack_api_url == "https://slack.com/api/"


def test_every_contract_variable_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    values = {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": "signing",
        "SLACK_APP_TOKEN": "xapp-test",
        "SLACK_API_URL": "http://127.0.0.1:9/api/",
        "HUAWEICLOUD_SDK_AK": "AK",
        "HUAWEICLOUD_SDK_SK": SK,
        "HUAWEICLOUD_SDK_SECURITY_TOKEN": "sts",
        "DLI_REGION": "cn-north-4",
        "DLI_PROJECT_ID": "p" * 32,
        "DLI_IAM_ENDPOINT": "http://iam.local",
        "REDIS_URL": "redis://:pw-secret@127.0.0.1:6379/3",
        "PORT": "8080",
        "DLICONN_METRICS_PORT": "9100",
        "DLICONN_CACHE_TTL": "5",
        "DLICONN_WATCH_INTERVAL": "0.5",
        "DLICONN_RESPONSE_TYPE": "in_channel",
        "DLICONN_INCIDENT_CHANNELS": "C1, C2,,",
        "DLICONN_WATCH_ALL_CHANNELS": "C9",
        "DLICONN_LOG_FORMAT": "json",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)

    s = load_settings()

    assert s.dli_mode == "aksk"
    # The endpoints the client is built with: the environment's one project's.
    project = env_project(s)
    assert project.base_url == "https://dli.cn-north-4.myhuaweicloud.com"
    assert project.iam_base_url == "http://iam.local"
    assert s.project_id == "p" * 32
    assert s.port == 8080
    assert s.dliconn_metrics_port == 9100
    assert s.dliconn_watch_interval == 0.5
    assert s.incident_channels == {"C1", "C2"}
    assert s.watch_all_channels == {"C9"}
    assert s.dliconn_log_format == "json"
    assert s.redis_dsn == "redis://:pw-secret@127.0.0.1:6379/3"
    # The log scrubber gets every secret, and the Redis password rather than the whole URL.
    assert set(s.secret_values()) == {"xoxb-test", "signing", "xapp-test", SK, "sts", "pw-secret"}


def test_secrets_never_show_in_repr_or_str(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUAWEICLOUD_SDK_AK", "AK")
    monkeypatch.setenv("HUAWEICLOUD_SDK_SK", SK)
    monkeypatch.setenv("DLI_ENDPOINT", "http://127.0.0.1:1")
    monkeypatch.setenv("DLI_PROJECT_ID", "p" * 32)

    s = load_settings()

    assert SK not in repr(s)
    assert SK not in str(s)


def test_project_id_alias_and_eu_domain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUAWEICLOUD_SDK_AK", "AK")
    monkeypatch.setenv("HUAWEICLOUD_SDK_SK", SK)
    monkeypatch.setenv("HUAWEICLOUD_SDK_PROJECT_ID", "q" * 32)
    monkeypatch.setenv("DLI_REGION", "eu-west-101")

    s = load_settings()

    assert s.dli_project_id == "q" * 32
    assert env_project(s).base_url == "https://dli.eu-west-101.myhuaweicloud.eu"


def test_a_blank_value_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "  ")

    s = load_settings()

    assert s.slack_signing_secret is None
    assert s.slack_bot_token is None


def test_env_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DLICONN_CACHE_TTL=7\n")

    assert load_settings().dliconn_cache_ttl == 7


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"PORT": "abc"}, "PORT"),
        ({"DLICONN_METRICS_PORT": "0"}, "DLICONN_METRICS_PORT"),
        ({"DLICONN_METRICS_PORT": "65536"}, "DLICONN_METRICS_PORT"),
        ({"DLICONN_METRICS_PORT": "abc"}, "DLICONN_METRICS_PORT"),
        ({"DLICONN_RESPONSE_TYPE": "loud"}, "DLICONN_RESPONSE_TYPE"),
        ({"DLICONN_WATCH_INTERVAL": "0"}, "DLICONN_WATCH_INTERVAL"),
        ({"HUAWEICLOUD_SDK_AK": "AK"}, "HUAWEICLOUD_SDK_SK"),
        ({"HUAWEICLOUD_SDK_SK": SK}, "HUAWEICLOUD_SDK_AK"),
        ({"HUAWEICLOUD_SDK_AK": "AK", "HUAWEICLOUD_SDK_SK": SK}, "DLI_PROJECT_ID"),
        (
            {"HUAWEICLOUD_SDK_AK": "AK", "HUAWEICLOUD_SDK_SK": SK, "DLI_PROJECT_ID": "p"},
            "DLI_REGION",
        ),
        ({"DLI_IAM_USER": "ops"}, "DLI_IAM_PASSWORD"),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], named: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    with pytest.raises(ConfigError) as caught:
        load_settings()

    message = str(caught.value)
    assert named in message
    assert "\n" not in message
    assert SK not in message


@pytest.mark.parametrize("name", ["DLICONN_INCIDENT_CHANNELS", "DLICONN_WATCH_ALL_CHANNELS"])
def test_a_channel_list_names_its_entry_that_is_not_a_channel_id(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv(name, "C0INCIDENT, #incidents, c0lower")

    with pytest.raises(ConfigError) as caught:
        load_settings()

    assert str(caught.value) == (
        f"{name}: '#incidents' is not a Slack channel id (C…, G… or D…, upper case)"
    )


def test_the_scrubber_replaces_configured_secrets_in_log_text() -> None:
    scrubber = SecretScrubber([SK, "xx"])  # too-short values are not scrubbed: they'd mangle text

    assert scrubber.scrub(f"signing failed for {SK} (xx)") == "signing failed for *** (xx)"


def test_settings_can_be_built_without_any_environment() -> None:
    assert Settings(_env_file=None).dli_mode == "demo"
