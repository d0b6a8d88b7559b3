"""Events API delivery deduplication on `event_id`: a retried delivery never answers twice.

A delivery first *claims* its event id for a short lease, and marks it done when the reply is out.
A retry that finds the id done or still leased is dropped. A retry that comes after the lease ran
out (the first delivery's process died mid-way) claims it again and answers: Slack retries after
~1 and ~5 minutes, so the lease is shorter than the first gap.
"""

from __future__ import annotations

from bot.metrics import Metrics
from bot.store import KeyValueStore, make_safe

_KEY = "event:v1:"
_PROCESSING = b"processing"
_DONE = b"done"


class EventDedupe:
    def __init__(
        self,
        store: KeyValueStore,
        *,
        lease: float = 45.0,
        remember: float = 3600.0,
        metrics: Metrics | None = None,
    ) -> None:
        # SafeStore's default while Redis is down is that claims succeed: answering twice beats
        # never answering.
        self._store = make_safe(store)
        self._lease = lease
        self._remember = remember
        self._metrics = metrics

    async def claim(self, event_id: str) -> bool:
        """True when this delivery should be handled; False for a duplicate."""
        if await self._store.set_if_absent(_KEY + event_id, _PROCESSING, ttl=self._lease):
            return True
        if self._metrics:
            self._metrics.events_deduplicated.inc()
        return False

    async def finish(self, event_id: str) -> None:
        await self._store.set(_KEY + event_id, _DONE, ttl=self._remember)
