"""Noticing that the store lost the watcher's state: an epoch record, and what each process saw.

Redis restarted without persistence, or failed over to an empty replica, forgets the last seen
statuses, the open alerts and every `/dliconn watch` subscription at once. Seen from a
watcher, that looks like a first start: every open failure would be alerted again as new. So
the state carries an epoch (a random id, written with the first state) and every process
remembers the one it saw. The epoch gone while a process knew one means the store was reset;
another epoch than the one it knew means another process noticed that first and began a new
one (marked `after_reset`). A process that starts after a reset and never saw the old epoch
cannot tell a reset from a first start: Redis needs persistence or a replica (README).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from bot.metrics import Metrics

log = logging.getLogger(__name__)

Verdict = Literal["fresh", "lost", "ok"]


class Epoch(BaseModel):
    """One unbroken life of the stored state."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    started_at: float  # epoch seconds
    after_reset: bool = False  # begun by a watcher that found the previous one gone


def new_epoch(now: float, *, after_reset: bool = False) -> Epoch:
    return Epoch(id=uuid.uuid4().hex, started_at=now, after_reset=after_reset)


class ResetTracker:
    """The epoch this process last saw, and the last reset it knows of (for logs, /metrics
    and /healthz). One per process and project, shared by its watcher and its web surface."""

    def __init__(
        self, metrics: Metrics | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.metrics = metrics
        self.known: Epoch | None = None
        self.last_reset: float | None = None
        self._clock = clock
        self._reported: str | None = None  # id of the epoch whose loss was already reported

    def observe(self, current: Epoch | None) -> Verdict:
        """`fresh`: no state was ever recorded (as far as this process knows) — begin an epoch;
        `lost`: the epoch this process knew is gone, the store was reset; `ok` otherwise."""
        known = self.known
        if current is None:
            if known is None:
                return "fresh"
            self._report(known, self._clock(), "its epoch record is gone")
            return "lost"
        if known is not None and current.id != known.id:
            self._report(known, current.started_at, "another epoch replaced the one it had")
        elif current.after_reset and self.last_reset is None:
            # A reset from before this process started: still worth saying in /healthz.
            self._set_last_reset(current.started_at)
        self.known = current
        return "ok"

    def began(self, epoch: Epoch) -> None:
        """This process wrote `epoch` (a first start, or the new one after a reset)."""
        self.known = epoch
        if epoch.after_reset:
            self._set_last_reset(epoch.started_at)

    def describe(self) -> str:
        if self.last_reset is None:
            return "ok"
        when = datetime.fromtimestamp(self.last_reset, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return (
            f"reset at {when}: Redis lost the watcher's state; subscriptions made with "
            "/dliconn watch before then are gone (configured channels are kept)"
        )

    def _report(self, lost: Epoch, when: float, how: str) -> None:
        if self._reported == lost.id:
            return
        self._reported = lost.id
        log.error(
            "the watcher state in Redis was reset (%s): open alerts, mutes and /dliconn watch "
            "subscriptions are gone. Redis needs persistence (AOF) or a replica",
            how,
        )
        if self.metrics is not None:
            self.metrics.watch_state_resets.inc()
        self._set_last_reset(when)

    def _set_last_reset(self, when: float) -> None:
        self.last_reset = when
        if self.metrics is not None:
            self.metrics.watch_state_last_reset.set(when)
