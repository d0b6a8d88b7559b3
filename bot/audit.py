"""The audit trail of changes guarded verbs make: one entry per change, in Redis (a stream per
channel, kept 90 days) or in memory, and one structured log line each.

What is stored is language-neutral: an entry's action and result are fixed English forms (built
here, so every writer spells them alike), the same whoever reads them; `shown` words an entry
for a person, in the language they read, when it is shown."""

from __future__ import annotations

import json
import logging
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Final, Protocol

import redis.asyncio as aioredis

from bot.config import Verb
from bot.errors import StoreUnavailable, dli_problem
from bot.i18n import _
from bot.policy import GUARDED_VERBS
from bot.store import redis_backed

log = logging.getLogger(__name__)

KEEP_SECONDS: Final = 90 * 86400
#: A bound on one channel's trail in memory (Redis trims by age only).
MEMORY_MAX_ENTRIES: Final = 10_000
_KEY: Final = "audit:"


@dataclass(frozen=True)
class AuditEntry:
    """Who did what, where, to which connection of which project, with what result, when."""

    at: float  # Unix seconds
    user: str
    channel: str
    verb: Verb
    action: str  # "watch", "unwatch", "mute 4 h", "ack", "test q → host:port" (see below)
    connection: str  # the id, or the target as typed when it named nothing
    project: str | None
    result: str  # "ok", "unchanged: …", "not run: …", a test's outcome, or "failed: …"

    @property
    def when(self) -> datetime:
        return datetime.fromtimestamp(self.at, UTC)

    def fields(self) -> dict[str, str]:
        return {k: "" if v is None else str(v) for k, v in asdict(self).items()}

    @classmethod
    def from_fields(cls, raw: dict[str, str]) -> AuditEntry:
        verb = raw.get("verb", "watch")
        return cls(
            at=float(raw.get("at") or 0),
            user=raw.get("user", ""),
            channel=raw.get("channel", ""),
            verb=verb if verb in GUARDED_VERBS else "watch",
            action=raw.get("action", ""),
            connection=raw.get("connection", ""),
            project=raw.get("project") or None,
            result=raw.get("result", ""),
        )


class AuditStore(Protocol):
    async def add(self, entry: AuditEntry) -> None: ...

    async def recent(self, channel: str, count: int) -> list[AuditEntry]:
        """The channel's last `count` entries, newest first."""
        ...

    async def aclose(self) -> None: ...


class MemoryAuditStore:
    """One process's trail (no REDIS_URL): each channel's entries, aged out after 90 days."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._by_channel: dict[str, deque[AuditEntry]] = {}

    async def add(self, entry: AuditEntry) -> None:
        trail = self._by_channel.setdefault(entry.channel, deque(maxlen=MEMORY_MAX_ENTRIES))
        trail.append(entry)
        oldest = self._clock() - KEEP_SECONDS
        while trail and trail[0].at < oldest:
            trail.popleft()

    async def recent(self, channel: str, count: int) -> list[AuditEntry]:
        oldest = self._clock() - KEEP_SECONDS
        trail = [e for e in self._by_channel.get(channel, ()) if e.at >= oldest]
        return trail[::-1][:count]

    async def aclose(self) -> None:
        self._by_channel.clear()


@redis_backed
class RedisAuditStore:
    """A Redis stream per channel, trimmed (MINID) to 90 days on every write; a channel whose
    trail stops growing expires with its last entry."""

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str = "dliconn:",
        owns_client: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._owns_client = owns_client
        self._clock = clock

    def _key(self, channel: str) -> str:
        return f"{self._prefix}{_KEY}{channel}"

    async def add(self, entry: AuditEntry) -> None:
        key = self._key(entry.channel)
        oldest_ms = int((self._clock() - KEEP_SECONDS) * 1000)
        async with self._client.pipeline(transaction=True) as pipe:
            # Exact trimming: a trail grows by people's clicks, so its cost is nothing, and an
            # approximate trim would keep a small stream's old entries forever.
            pipe.xadd(key, entry.fields(), minid=oldest_ms, approximate=False)  # type: ignore[arg-type]
            pipe.expire(key, KEEP_SECONDS)
            await pipe.execute()

    async def recent(self, channel: str, count: int) -> list[AuditEntry]:
        rows = await self._client.xrevrange(self._key(channel), count=count) or []
        oldest = self._clock() - KEEP_SECONDS
        entries = [AuditEntry.from_fields(_decoded(fields or {})) for _id, fields in rows]
        # MINID trimming is approximate: an entry past 90 days may linger; never show it.
        return [e for e in entries if e.at >= oldest]

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()


def _decoded(fields: dict[bytes | str, bytes | str]) -> dict[str, str]:
    def text(value: bytes | str) -> str:
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else value

    return {text(k): text(v) for k, v in fields.items()}


@dataclass(frozen=True)
class AuditLog:
    """Records an entry twice: one structured log line (always), then the store (best effort:
    the change is already made, and the log line still tells it)."""

    store: AuditStore

    async def record(self, entry: AuditEntry) -> None:
        log.info("audit %s", json.dumps(asdict(entry), sort_keys=True, ensure_ascii=False))
        try:
            await self.store.add(entry)
        except StoreUnavailable as exc:
            log.warning("audit entry not stored (storage unavailable): %s", exc)

    async def recent(self, channel: str, count: int) -> list[AuditEntry]:
        return await self.store.recent(channel, count)


# --------------------------------------------------------------------------- actions and results

#: An entry's action and result as stored. The forms with a value (hours, a queue, DLI's code)
#: are built by the functions below; `shown_action` and `shown_result` read them back.
WATCH: Final = "watch"
UNWATCH: Final = "unwatch"
ACK: Final = "ack"
OK: Final = "ok"
NOTHING_OPEN: Final = "unchanged: nothing open"
AMBIGUOUS: Final = "unchanged: the name matches several connections"
DELETED: Final = "unchanged: deleted"
ALREADY_WATCHED: Final = "unchanged: already watched"
NOT_WATCHED: Final = "unchanged: not watched here"
NOT_RUN_AMBIGUOUS: Final = "not run: the name matches several connections"
NOT_BOUND: Final = "not run: queue not bound"
REACHABLE: Final = "reachable"
UNREACHABLE: Final = "unreachable"
FAILED_NOT_FOUND: Final = "failed: not found"
FAILED_STORE: Final = "failed: storage unavailable"
FAILED_UNEXPECTED: Final = "failed: unexpected error"

_MUTE = re.compile(r"mute ([0-9]+) h")
_TEST = re.compile(r"test (\S+) → (\S+)")
_REFUSED = re.compile(r"refused by DLI: (.+)", re.DOTALL)
_CHECKING = re.compile(r"still checking \(task (.*)\)", re.DOTALL)
_ANSWERED = re.compile(r"DLI answered (.+)", re.DOTALL)
_FAILED_DLI = re.compile(r"failed: DLI (\S+)")
#: The words stored where DLI gave no code, or no answer.
_NO_CODE: Final = ("not found", "error")
_NO_ANSWER: Final = "(nothing)"


def mute_action(hours: int) -> str:
    return f"mute {hours} h"


def conntest_action(queue: str, address: str) -> str:
    return f"test {queue} → {address}"


def refused_by_dli(code: str | None, *, not_found: bool) -> str:
    """A test DLI refused, with its error code (else whether it did not know the queue)."""
    return f"refused by DLI: {code or _NO_CODE[0 if not_found else 1]}"


def still_checking(task_id: str) -> str:
    return f"still checking (task {task_id})"


def dli_answered(connectivity: str) -> str:
    """A test's outcome in a word DLI has and the bot does not know."""
    return f"DLI answered {connectivity or _NO_ANSWER}"


def failed_dli(kind: str) -> str:
    """A change that failed on a DliError of `kind` (throttled, unavailable, …)."""
    return f"failed: DLI {kind}"


def shown(entry: AuditEntry) -> AuditEntry:
    """The entry as a person reads it, in the current language: our words translated, its
    values (hours, a queue, an address, DLI's code, a task id) exact. An action or result this
    version does not know (one an older or newer bot stored) is shown as stored."""
    return replace(entry, action=shown_action(entry.action), result=shown_result(entry.result))


def shown_action(action: str) -> str:
    fixed = {WATCH: _("watch"), UNWATCH: _("unwatch"), ACK: _("ack")}
    if action in fixed:
        return fixed[action]
    if mute := _MUTE.fullmatch(action):
        return _("mute {hours} h").format(hours=mute.group(1))
    if test := _TEST.fullmatch(action):
        return _("test {queue} → {address}").format(queue=test.group(1), address=test.group(2))
    return action


def shown_result(result: str) -> str:
    fixed = {
        OK: _("ok"),
        NOTHING_OPEN: _("unchanged: nothing open"),
        AMBIGUOUS: _("unchanged: the name matches several connections"),
        DELETED: _("unchanged: deleted"),
        ALREADY_WATCHED: _("unchanged: already watched"),
        NOT_WATCHED: _("unchanged: not watched here"),
        NOT_RUN_AMBIGUOUS: _("not run: the name matches several connections"),
        NOT_BOUND: _("not run: queue not bound"),
        REACHABLE: _("reachable"),
        UNREACHABLE: _("unreachable"),
        FAILED_NOT_FOUND: _("failed: not found"),
        FAILED_STORE: _("failed: storage unavailable"),
        FAILED_UNEXPECTED: _("failed: unexpected error"),
    }
    if result in fixed:
        return fixed[result]
    if refused := _REFUSED.fullmatch(result):
        code = refused.group(1)
        words = {"not found": _("not found"), "error": _("error")}
        return _("refused by DLI: {code}").format(code=words.get(code, code))
    if checking := _CHECKING.fullmatch(result):
        return _("still checking (task {task})").format(task=checking.group(1))
    if answered := _ANSWERED.fullmatch(result):
        word = answered.group(1)
        return _("DLI answered {answer}").format(
            answer=_("(nothing)") if word == _NO_ANSWER else word
        )
    if failed := _FAILED_DLI.fullmatch(result):
        return _("failed: {problem}").format(problem=dli_problem(failed.group(1)))
    return result
