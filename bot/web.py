"""HTTP: serve's /slack/events (Bolt), /healthz and /metrics on one aiohttp app; watch's probes."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Final

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier

from bot.errors import ConfigError
from bot.services import Services

log = logging.getLogger(__name__)

EVENTS_PATH: Final = "/slack/events"
MAX_BODY_BYTES: Final = 1024**2
#: How far a request's timestamp may be from this host's clock: Slack's (and Bolt's) window.
MAX_CLOCK_SKEW: Final = 5 * 60
_READY: Final = web.AppKey("ready", asyncio.Event)
# Far more digits than any epoch second; int() of a very long string is slow or refused.
_MAX_TIMESTAMP_DIGITS: Final = 20


class RawBodyVerifier(SignatureVerifier):
    """Slack's request signature, checked on the raw body bytes, with the reason it fails.

    slack_sdk's own check decodes the body as UTF-8 and reads the timestamp with int(), so a
    request anyone can send (bytes that are not UTF-8, a timestamp that is not a number) raises
    instead of failing. This one never raises and never parses the body, and it is the only
    check: the Bolt app behind it is built without its own (bot.slack.app), so a body is
    verified once, before it is claimed, deduplicated or acknowledged.
    """

    def generate_signature(self, *, timestamp: str, body: str | bytes) -> str:
        raw = body.encode() if isinstance(body, str) else body
        base = b"v0:" + timestamp.encode() + b":" + raw
        return "v0=" + hmac.new(self.signing_secret.encode(), base, hashlib.sha256).hexdigest()

    def refusal(self, body: bytes, headers: Mapping[str, str]) -> str | None:
        """Why the request is not Slack's, or None when its signature holds."""
        timestamp = headers.get("X-Slack-Request-Timestamp")
        signature = headers.get("X-Slack-Signature")
        if not timestamp or not signature:
            return "it is not signed (no X-Slack-Request-Timestamp or X-Slack-Signature)"
        if not (timestamp.isascii() and timestamp.isdigit()) or (
            len(timestamp) > _MAX_TIMESTAMP_DIGITS
        ):
            return "its X-Slack-Request-Timestamp is not a number of seconds"
        skew = self.clock.now() - int(timestamp)
        if abs(skew) > MAX_CLOCK_SKEW:
            return f"its timestamp is {abs(skew):.0f} s off this host's clock (at most 300 s)"
        expected = self.generate_signature(timestamp=timestamp, body=body).encode()
        # Bytes: compare_digest refuses str with non-ASCII characters, which a header may hold.
        if not hmac.compare_digest(expected, signature.encode("utf-8", "replace")):
            return "its signature does not match the signing secret"
        return None


def bolt_request(body: bytes, request: web.Request) -> AsyncBoltRequest | str:
    """The request as Bolt reads it, or why its body cannot be read.

    Bolt parses the body while the request object is built (JSON, or a form whose `payload` is
    JSON) and expects an object: what it raises on anything else is the reason here, so the
    body is read exactly as Bolt reads it, once.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "the body is not UTF-8"
    try:
        return AsyncBoltRequest(
            body=text,
            query=request.query_string,
            headers=request.headers,  # type: ignore[arg-type]  # a multidict, as Bolt's adapter
        )
    except RecursionError:
        return "the body is nested too deeply to read"
    except json.JSONDecodeError as exc:
        return f"the body is not valid JSON ({exc.msg} at character {exc.pos})"
    except (ValueError, TypeError, AttributeError, KeyError, IndexError):
        # Bolt's context extraction calls .get() and indexes into what it parsed.
        return "the body is not a JSON object of Slack's shape"


#: What /healthz reports beside its status: each check's name and its state in words.
Checks = Callable[[], Awaitable[dict[str, str]]]


def build_web_app(app: AsyncApp, services: Services) -> web.Application:
    web_app = web.Application(client_max_size=MAX_BODY_BYTES)
    add_probes(web_app, services, lambda: serving_checks(services))
    secret = services.settings.slack_signing_secret
    if secret is None:
        # Nothing else verifies what reaches the Bolt app: without a secret it must not serve.
        raise ConfigError("SLACK_SIGNING_SECRET is required to serve Slack over HTTP")
    verifier = RawBodyVerifier(secret.get_secret_value())

    async def slack_events(request: web.Request) -> web.Response:
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            _log_refusal(request, 413, f"the body is over {MAX_BODY_BYTES} bytes")
            raise
        # The signature first, on the raw bytes: nothing of an unsigned body is parsed.
        refusal = verifier.refusal(body, request.headers)
        if refusal is not None:
            return _refused(request, 401, "invalid request", refusal)
        parsed = bolt_request(body, request)
        if isinstance(parsed, str):
            return _refused(request, 400, "unreadable request body", parsed)
        return await to_aiohttp_response(await app.async_dispatch(parsed))

    web_app.router.add_post(EVENTS_PATH, slack_events)
    return web_app


def build_probe_app(services: Services, checks: Checks) -> web.Application:
    """/healthz and /metrics alone: what `watch` serves on DLICONN_METRICS_PORT."""
    web_app = web.Application()
    add_probes(web_app, services, checks)
    return web_app


def add_probes(web_app: web.Application, services: Services, checks: Checks) -> None:
    """GET /healthz (200 once marked ready, 503 before and after, with `checks`) and GET
    /metrics (the process's own registry) on `web_app`."""
    ready = asyncio.Event()
    web_app[_READY] = ready

    async def healthz(_: web.Request) -> web.Response:
        # Redis and DLI outages are reported but keep 200: the bot still answers without them
        # (direct fetches, stale copies), and pulling every replica out of the load balancer
        # would turn a degraded answer into no answer. 503 means "not serving yet / any more".
        states = await checks()
        status = 200 if ready.is_set() else 503
        body = {"status": "ok" if status == 200 else "unavailable", "checks": states}
        return web.json_response(body, status=status, dumps=json.dumps)

    async def metrics(_: web.Request) -> web.Response:
        await _watch_state(services)  # brings the reset figures up to date
        return web.Response(
            body=services.metrics.render(),
            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )

    web_app.router.add_get("/healthz", healthz)
    web_app.router.add_get("/metrics", metrics)


async def serving_checks(services: Services) -> dict[str, str]:
    """The checks of serve's /healthz: Redis, DLI (what is set up) and the watcher state."""
    return {
        "redis": _redis_state(services),
        "dli": "demo" if services.demo else "configured",
        # A reset (Redis came back empty) is said here, and stays 200: serving goes on.
        "watch_state": await _watch_state(services),
    }


def _log_refusal(request: web.Request, status: int, reason: str) -> None:
    # One line, no traceback and nothing of the body: anyone can send these, so a flood of
    # them must stay readable (and the body may hold what a sender should not have sent).
    log.warning("refused a Slack request from %s with %d: %s", request.remote, status, reason)


def _refused(request: web.Request, status: int, error: str, reason: str) -> web.Response:
    _log_refusal(request, status, reason)
    return web.json_response({"error": error}, status=status, dumps=json.dumps)


def mark_ready(web_app: web.Application, ready: bool = True) -> None:
    if ready:
        web_app[_READY].set()
    else:
        web_app[_READY].clear()


async def _watch_state(services: Services) -> str:
    """Each project's watcher state ("ok", or the reset it saw); one word when they agree."""
    return per_project([(p.alias, await p.watch.state_health()) for p in services.projects])


def per_project(states: Sequence[tuple[str, str]]) -> str:
    """Projects' states as one: the state alone when they all agree, else `alias: state; …`."""
    if len({state for _, state in states}) == 1:
        return states[0][1]
    return "; ".join(f"{alias}: {state}" for alias, state in states)


def _redis_state(services: Services) -> str:
    if services.settings.redis_dsn is None:
        return "not configured (in memory)"
    return "ok" if services.store.healthy else "down (degraded: no shared cache)"
