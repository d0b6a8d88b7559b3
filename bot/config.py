"""Settings and the `dliconn.toml` models: the only place the environment and the file are read."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Final, Literal, get_args
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.dli.endpoints import api_base_url
from bot.errors import ConfigError
from bot.files import read_toml
from bot.i18n import DEFAULT_LOCALE, Locale
from bot.local.demo import DEMO_PROJECT_ID
from bot.slack_ids import is_channel_id, is_user_id, is_usergroup_id

DliMode = Literal["aksk", "iam", "demo"]
_NOT_A_CHANNEL: Final = "not a Slack channel id (C…, G… or D…, upper case)"


def _secret(name: str) -> Any:
    return Field(default=None, validation_alias=AliasChoices(name, name.lower()))


class Settings(BaseSettings):
    """Every variable of the contract. Secrets are SecretStr so they never print by accident."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"

    huaweicloud_sdk_ak: SecretStr | None = None
    huaweicloud_sdk_sk: SecretStr | None = None
    huaweicloud_sdk_security_token: SecretStr | None = None
    dli_iam_user: str | None = None
    dli_iam_password: SecretStr | None = None
    dli_iam_domain: str | None = None

    dli_region: str | None = None
    dli_project_id: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DLI_PROJECT_ID", "HUAWEICLOUD_SDK_PROJECT_ID"),
    )
    dli_endpoint: str | None = None
    dli_iam_endpoint: str | None = None

    # A Redis URL may embed a password, so it is a secret too.
    redis_url: SecretStr | None = None
    # Every key dliconn writes starts with this, so several deployments can share one Redis.
    dliconn_redis_prefix: str = "dliconn:"
    port: int = Field(default=3000, ge=0, le=65535)
    # `watch`'s /metrics and /healthz (PORT is serve's). Unset: the worker listens on nothing,
    # so two processes on one host never want the same port unless told to.
    dliconn_metrics_port: int | None = Field(default=None, ge=1, le=65535)

    dliconn_cache_ttl: float = Field(default=30.0, ge=0)
    dliconn_watch_interval: float = Field(default=60.0, gt=0)
    dliconn_response_type: Literal["ephemeral", "in_channel"] = "ephemeral"
    dliconn_incident_channels: str = ""
    # Channels that get every connection of the project, without /dliconn watch.
    dliconn_watch_all_channels: str = ""
    # A queue CREATING for longer than this (seconds) is reported once.
    dliconn_watch_stuck_after: float = Field(default=1800.0, gt=0)
    # Record every transition for /dliconn history (off: only to measure what it costs).
    dliconn_watch_history: bool = True
    # The language of channel posts (alerts, notices) where the channel names none; replies to
    # a person follow their Slack locale.
    dliconn_locale: Locale = DEFAULT_LOCALE
    dliconn_log_format: Literal["json", "text"] | None = None
    dliconn_log_level: str = "INFO"
    # The projects / channels / guardrails file; without it, ./dliconn.toml when it exists.
    dliconn_config: Path | None = None
    # Beyond the contract: how long a last good copy may be served while DLI fails, how long a
    # "not found" is remembered, and the per-request DLI timeout.
    dliconn_stale_horizon: float = Field(default=3600.0, ge=0)
    dliconn_negative_ttl: float = Field(default=10.0, ge=0)
    dliconn_dli_timeout: float = Field(default=10.0, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _blank_is_unset(cls, data: Any) -> Any:
        # `SLACK_SIGNING_SECRET=` in an env file means "not set", not "an empty secret": an
        # empty signing secret would start a server that rejects every request.
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (isinstance(v, str) and not v.strip())}
        return data

    @field_validator("dliconn_incident_channels", "dliconn_watch_all_channels")
    @classmethod
    def _channel_ids(cls, value: str) -> str:
        # A typo here would make the bot silently ignore a channel: say which entry is wrong.
        for entry in (c.strip() for c in value.split(",")):
            if entry and not is_channel_id(entry):
                raise ValueError(f"{entry!r} is {_NOT_A_CHANNEL}")
        return value

    @model_validator(mode="after")
    def _check_credentials(self) -> Settings:
        ak, sk = self.huaweicloud_sdk_ak, self.huaweicloud_sdk_sk
        if bool(ak) != bool(sk):
            missing = "HUAWEICLOUD_SDK_SK" if ak else "HUAWEICLOUD_SDK_AK"
            raise ValueError(f"{missing} is required when the other half of the AK/SK pair is set")
        iam = {
            "DLI_IAM_USER": self.dli_iam_user,
            "DLI_IAM_PASSWORD": self.dli_iam_password,
            "DLI_IAM_DOMAIN": self.dli_iam_domain,
        }
        if any(iam.values()) and not all(iam.values()):
            missing = next(k for k, v in iam.items() if not v)
            raise ValueError(f"{missing} is required for IAM password authentication")
        if self.dli_mode != "demo":
            if not self.dli_project_id:
                raise ValueError("DLI_PROJECT_ID is required with real DLI credentials")
            if not self.dli_region and not self.dli_endpoint:
                raise ValueError("DLI_REGION is required with real DLI credentials")
            if self.dli_mode == "iam" and not self.dli_region and not self.dli_iam_endpoint:
                raise ValueError("DLI_REGION is required for IAM token authentication")
        return self

    @property
    def dli_mode(self) -> DliMode:
        if self.huaweicloud_sdk_ak:
            return "aksk"
        if self.dli_iam_user:
            return "iam"
        return "demo"

    @property
    def incident_channels(self) -> frozenset[str]:
        return _channel_set(self.dliconn_incident_channels)

    @property
    def watch_all_channels(self) -> frozenset[str]:
        return _channel_set(self.dliconn_watch_all_channels)

    @property
    def project_id(self) -> str:
        """The DLI project the bot reads (the demo project when no credentials are set)."""
        return DEMO_PROJECT_ID if self.dli_mode == "demo" else self.dli_project_id or ""

    def secret_values(self) -> list[str]:
        """Every configured secret, for the log scrubber."""
        secrets = [
            self.slack_bot_token,
            self.slack_signing_secret,
            self.slack_app_token,
            self.huaweicloud_sdk_sk,
            self.huaweicloud_sdk_security_token,
            self.dli_iam_password,
        ]
        values = [s.get_secret_value() for s in secrets if s is not None]
        redis_password = urlsplit(self.redis_dsn).password if self.redis_dsn else None
        return [*values, redis_password] if redis_password else values

    @property
    def redis_dsn(self) -> str | None:
        return self.redis_url.get_secret_value() if self.redis_url else None


def _channel_set(value: str) -> frozenset[str]:
    return frozenset(c.strip() for c in value.split(",") if c.strip())


def _service_url(service: str, region: str | None, override: str | None) -> str:
    """An endpoint override, else Huawei's regional default (empty without a region: demo)."""
    if override:
        return override.rstrip("/")
    return api_base_url(service, region) if region else ""


def load_settings(**overrides: Any) -> Settings:
    """Read settings; any validation problem becomes one ConfigError line naming the variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]).upper()
        msg = str(first["msg"]).removeprefix("Value error, ")
        # Never echo the offending input: it may be a secret.
        raise ConfigError(f"{where}: {msg}" if where else msg) from None


# --- dliconn.toml: projects, channels, guardrails ------------------------------------------------

Verb = Literal["lookup", "list", "history", "watch", "mute", "ack", "test"]
VERBS: Final[tuple[Verb, ...]] = get_args(Verb)
# Without an `allow`, a channel may use every verb but `test` (a DLI connectivity test).
DEFAULT_VERBS: Final[tuple[Verb, ...]] = tuple(v for v in VERBS if v != "test")
DEFAULT_CONFIG_FILE: Final = Path("dliconn.toml")
DEFAULT_PROJECT: Final = "default"
# The keys whose values must not sit in a file other users can read.
SECRET_KEYS: Final = frozenset({"sk", "security_token", "iam_password"})

ALIAS_RULE: Final = re.compile(r"[a-z0-9_-]{1,32}")
_REGION: Final = re.compile(r"[a-z]{2}-[a-z]+-[0-9]{1,3}")
_PROJECT_ID: Final = re.compile(r"[0-9a-f]{32}")
# `$$` is a literal `$`; `${NAME}` is read from the environment; any other `${` is a mistake.
_REFERENCE: Final = re.compile(r"\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)\}|\{)")
_WHOLE_REFERENCE: Final = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")
# Context for the project built from DLI_* variables: today's rules, so no shape checks.
_FROM_ENV: Final = {"from_env": True}

Key = tuple[str | int, ...]
_NO_CREDENTIALS: Final = "no credentials: set ak and sk, or iam_user/iam_password/iam_domain"


class KeyProblem(ValueError):
    """A validation problem that belongs to a key below the one being validated."""

    def __init__(self, key: Key, problem: str) -> None:
        super().__init__(problem)
        self.key = key
        self.problem = problem


class _Strict(BaseModel):
    # strict: TOML has real types, so `watch_all = "yes"` is a mistake, not a truthy string.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    @field_validator("*", mode="before")
    @classmethod
    def _not_blank(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            raise ValueError("must not be empty")
        return value


def _from_env(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("from_env"))


def _check_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname or parts.query:
        raise ValueError("must be an http(s) URL such as https://dli.cn-north-4.myhuaweicloud.com")
    return value


class ProjectConfig(_Strict):
    """One DLI project: where it is and the one set of credentials that reads it."""

    alias: str
    region: str | None = None
    project_id: str
    endpoint: str | None = None
    iam_endpoint: str | None = None
    # Not a secret on its own, but shown only masked; kept out of repr all the same.
    ak: str | None = Field(default=None, repr=False)
    sk: SecretStr | None = None
    security_token: SecretStr | None = None
    iam_user: str | None = None
    iam_password: SecretStr | None = None
    iam_domain: str | None = None

    @field_validator("alias")
    @classmethod
    def _alias_shape(cls, value: str) -> str:
        if not ALIAS_RULE.fullmatch(value):
            raise ValueError("an alias is 1-32 lower-case letters, digits, '-' or '_'")
        return value

    @field_validator("region")
    @classmethod
    def _region_shape(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and not _from_env(info) and not _REGION.fullmatch(value):
            raise ValueError("not a region id such as cn-north-4 or ap-southeast-3")
        return value

    @field_validator("project_id")
    @classmethod
    def _project_id_shape(cls, value: str, info: ValidationInfo) -> str:
        if not _from_env(info) and not _PROJECT_ID.fullmatch(value):
            raise ValueError("a project id is 32 lower-case hexadecimal characters")
        return value

    @field_validator("endpoint", "iam_endpoint")
    @classmethod
    def _endpoint_shape(cls, value: str | None, info: ValidationInfo) -> str | None:
        return value if value is None or _from_env(info) else _check_url(value)

    @model_validator(mode="after")
    def _one_credential_kind(self) -> ProjectConfig:
        # No credentials at all is the demo project; only the environment may describe that.
        aksk = {"ak": self.ak, "sk": self.sk}
        iam = {
            "iam_user": self.iam_user,
            "iam_password": self.iam_password,
            "iam_domain": self.iam_domain,
        }
        has_aksk = self.security_token is not None or any(v is not None for v in aksk.values())
        has_iam = any(v is not None for v in iam.values())
        if has_aksk and has_iam:
            raise KeyProblem((), "set ak/sk or iam_user/iam_password/iam_domain, not both")
        if has_aksk and (missing := _first_unset(aksk)):
            raise KeyProblem((missing,), "required for AK/SK authentication")
        if has_iam and (missing := _first_unset(iam)):
            raise KeyProblem((missing,), "required for IAM password authentication")
        return self

    @property
    def mode(self) -> DliMode:
        """How it authenticates; "demo" (no credentials) is the built-in demo project."""
        if self.ak:
            return "aksk"
        return "iam" if self.iam_user else "demo"

    @property
    def base_url(self) -> str:
        """The DLI endpoint; empty only for the demo project, which services serve locally."""
        return _service_url("dli", self.region, self.endpoint)

    @property
    def iam_base_url(self) -> str:
        return _service_url("iam", self.region, self.iam_endpoint)

    def secret_values(self) -> list[str]:
        secrets = (self.sk, self.security_token, self.iam_password)
        return [s.get_secret_value() for s in secrets if s is not None]


def _first_unset(values: Mapping[str, object]) -> str | None:
    return next((k for k, v in values.items() if v is None), None)


def _operator_shape(value: str) -> str:
    if not (is_user_id(value) or is_usergroup_id(value)):
        raise ValueError("not a Slack user id (U…, W…) or user-group id (S…)")
    return value


def _channel_shape(value: str) -> str:
    if not is_channel_id(value):
        raise ValueError(_NOT_A_CHANNEL)
    return value


ChannelId = Annotated[str, AfterValidator(_channel_shape)]


class ChannelConfig(_Strict):
    """What one Slack channel may see and do; a channel without a table gets these defaults."""

    projects: list[str] | None = None  # None: every project
    watch_all: bool = False
    watch_tags: dict[str, str] = Field(default_factory=dict)
    operators: list[Annotated[str, AfterValidator(_operator_shape)]] | None = None
    allow: list[Verb] | None = None
    locale: Locale | None = None

    @property
    def allowed_verbs(self) -> tuple[Verb, ...]:
        return DEFAULT_VERBS if self.allow is None else tuple(self.allow)


class Guardrails(_Strict):
    external_channels: Literal["deny", "read", "allow"] = "deny"


#: The rules of every channel the file does not name (asked for each post the watcher plans).
_UNNAMED_CHANNEL: Final = ChannelConfig()


class Deployment(_Strict):
    """Every project this deployment serves and every channel's rules, checked as a whole."""

    projects: tuple[ProjectConfig, ...]
    channels: Mapping[str, ChannelConfig] = Field(default_factory=dict)
    guardrails: Guardrails = Field(default_factory=Guardrails)
    source: Path | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Deployment:
        if not self.projects:
            raise KeyProblem(("projects",), "no project: add a [projects.<alias>] table")
        seen: dict[str, ProjectConfig] = {}
        same_project: dict[tuple[str | None, str], str] = {}
        for project in self.projects:
            key: Key = ("projects", project.alias)
            if project.alias in seen:
                raise KeyProblem(key, "the alias is used twice")
            seen[project.alias] = project
            first = same_project.setdefault((project.region, project.project_id), project.alias)
            if first != project.alias:
                raise KeyProblem(
                    (*key, "project_id"), f"the same project as projects.{first}: one alias each"
                )
        for channel_id, channel in self.channels.items():
            for i, alias in enumerate(channel.projects or ()):
                if alias not in seen:
                    known = ", ".join(seen)
                    raise KeyProblem(
                        ("channels", channel_id, "projects", i),
                        f"unknown project {alias!r} (the projects are: {known})",
                    )
        return self

    @property
    def aliases(self) -> tuple[str, ...]:
        return tuple(p.alias for p in self.projects)

    def project(self, alias: str) -> ProjectConfig | None:
        return next((p for p in self.projects if p.alias == alias), None)

    def channel(self, channel_id: str) -> ChannelConfig:
        """The channel's rules: its table, or the defaults for a channel the file does not name."""
        return self.channels.get(channel_id) or _UNNAMED_CHANNEL

    def post_locale(self, channel_id: str, default: Locale = DEFAULT_LOCALE) -> Locale:
        """The language of posts to a channel: its `locale`, else `default` (DLICONN_LOCALE)."""
        return self.channel(channel_id).locale or default

    def visible_projects(self, channel_id: str) -> tuple[str, ...]:
        """The aliases a channel may see, in the file's order."""
        allowed = self.channel(channel_id).projects
        return self.aliases if allowed is None else tuple(a for a in self.aliases if a in allowed)

    def secret_values(self) -> list[str]:
        """Every project's secrets, for the log scrubber."""
        return [value for project in self.projects for value in project.secret_values()]


class _File(_Strict):
    """The file's top level, before the environment's default project is filled in."""

    projects: dict[str, ProjectConfig] | None = None
    channels: dict[ChannelId, ChannelConfig] = Field(default_factory=dict)
    guardrails: Guardrails = Field(default_factory=Guardrails)

    @model_validator(mode="after")
    def _real_projects(self) -> _File:
        # What the environment may leave out (demo mode, DLI_ENDPOINT without a region), a
        # project in the file may not.
        for alias, project in (self.projects or {}).items():
            if project.mode == "demo":
                raise KeyProblem(("projects", alias), _NO_CREDENTIALS)
            if project.region is None:
                raise KeyProblem(("projects", alias, "region"), "required")
        return self


def load_deployment(settings: Settings) -> Deployment:
    """The file named by DLICONN_CONFIG (or ./dliconn.toml), else the environment's one project.

    Every problem is one ConfigError line, `<file>: <dotted.key>: <problem>`, without a value.
    """
    path = settings.dliconn_config or (
        DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.exists() else None
    )
    parsed = _File() if path is None else _read_file(path)
    projects = (
        (env_project(settings),) if parsed.projects is None else tuple(parsed.projects.values())
    )
    channels = dict(parsed.channels)
    # DLICONN_WATCH_ALL_CHANNELS is shorthand for `watch_all = true`: merged here, so the
    # Deployment alone answers "does this channel watch everything".
    for channel_id in sorted(settings.watch_all_channels):
        channels[channel_id] = channels.get(channel_id, ChannelConfig()).model_copy(
            update={"watch_all": True}
        )
    try:
        return Deployment(
            projects=projects, channels=channels, guardrails=parsed.guardrails, source=path
        )
    except ValidationError as exc:
        raise ConfigError(f"{path or 'environment'}: {_problem(exc)}") from None


def _read_file(path: Path) -> _File:
    file, raw = read_toml(path, missing="no such file (DLICONN_CONFIG names it)")
    try:
        data = _expand(raw, (), others_can_read=file.others_can_read)
        projects = data.get("projects")
        if isinstance(projects, dict):
            data["projects"] = {alias: _with_alias(alias, t) for alias, t in projects.items()}
    except KeyProblem as exc:
        raise ConfigError(f"{path}: {_dotted(exc.key)}: {exc.problem}") from None
    try:
        return _File.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_problem(exc)}") from None


def _with_alias(alias: str, table: Any) -> Any:
    # The table's key is the alias; `alias = …` inside it would be a second, conflicting name.
    if not isinstance(table, dict):
        return table
    if "alias" in table:
        raise KeyProblem(
            ("projects", alias, "alias"), "unknown key (the table's name is the alias)"
        )
    return {**table, "alias": alias}


def _expand(value: Any, key: Key, *, others_can_read: bool) -> Any:
    """Every string with its `${NAME}` read from the environment; literal secrets refused."""
    if isinstance(value, dict):
        return {k: _expand(v, (*key, k), others_can_read=others_can_read) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, (*key, i), others_can_read=others_can_read) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value
    secret = len(key) == 3 and key[0] == "projects" and key[2] in SECRET_KEYS
    if secret and others_can_read and not _WHOLE_REFERENCE.fullmatch(value):
        raise KeyProblem(
            key, "a literal secret in a file others can read; use ${NAME} or chmod 600"
        )
    return _REFERENCE.sub(lambda found: _substitute(found, key), value)


def _substitute(found: re.Match[str], key: Key) -> str:
    if found.group(0) == "$$":
        return "$"
    name = found.group(1)
    if name is None:
        raise KeyProblem(key, "a `${` that is not ${NAME}; write $$ for a literal $")
    value = os.environ.get(name)
    if value is None:
        raise KeyProblem(key, f"${{{name}}} is not set")
    if not value.strip():
        raise KeyProblem(key, f"${{{name}}} is empty")
    return value


# A problem with a DLI_* variable names the variable, as every other setting does.
_ENV_NAMES: Final = {
    "region": "DLI_REGION",
    "project_id": "DLI_PROJECT_ID",
    "endpoint": "DLI_ENDPOINT",
    "iam_endpoint": "DLI_IAM_ENDPOINT",
    "ak": "HUAWEICLOUD_SDK_AK",
    "sk": "HUAWEICLOUD_SDK_SK",
    "security_token": "HUAWEICLOUD_SDK_SECURITY_TOKEN",
    "iam_user": "DLI_IAM_USER",
    "iam_password": "DLI_IAM_PASSWORD",
    "iam_domain": "DLI_IAM_DOMAIN",
}


def env_project(settings: Settings) -> ProjectConfig:
    """The one project `default` that DLI_* / HUAWEICLOUD_SDK_* describe, exactly as before."""
    credentials: dict[str, Any] = {}
    # Settings.dli_mode decides, as it always has: AK/SK wins when both kinds are set.
    if settings.dli_mode == "aksk" and settings.huaweicloud_sdk_ak:
        credentials = {
            "ak": settings.huaweicloud_sdk_ak.get_secret_value(),
            "sk": settings.huaweicloud_sdk_sk,
            "security_token": settings.huaweicloud_sdk_security_token,
        }
    elif settings.dli_mode == "iam":
        credentials = {
            "iam_user": settings.dli_iam_user,
            "iam_password": settings.dli_iam_password,
            "iam_domain": settings.dli_iam_domain,
        }
    data = {
        "alias": DEFAULT_PROJECT,
        "region": settings.dli_region,
        "project_id": settings.project_id,
        "endpoint": settings.dli_endpoint,
        "iam_endpoint": settings.dli_iam_endpoint,
        **credentials,
    }
    try:
        return ProjectConfig.model_validate(
            {k: v for k, v in data.items() if v is not None}, context=_FROM_ENV
        )
    except ValidationError as exc:
        first = exc.errors(include_input=False)[0]
        field = next((str(p) for p in first["loc"] if str(p) in _ENV_NAMES), "")
        raise ConfigError(f"{_ENV_NAMES.get(field, 'DLI_*')}: {_message(first)}") from None


def _problem(exc: ValidationError) -> str:
    """`dotted.key: problem` for the first error, built from its place and kind, never its input."""
    first = exc.errors(include_input=False)[0]
    key: Key = tuple(p for p in first["loc"] if p != "[key]")
    error = (first.get("ctx") or {}).get("error")
    if isinstance(error, KeyProblem):
        key = (*key, *error.key)
    if key[:1] == ("projects",) and key[2:3] == ("alias",):
        key = key[:2]  # the alias is the table's key, not a key inside it
    return f"{_dotted(key)}: {_message(first)}" if key else _message(first)


def _message(error: ErrorDetails) -> str:
    ctx = error.get("ctx") or {}
    kind = error["type"]
    if isinstance(ctx.get("error"), KeyProblem):
        return str(ctx["error"].problem)
    named = {
        "extra_forbidden": "unknown key",
        "missing": "required",
        "dict_type": "must be a table",
        "model_type": "must be a table",
        "list_type": "must be a list",
        "string_type": "must be a string",
        "bool_type": "must be true or false",
    }
    if kind in named:
        return named[kind]
    if kind == "literal_error":
        return f"must be {ctx['expected']}"
    return str(error["msg"]).removeprefix("Value error, ")


def _dotted(key: Key) -> str:
    text = ""
    for part in key:
        text += f"[{part}]" if isinstance(part, int) else f"{'.' if text else ''}{part}"
    return text
