"""The `config` verb: the effective configuration as text or JSON, every secret masked."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from bot.config import Deployment, ProjectConfig, Settings, env_project

SET, NOT_SET = "(set)", "(not set)"
Description = dict[str, Any]


def describe(settings: Settings, deployment: Deployment) -> Description:
    """What this process would run with, as plain JSON-able data; no secret value in it."""
    return {
        "source": str(deployment.source) if deployment.source else None,
        "projects": {p.alias: _project(p) for p in deployment.projects},
        "channels": {
            channel_id: {
                "projects": list(deployment.visible_projects(channel_id)),
                "watch_all": channel.watch_all,
                "watch_tags": dict(channel.watch_tags),
                "operators": channel.operators,
                "allow": list(channel.allowed_verbs),
                "locale": channel.locale,
            }
            for channel_id, channel in deployment.channels.items()
        },
        "routes": _routes(deployment),
        "guardrails": deployment.guardrails.model_dump(),
        "settings": _settings(settings),
        "notes": _notes(settings, deployment),
    }


def _project(project: ProjectConfig) -> Description:
    demo = project.mode == "demo"
    credentials: dict[str, str] = {}
    if project.ak:
        # Enough of the key id to tell two apart; never the secret half.
        credentials["ak"] = f"{project.ak[:4]}…(masked)" if len(project.ak) >= 8 else SET
    if project.iam_user:
        credentials["iam_user"] = project.iam_user
    for name in ("sk", "security_token", "iam_password"):
        if getattr(project, name) is not None:
            credentials[name] = SET
    if project.iam_domain:
        credentials["iam_domain"] = project.iam_domain
    return {
        "region": project.region,
        "project_id": project.project_id,
        "endpoint": "built-in demo data (no credentials)" if demo else project.base_url,
        "iam_endpoint": project.iam_base_url if project.mode == "iam" else None,
        "auth": project.mode,
        "credentials": credentials,
    }


def _routes(deployment: Deployment) -> dict[str, str]:
    """Which channel gets alerts for what without `/dliconn watch` (those live in the store)."""
    routes = {}
    for channel_id, channel in deployment.channels.items():
        tags = ", ".join(f"{k}={v}" for k, v in channel.watch_tags.items())
        what = "every connection" if channel.watch_all else f"connections tagged {tags}"
        if channel.watch_all or tags:
            routes[channel_id] = f"{', '.join(deployment.visible_projects(channel_id))}: {what}"
    return routes


def _settings(settings: Settings) -> Description:
    return {
        "slack_bot_token": _set(settings.slack_bot_token),
        "slack_signing_secret": _set(settings.slack_signing_secret),
        "slack_app_token": _set(settings.slack_app_token),
        "slack_api_url": settings.slack_api_url,
        "redis": _redis(settings.redis_dsn),
        "redis_prefix": settings.dliconn_redis_prefix,
        "port": settings.port,
        "metrics_port": settings.dliconn_metrics_port or "not set: watch serves no HTTP",
        "cache_ttl": settings.dliconn_cache_ttl,
        "watch_interval": settings.dliconn_watch_interval,
        "watch_stuck_after": settings.dliconn_watch_stuck_after,
        "watch_history": settings.dliconn_watch_history,
        "stale_horizon": settings.dliconn_stale_horizon,
        "negative_ttl": settings.dliconn_negative_ttl,
        "dli_timeout": settings.dliconn_dli_timeout,
        "response_type": settings.dliconn_response_type,
        "locale": settings.dliconn_locale,
        "incident_channels": sorted(settings.incident_channels),
        "log_format": settings.dliconn_log_format or "text in a terminal, else json",
        "log_level": settings.dliconn_log_level,
    }


def _set(value: object) -> str:
    return NOT_SET if value is None else SET


def _redis(dsn: str | None) -> str:
    if dsn is None:
        return "not configured: in memory, one process"
    # The URL may carry a password: show where it points, never who logs in.
    parts = urlsplit(dsn)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ":(invalid port)"
    return f"{parts.scheme}://{parts.hostname}{port}{parts.path}"


def _notes(settings: Settings, deployment: Deployment) -> list[str]:
    notes = []
    ignored = settings.dli_mode != "demo" and env_project(settings) not in deployment.projects
    if ignored:
        notes.append("DLI_* / HUAWEICLOUD_SDK_* credentials are ignored: the file has [projects]")
    if not deployment.channels:
        notes.append("no channel rules: every channel sees every project")
    return notes


def render_json(description: Description) -> str:
    return json.dumps(description, indent=2, ensure_ascii=False)


def render_text(description: Description) -> str:
    """The same data as aligned `key  value` lines, one indented block per table."""
    source = description["source"] or "the environment (no dliconn.toml)"
    lines = [f"dliconn configuration from {source}"]
    for section in ("projects", "channels", "routes", "guardrails", "settings", "notes"):
        lines += ["", section, *_lines(description[section], "  ")]
    return "\n".join(lines)


def _lines(value: Any, indent: str) -> list[str]:
    if isinstance(value, list):
        return [f"{indent}{_scalar(item)}" for item in value] or [f"{indent}-"]
    if not value:
        return [f"{indent}-"]
    width = max(len(str(k)) for k in value)
    lines = []
    for key, item in value.items():
        if isinstance(item, dict) and item:
            lines += [f"{indent}{key}", *_lines(item, indent + "  ")]
        else:
            lines.append(f"{indent}{key:<{width}}  {_scalar(item)}".rstrip())
    return lines


def _scalar(value: Any) -> str:
    if value is None or value == {} or value == []:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)
