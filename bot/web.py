"""HTTP: serve's aiohttp app, /slack/events (verified here, then Bolt) beside the probes."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from typing import Final

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier

from bot.errors import ConfigError
from bot.probes import add_probes, serving_checks
from bot.services import Services

log = logging.getLogger(__name__)

EVENTS_PATH: Final = "/slack/events"
MAX_BODY_BYTES: Final = 1024**2
#: How far a request's timestamp may be from this host's clock: Slack's (and Bolt's) window.
MAX_CLOCK_SKEW: Final = 5 * 60
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


def _log_refusal(request: web.Request, status: int, reason: str) -> None:
    # One line, no traceback and nothing of the body: anyone can send these, so a flood of
    # them must stay readable (and the body may hold what a sender should not have sent).
    log.warning("refused a Slack request from %s with %d: %s", request.remote, status, reason)


def _refused(request: web.Request, status: int, error: str, reason: str) -> web.Response:
    _log_refusal(request, status, reason)
    return web.json_response({"error": error}, status=status, dumps=json.dumps)
