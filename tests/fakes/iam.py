"""A fake Huawei IAM token service and a token-checking DLI route, served by aiohttp on port 0."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

TOKEN_PATH = "/v3/auth/tokens"


@dataclass
class FakeIam:
    """One IAM user with a password, plus faults a test can switch on.

    `resource_path` answers like DLI's gateway: 200 for a live token of this project, otherwise
    401 APIGW.0307.
    """

    user: str
    password: str
    domain: str
    project_id: str
    clock: Callable[[], datetime]
    lifetime: timedelta = timedelta(hours=24)
    #: (status, JSON body or raw text) answered to every token request while set.
    fault: tuple[int, Any] | None = None
    #: Make the DLI route refuse every token, as if IAM had revoked them all.
    reject_every_token: bool = False
    token_requests: list[Any] = field(default_factory=list)
    resource_tokens: list[str | None] = field(default_factory=list)
    resource_projects: list[str | None] = field(default_factory=list)
    issued: dict[str, datetime] = field(default_factory=dict)
    revoked: set[str] = field(default_factory=set)

    @property
    def resource_path(self) -> str:
        return f"/v2.0/{self.project_id}/datasource/enhanced-connections"

    def revoke_all(self) -> None:
        self.revoked.update(self.issued)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post(TOKEN_PATH, self._issue)
        app.router.add_get(self.resource_path, self._resource)
        return app

    async def _issue(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.token_requests.append(body)
        if self.fault is not None:
            status, payload = self.fault
            if isinstance(payload, str):
                return web.Response(status=status, text=payload)
            return web.json_response(payload, status=status)
        if not self._valid_credentials(body):
            error = {"code": 401, "message": "The username or password is wrong.", "title": ""}
            return web.json_response({"error": error}, status=401)
        token = "MIIT" + secrets.token_urlsafe(48)
        expires_at = self.clock() + self.lifetime
        self.issued[token] = expires_at
        stamp = expires_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return web.json_response(
            {"token": {"expires_at": stamp, "methods": ["password"]}},
            status=201,
            headers={"X-Subject-Token": token, "X-Request-Id": uuid.uuid4().hex},
        )

    def _valid_credentials(self, body: Any) -> bool:
        try:
            identity = body["auth"]["identity"]
            user = identity["password"]["user"]
            scope = body["auth"]["scope"]["project"]["id"]
        except (KeyError, TypeError):
            return False
        return bool(
            identity["methods"] == ["password"]
            and user["name"] == self.user
            and user["password"] == self.password
            and user["domain"]["name"] == self.domain
            and scope == self.project_id
        )

    async def _resource(self, request: web.Request) -> web.Response:
        token = request.headers.get("X-Auth-Token")
        self.resource_tokens.append(token)
        self.resource_projects.append(request.headers.get("X-Project-Id"))
        expires_at = self.issued.get(token or "")
        live = (
            expires_at is not None
            and token not in self.revoked
            and self.clock() < expires_at
            and not self.reject_every_token
        )
        if not live:
            return web.json_response(
                {
                    "error_code": "APIGW.0307",
                    "error_msg": "The token must be updated.",
                    "request_id": uuid.uuid4().hex,
                },
                status=401,
            )
        return web.json_response({"is_success": True, "message": "", "count": 0, "connections": []})


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """Run `app` on an ephemeral local port; yields its base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()
