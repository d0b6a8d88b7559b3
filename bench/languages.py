"""Languages benchmark: what writing in Chinese costs next to English, per card, alert and list.

Every builder looks its words up in the reader's catalogue (`bot.i18n`); English looks up too
(its catalogue is the identity), so English in the same run is the baseline of each figure.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final

from bench.common import Row, percentile, ratio_at_most
from bot.blocks.card import connection_card
from bot.blocks.lists import connection_list
from bot.dli.models import Connection
from bot.i18n import Locale, speaking
from bot.local.demo import demo_connections, synthetic_connections
from bot.lookup.cache import Freshness, Lookup
from bot.watch.messages import alert_message
from bot.watch.transitions import Incident, IncidentQueue

ROUNDS: Final = 400
LISTED: Final = 500
NOW: Final = datetime(2026, 12, 1, tzinfo=UTC)


def _per_call_us(build: Callable[[], object], locale: Locale) -> list[float]:
    samples = []
    with speaking(locale):
        build()  # catalogue compiled and caches warm before timing
        for _ in range(ROUNDS):
            started = time.process_time_ns()
            build()
            samples.append((time.process_time_ns() - started) / 1000)
    return samples


def _builders() -> dict[str, Callable[[], object]]:
    demo = [Connection.model_validate(c) for c in demo_connections()]
    failing = max(demo, key=lambda c: sum(q.is_failed for q in c.available_queue_info))
    lookup = Lookup(failing, "live", NOW, "request-id")
    listed = [Connection.model_validate(c) for c in synthetic_connections(LISTED, 0.05)]
    queues = [
        IncidentQueue(name=q.name, kind="queue", err_msg=q.err_msg, since=0.0)
        for q in failing.available_queue_info
        if q.is_failed
    ]
    incident = Incident(
        id="i1",
        connection_id=failing.id,
        connection_name=failing.name,
        kind="failed",
        queues=tuple(queues),
        started_at=NOW.timestamp(),
    )
    return {
        "card, 4 FAILED queues": lambda: connection_card(lookup, now=NOW),
        "alert, 4 FAILED queues": lambda: alert_message(incident),
        f"list of {LISTED} connections": lambda: connection_list(
            listed, filter_label="all", now=NOW, freshness=Freshness("live", NOW)
        ),
    }


def run() -> list[Row]:
    """Each reply built in Chinese next to the same reply in English (CPU per build)."""
    rows: list[Row] = []
    gc.disable()  # a collection landing in one language's samples would be noise, not cost
    try:
        for name, build in _builders().items():
            english = _per_call_us(build, "en")
            chinese = _per_call_us(build, "zh-CN")
            rows.append(
                Row(
                    f"{name}, CPU p50",
                    percentile(chinese, 50),
                    percentile(english, 50),
                    "µs",
                    ratio_at_most(1.25),
                    note="baseline: the same reply in English, this run" if not rows else "",
                )
            )
    finally:
        gc.enable()
    return rows
