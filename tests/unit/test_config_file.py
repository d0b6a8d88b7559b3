"""dliconn.toml: strict models, ${NAME} from the environment, and one exact line per mistake."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.config import (
    DEFAULT_VERBS,
    ChannelConfig,
    Deployment,
    ProjectConfig,
    load_deployment,
    load_settings,
)
from bot.errors import ConfigError
from bot.local.demo import DEMO_PROJECT_ID

SK = "sk-from-the-environment-never-printed-0123"
TOKEN = "security-token-never-printed-4567"
PASSWORD = "iam-password-never-printed-89ab"
PROD_ID = "0123456789abcdef0123456789abcdef"
SG_ID = "fedcba9876543210fedcba9876543210"

PROD = f"""
[projects.prod]
region = "cn-north-4"
project_id = "{PROD_ID}"
ak = "${{PROD_AK}}"
sk = "${{PROD_SK}}"
"""

COMPLETE = f"""{PROD}security_token = "${{PROD_TOKEN}}"

[projects.sg-staging]
region = "ap-southeast-3"
project_id = "{SG_ID}"
endpoint = "https://dli.internal.example:8443/"
iam_endpoint = "https://iam.internal.example"
iam_user = "ops-bot"
iam_password = "${{SG_PASSWORD}}"
iam_domain = "acme"

[channels.C0PAYMENTS]
projects = ["prod"]
watch_all = true
watch_tags = {{ team = "payments" }}
operators = ["S0ONCALL", "U0ALICE", "W0BOB"]
allow = ["lookup", "list", "watch", "mute", "ack", "history", "test"]
locale = "zh-CN"

[channels.G0STAGING]
watch_tags = {{ env = "staging" }}

[guardrails]
external_channels = "read"
"""


@pytest.fixture(autouse=True)
def secrets_in_env(isolated: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """No setting from the machine; the secrets the files refer to are in the environment."""
    monkeypatch.setenv("PROD_AK", "AKIAPRODEXAMPLE")
    monkeypatch.setenv("PROD_SK", SK)
    monkeypatch.setenv("PROD_TOKEN", TOKEN)
    monkeypatch.setenv("SG_PASSWORD", PASSWORD)


def write(text: str, mode: int = 0o600, name: str = "dliconn.toml") -> Path:
    path = Path(name)
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def load() -> Deployment:
    return load_deployment(load_settings())


def refusal() -> str:
    with pytest.raises(ConfigError) as caught:
        load()
    message = str(caught.value)
    assert "\n" not in message
    for secret in (SK, TOKEN, PASSWORD):
        assert secret not in message
    return message


def test_a_complete_file_reads_into_the_models() -> None:
    write(COMPLETE)

    deployment = load()

    assert deployment.source == Path("dliconn.toml")
    assert deployment.aliases == ("prod", "sg-staging")  # the file's order
    prod, staging = deployment.projects
    assert prod == deployment.project("prod")
    assert deployment.project("nosuch") is None
    assert (prod.region, prod.project_id, prod.mode) == ("cn-north-4", PROD_ID, "aksk")
    assert prod.ak == "AKIAPRODEXAMPLE"
    assert prod.sk == SecretStr(SK)
    assert prod.security_token == SecretStr(TOKEN)
    assert prod.base_url == "https://dli.cn-north-4.myhuaweicloud.com"
    assert prod.iam_base_url == "https://iam.cn-north-4.myhuaweicloud.com"
    assert staging.mode == "iam"
    assert (staging.iam_user, staging.iam_domain) == ("ops-bot", "acme")
    assert staging.iam_password == SecretStr(PASSWORD)
    assert staging.base_url == "https://dli.internal.example:8443"
    assert staging.iam_base_url == "https://iam.internal.example"
    assert sorted(deployment.secret_values()) == sorted([SK, TOKEN, PASSWORD])
    for secret in (SK, TOKEN, PASSWORD, "AKIAPRODEXAMPLE"):
        assert secret not in repr(deployment)

    payments = deployment.channel("C0PAYMENTS")
    assert payments == ChannelConfig(
        projects=["prod"],
        watch_all=True,
        watch_tags={"team": "payments"},
        operators=["S0ONCALL", "U0ALICE", "W0BOB"],
        allow=["lookup", "list", "watch", "mute", "ack", "history", "test"],
        locale="zh-CN",
    )
    assert deployment.visible_projects("C0PAYMENTS") == ("prod",)
    assert deployment.visible_projects("G0STAGING") == ("prod", "sg-staging")
    assert deployment.channel("G0STAGING").watch_tags == {"env": "staging"}
    # A channel the file does not name: every project, every verb but test, anyone.
    assert deployment.channel("C0OTHER") == ChannelConfig()
    assert deployment.visible_projects("C0OTHER") == ("prod", "sg-staging")
    assert deployment.channel("C0OTHER").allowed_verbs == DEFAULT_VERBS
    assert "test" not in DEFAULT_VERBS
    assert deployment.guardrails.external_channels == "read"


def test_the_eu_region_defaults_to_its_own_domain() -> None:
    write(PROD.replace("cn-north-4", "eu-west-101"))

    [project] = load().projects

    assert project.base_url == "https://dli.eu-west-101.myhuaweicloud.eu"
    assert project.iam_base_url == "https://iam.eu-west-101.myhuaweicloud.eu"


def test_dliconn_config_names_a_file_elsewhere(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "etc").mkdir()
    path = write(PROD, name="etc/bot.toml")
    write("this is not TOML")  # ./dliconn.toml is not read when DLICONN_CONFIG is set
    monkeypatch.setenv("DLICONN_CONFIG", str(path))

    deployment = load()

    assert deployment.source == path
    assert deployment.aliases == ("prod",)


def test_dliconn_config_naming_a_missing_file_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DLICONN_CONFIG", "nosuch.toml")

    assert refusal() == "nosuch.toml: no such file (DLICONN_CONFIG names it)"


def test_without_a_file_the_environment_is_the_default_project(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {
        "HUAWEICLOUD_SDK_AK": "AKENV",
        "HUAWEICLOUD_SDK_SK": SK,
        "HUAWEICLOUD_SDK_SECURITY_TOKEN": TOKEN,
        "DLI_REGION": "ap-southeast-3",
        "DLI_PROJECT_ID": SG_ID,
        "DLICONN_WATCH_ALL_CHANNELS": "C9",
    }.items():
        monkeypatch.setenv(name, value)

    deployment = load()

    assert deployment.source is None
    [project] = deployment.projects
    assert project == ProjectConfig(
        alias="default",
        region="ap-southeast-3",
        project_id=SG_ID,
        ak="AKENV",
        sk=SecretStr(SK),
        security_token=SecretStr(TOKEN),
    )
    assert project.base_url == "https://dli.ap-southeast-3.myhuaweicloud.com"
    assert deployment.channels == {"C9": ChannelConfig(watch_all=True)}
    assert deployment.guardrails.external_channels == "deny"


def test_the_environment_keeps_todays_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    # An endpoint without a region, an id that is not hex, and AK/SK winning over IAM: all
    # accepted today, so a deployment configured that way changes nothing.
    for name, value in {
        "HUAWEICLOUD_SDK_AK": "AKENV",
        "HUAWEICLOUD_SDK_SK": SK,
        "DLI_IAM_USER": "ops",
        "DLI_IAM_PASSWORD": PASSWORD,
        "DLI_IAM_DOMAIN": "acme",
        "DLI_PROJECT_ID": "p" * 32,
        "DLI_ENDPOINT": "http://127.0.0.1:9/",
    }.items():
        monkeypatch.setenv(name, value)

    [project] = load().projects

    assert (project.alias, project.region, project.project_id) == ("default", None, "p" * 32)
    assert (project.mode, project.iam_password) == ("aksk", None)
    assert project.base_url == "http://127.0.0.1:9"


def test_iam_credentials_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "DLI_IAM_USER": "ops",
        "DLI_IAM_PASSWORD": PASSWORD,
        "DLI_IAM_DOMAIN": "acme",
        "DLI_REGION": "cn-north-4",
        "DLI_PROJECT_ID": PROD_ID,
    }.items():
        monkeypatch.setenv(name, value)

    [project] = load().projects

    assert project.mode == "iam"
    assert project.iam_password == SecretStr(PASSWORD)
    assert project.iam_base_url == "https://iam.cn-north-4.myhuaweicloud.com"


def test_no_credentials_anywhere_is_the_demo_project() -> None:
    [project] = load().projects

    assert (project.alias, project.mode, project.project_id) == ("default", "demo", DEMO_PROJECT_ID)
    assert project.base_url == ""  # services serve the demo data locally


def test_channels_and_guardrails_without_projects_refer_to_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write('[channels.C0OPS]\nprojects = ["default"]\n[guardrails]\nexternal_channels = "allow"\n')

    deployment = load()

    assert deployment.source == Path("dliconn.toml")
    assert deployment.aliases == ("default",)
    assert deployment.visible_projects("C0OPS") == ("default",)
    assert deployment.guardrails.external_channels == "allow"


def test_watch_all_channels_merge_into_the_channel_map(monkeypatch: pytest.MonkeyPatch) -> None:
    write(f'{COMPLETE}\n[channels.C0QUIET]\nprojects = ["sg-staging"]\n')
    monkeypatch.setenv("DLICONN_WATCH_ALL_CHANNELS", "C0QUIET, C0EXTRA")

    deployment = load()

    # A channel of the file keeps its table and gains watch_all; a new one sees everything.
    assert deployment.channel("C0QUIET") == ChannelConfig(projects=["sg-staging"], watch_all=True)
    assert deployment.channel("C0EXTRA") == ChannelConfig(watch_all=True)
    assert deployment.visible_projects("C0EXTRA") == ("prod", "sg-staging")
    assert deployment.channel("G0STAGING").watch_all is False


@pytest.mark.parametrize(
    ("key", "text"),
    [
        ("sk", PROD.replace('"${PROD_SK}"', f'"{SK}"')),
        ("security_token", f'{PROD}security_token = "{TOKEN}"\n'),
        ("sk", PROD.replace('"${PROD_SK}"', '"half-literal-${PROD_SK}"')),
    ],
)
def test_a_literal_secret_in_a_file_others_can_read_is_refused(key: str, text: str) -> None:
    write(text, 0o644)

    assert refusal() == (
        f"dliconn.toml: projects.prod.{key}: a literal secret in a file others can read; "
        "use ${NAME} or chmod 600"
    )


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_group_or_world_readable_both_count(mode: int) -> None:
    write(PROD.replace('sk = "${PROD_SK}"', f'sk = "{SK}"'), mode)

    assert refusal().startswith("dliconn.toml: projects.prod.sk: a literal secret")


def test_an_iam_password_is_a_secret_too() -> None:
    write(
        f'[projects.sg]\nregion = "ap-southeast-3"\nproject_id = "{SG_ID}"\n'
        f'iam_user = "ops"\niam_domain = "acme"\niam_password = "{PASSWORD}"\n',
        0o644,
    )

    assert refusal().startswith("dliconn.toml: projects.sg.iam_password: a literal secret")


def test_a_literal_secret_in_a_private_file_is_accepted() -> None:
    write(PROD.replace('sk = "${PROD_SK}"', 'sk = "literal-$$-secret"'), 0o600)

    [project] = load().projects

    assert project.sk == SecretStr("literal-$-secret")  # $$ is a literal $


def test_references_expand_anywhere_and_dollar_dollar_escapes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REGION", "ap-southeast-3")
    monkeypatch.setenv("TEAM", "payments")
    write(
        PROD.replace('"cn-north-4"', '"${REGION}"')
        + '[channels.C0PAY]\nwatch_tags = { team = "${TEAM}", cost = "$$5 and $x" }\n',
        0o644,  # references, not literals: a readable file is fine
    )

    deployment = load()

    assert deployment.projects[0].region == "ap-southeast-3"
    assert deployment.channel("C0PAY").watch_tags == {"team": "payments", "cost": "$5 and $x"}


# Each mistake and its whole line: the file, the dotted key, the problem; never a value.
MISTAKES = [
    ("x = \n", "dliconn.toml: line 1, column 5: invalid TOML: Invalid value"),
    (
        f'{PROD}[projects.prod]\nregion = "x"\n',
        "dliconn.toml: line 7, column 15: invalid TOML: Cannot declare ('projects', 'prod') twice",
    ),
    (
        PROD.replace('"${PROD_SK}"', f'"{SK}'),
        "dliconn.toml: line 6, column 49: invalid TOML: Illegal character '\\n'",
    ),
    (f"{PROD}[metrics]\nport = 1\n", "dliconn.toml: metrics: unknown key"),
    (f'{PROD}skk = "${{PROD_SK}}"\n', "dliconn.toml: projects.prod.skk: unknown key"),
    (
        f'{PROD}alias = "live"\n',
        "dliconn.toml: projects.prod.alias: unknown key (the table's name is the alias)",
    ),
    (f"{PROD}[channels.C0X]\nwatch = true\n", "dliconn.toml: channels.C0X.watch: unknown key"),
    (
        f'{PROD}[guardrails]\nexternal = "deny"\n',
        "dliconn.toml: guardrails.external: unknown key",
    ),
    (
        PROD.replace("projects.prod", "projects.Prod"),
        "dliconn.toml: projects.Prod: an alias is 1-32 lower-case letters, digits, '-' or '_'",
    ),
    (
        PROD.replace("projects.prod", f"projects.{'p' * 33}"),
        f"dliconn.toml: projects.{'p' * 33}: an alias is 1-32 lower-case letters, digits, "
        "'-' or '_'",
    ),
    (
        PROD.replace("cn-north-4", "north-4"),
        "dliconn.toml: projects.prod.region: not a region id such as cn-north-4 or ap-southeast-3",
    ),
    (
        PROD.replace('region = "cn-north-4"\n', ""),
        "dliconn.toml: projects.prod.region: required",
    ),
    (
        PROD.replace(PROD_ID, PROD_ID.upper()),
        "dliconn.toml: projects.prod.project_id: a project id is 32 lower-case hexadecimal "
        "characters",
    ),
    (
        PROD.replace(f'"{PROD_ID}"', '"${PROD_SK}"'),
        "dliconn.toml: projects.prod.project_id: a project id is 32 lower-case hexadecimal "
        "characters",
    ),
    (
        PROD.replace(f'project_id = "{PROD_ID}"\n', ""),
        "dliconn.toml: projects.prod.project_id: required",
    ),
    (
        f'{PROD}endpoint = "dli.cn-north-4.myhuaweicloud.com"\n',
        "dliconn.toml: projects.prod.endpoint: must be an http(s) URL such as "
        "https://dli.cn-north-4.myhuaweicloud.com",
    ),
    (
        PROD.replace('ak = "${PROD_AK}"\n', ""),
        "dliconn.toml: projects.prod.ak: required for AK/SK authentication",
    ),
    (
        PROD.replace('sk = "${PROD_SK}"\n', ""),
        "dliconn.toml: projects.prod.sk: required for AK/SK authentication",
    ),
    (
        f'{PROD}iam_user = "ops"\n',
        "dliconn.toml: projects.prod: set ak/sk or iam_user/iam_password/iam_domain, not both",
    ),
    (
        f'[projects.sg]\nregion = "ap-southeast-3"\nproject_id = "{SG_ID}"\niam_user = "ops"\n'
        'iam_password = "${SG_PASSWORD}"\n',
        "dliconn.toml: projects.sg.iam_domain: required for IAM password authentication",
    ),
    (
        f'[projects.sg]\nregion = "ap-southeast-3"\nproject_id = "{SG_ID}"\n',
        "dliconn.toml: projects.sg: no credentials: set ak and sk, or "
        "iam_user/iam_password/iam_domain",
    ),
    ("[projects]\n", "dliconn.toml: projects: no project: add a [projects.<alias>] table"),
    ('projects = "prod"\n', "dliconn.toml: projects: must be a table"),
    (
        PROD.replace("${PROD_SK}", "${NOT_SET_ANYWHERE}"),
        "dliconn.toml: projects.prod.sk: ${NOT_SET_ANYWHERE} is not set",
    ),
    (
        PROD.replace("${PROD_AK}", "${EMPTY_ONE}"),
        "dliconn.toml: projects.prod.ak: ${EMPTY_ONE} is empty",
    ),
    (
        PROD.replace("${PROD_AK}", "${PROD-AK}"),
        "dliconn.toml: projects.prod.ak: a `${` that is not ${NAME}; write $$ for a literal $",
    ),
    (
        f"{PROD}[channels.c0payments]\n",
        "dliconn.toml: channels.c0payments: not a Slack channel id (C…, G… or D…, upper case)",
    ),
    (
        f'{PROD}[channels.C0X]\nallow = ["lookup", "deploy"]\n',
        "dliconn.toml: channels.C0X.allow[1]: must be 'lookup', 'list', 'history', 'watch', "
        "'mute', 'ack' or 'test'",
    ),
    (
        f'{PROD}[channels.C0X]\nlocale = "fr"\n',
        "dliconn.toml: channels.C0X.locale: must be 'en' or 'zh-CN'",
    ),
    (
        f'{PROD}[channels.C0X]\noperators = ["U0ALICE", "alice"]\n',
        "dliconn.toml: channels.C0X.operators[1]: not a Slack user id (U…, W…) or user-group "
        "id (S…)",
    ),
    (
        f'{PROD}[channels.C0X]\nwatch_all = "yes"\n',
        "dliconn.toml: channels.C0X.watch_all: must be true or false",
    ),
    (
        f'{PROD}[channels.C0X]\nprojects = "prod"\n',
        "dliconn.toml: channels.C0X.projects: must be a list",
    ),
    (
        f'{PROD}[channels.C0X]\nprojects = ["prod", "prd"]\n',
        "dliconn.toml: channels.C0X.projects[1]: unknown project 'prd' (the projects are: prod)",
    ),
    (
        f'{PROD}[guardrails]\nexternal_channels = "open"\n',
        "dliconn.toml: guardrails.external_channels: must be 'deny', 'read' or 'allow'",
    ),
    (
        f"{PROD}{PROD.replace('projects.prod', 'projects.live')}",
        "dliconn.toml: projects.live.project_id: the same project as projects.prod: one alias each",
    ),
]


@pytest.mark.parametrize(("text", "line"), MISTAKES)
def test_every_mistake_is_one_exact_line(
    monkeypatch: pytest.MonkeyPatch, text: str, line: str
) -> None:
    monkeypatch.setenv("EMPTY_ONE", " ")
    write(text)

    assert refusal() == line


def test_an_empty_value_is_a_mistake() -> None:
    write(PROD.replace('"${PROD_SK}"', '""'))

    assert refusal() == "dliconn.toml: projects.prod.sk: must not be empty"


def test_the_same_project_id_in_another_region_is_two_projects() -> None:
    write(PROD + PROD.replace("projects.prod", "projects.eu").replace("cn-north-4", "eu-west-101"))

    assert load().aliases == ("prod", "eu")


def test_a_file_that_is_not_utf8_is_refused() -> None:
    Path("dliconn.toml").write_bytes(b"[projects.\xff]\n")

    assert refusal() == "dliconn.toml: not UTF-8 text"


def test_a_deployment_built_in_code_is_checked_the_same_way() -> None:
    prod = ProjectConfig(
        alias="prod", region="cn-north-4", project_id=PROD_ID, ak="AK", sk=SecretStr(SK)
    )

    with pytest.raises(ValueError, match="unknown project 'nosuch'"):
        Deployment(projects=(prod,), channels={"C0X": ChannelConfig(projects=["nosuch"])})
    with pytest.raises(ValueError, match="the alias is used twice"):
        Deployment(projects=(prod, prod))


def test_a_redis_url_with_a_bad_port_is_shown_not_raised() -> None:
    from bot.config_view import _redis

    assert (
        _redis("redis://:secret@cache.internal:abc/0") == "redis://cache.internal:(invalid port)/0"
    )
