"""The one exception tree of dliconn; callers catch by meaning, never by HTTP status.

    DliconnError
    ├── ConfigError            a setting is missing or malformed (start-up stops with one line)
    ├── StoreUnavailable       Redis unreachable or failing (raised only by bot/store.py's rule)
    └── DliError               anything that went wrong talking to DLI / its API gateway
        ├── NotFound           400 DLI.0002, 404 / DLI.0023: no such connection
        ├── AuthFailed         401 APIGW.0301 / APIGW.0307: bad AK/SK, clock skew, expired token
        ├── Forbidden          403 APIGW.0302 and other 403s: the credentials lack permission
        ├── Throttled          429, APIGW.0308 / APIG.0308: slow down (retryable)
        ├── Unavailable        5xx, DLI.0999, timeouts, connection errors (retryable)
        └── BadResponse        non-JSON, schema mismatch, `is_success: false`

Every DliError carries the gateway's `X-Request-Id` when one came back: it is what Huawei
support asks for. Messages never contain credentials.
"""

from __future__ import annotations

from typing import TypedDict, Unpack

from bot.i18n import _


class DliconnError(Exception):
    """Base of every error dliconn raises on purpose."""


class ConfigError(DliconnError):
    """A setting is missing or malformed; the message names the variable."""


class StoreUnavailable(DliconnError):
    """The shared store (Redis) cannot be used right now; `__cause__` is redis-py's error."""


class ErrorIds(TypedDict, total=False):
    """What a DliError carries beside its message, as keywords: the answer's HTTP status, the
    gateway's or DLI's error code, the request id, and DLI's own words about it (`detail`; the
    message is ours, with them after a colon)."""

    status: int | None
    code: str | None
    request_id: str | None
    detail: str | None


class DliError(DliconnError):
    """A failed DLI call, classified by meaning."""

    #: Short human label used in user-facing messages and metrics.
    kind: str = "error"
    retryable: bool = False

    def __init__(self, message: str, **ids: Unpack[ErrorIds]) -> None:
        super().__init__(message)
        self.message = message
        self.status = ids.get("status")
        self.code = ids.get("code")
        self.request_id = ids.get("request_id")
        self.detail = ids.get("detail")

    def __str__(self) -> str:
        parts = [self.message]
        if self.code:
            parts.append(f"[{self.code}]")
        if self.request_id:
            parts.append(f"(request id {self.request_id})")
        return " ".join(parts)


class NotFound(DliError):
    kind = "not_found"


class AuthFailed(DliError):
    kind = "auth_failed"


class Forbidden(DliError):
    kind = "forbidden"


class Throttled(DliError):
    kind = "throttled"
    retryable = True

    def __init__(
        self, message: str, *, retry_after: float | None = None, **ids: Unpack[ErrorIds]
    ) -> None:
        super().__init__(message, **ids)
        self.retry_after = retry_after


class Unavailable(DliError):
    kind = "unavailable"
    retryable = True


class BadResponse(DliError):
    kind = "bad_response"


#: Not a DliError kind: a list call that took longer than the watcher's cycle allows.
TIMEOUT = "timeout"


def dli_detail(exc: DliError) -> str:
    """DLI's own words in an error ("" when DLI said nothing: our summary is not theirs)."""
    return exc.detail or ""


def dli_problem(kind: str) -> str:
    """What a DliError of `kind` means, as a short phrase in the reader's language (beside a
    project that could not be listed, in an audit entry); a kind this version does not know
    (an entry written by a newer one) is shown as it is, after "DLI"."""
    return {
        "error": _("DLI answered with an error"),
        "not_found": _("DLI does not know it"),
        "throttled": _("DLI is throttling requests"),
        "unavailable": _("DLI is unreachable"),
        "auth_failed": _("DLI rejected the bot's credentials"),
        "forbidden": _("the bot's credentials may not read the project"),
        "bad_response": _("DLI sent an answer the bot could not read"),
        TIMEOUT: _("DLI did not answer in time"),
    }.get(kind) or _("DLI {kind}").format(kind=kind)
