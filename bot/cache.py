"""Read-through connection cache: TTL, singleflight, stale-if-error, negative cache, Redis-safe."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from bot.dli.models import Connection

Source = Literal["live", "cache", "stale"]


@dataclass(frozen=True)
class Lookup:
    """A connection plus where it came from, so every surface can say how fresh it is."""

    connection: Connection
    source: Source
    fetched_at: datetime  # when DLI produced this copy (aware, UTC)
    request_id: str | None = None
    stale_reason: str | None = None  # set when source == "stale": why DLI could not be asked

    def age(self, now: datetime) -> timedelta:
        return now - self.fetched_at
