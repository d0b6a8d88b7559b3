"""Settings: the only place the environment (and `.env`) is read; see the README's table."""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.dli.endpoints import api_base_url
from bot.errors import ConfigError
from bot.local.demo import DEMO_PROJECT_ID

DliMode = Literal["aksk", "iam", "demo"]


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

    dliconn_cache_ttl: float = Field(default=30.0, ge=0)
    dliconn_watch_interval: float = Field(default=60.0, gt=0)
    dliconn_response_type: Literal["ephemeral", "in_channel"] = "ephemeral"
    dliconn_incident_channels: str = ""
    # Channels that get every connection of the project, without /dliconn watch.
    dliconn_watch_all_channels: str = ""
    # A queue CREATING for longer than this (seconds) is reported once.
    dliconn_watch_stuck_after: float = Field(default=1800.0, gt=0)
    dliconn_log_format: Literal["json", "text"] | None = None
    dliconn_log_level: str = "INFO"
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
    def dli_base_url(self) -> str:
        if self.dli_endpoint:
            return self.dli_endpoint.rstrip("/")
        return api_base_url("dli", self._region())

    @property
    def iam_base_url(self) -> str:
        if self.dli_iam_endpoint:
            return self.dli_iam_endpoint.rstrip("/")
        return api_base_url("iam", self._region())

    def _region(self) -> str:
        # The validator already requires it wherever a base URL is built from it.
        if not self.dli_region:
            raise ConfigError("DLI_REGION is required to build a Huawei Cloud endpoint")
        return self.dli_region

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
