"""Prometheus metrics of one process, on a registry of its own so tests and replicas stay apart."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.lookups = Counter(
            "dliconn_lookups",
            "Connection lookups by where the answer came from",
            ["source"],
            registry=self.registry,
        )
        self.dli_latency = Histogram(
            "dliconn_dli_request_seconds",
            "DLI API request latency",
            ["operation"],
            registry=self.registry,
        )
        self.dli_errors = Counter(
            "dliconn_dli_errors", "DLI API failures by kind", ["kind"], registry=self.registry
        )
        self.slack_errors = Counter(
            "dliconn_slack_api_errors",
            "Slack Web API errors by method and error code",
            ["method", "error"],
            registry=self.registry,
        )
        self.watch_posts_dropped = Counter(
            "dliconn_watch_posts_dropped",
            "Watcher posts given up on, by why: refused (Slack refuses it for good), unexpected "
            "(a bug, after the last try), channel (the bot cannot post there any more), "
            "guardrails (a Slack Connect channel under external_channels = deny)",
            ["reason"],
            registry=self.registry,
        )
        self.events_deduplicated = Counter(
            "dliconn_events_deduplicated",
            "Slack event deliveries dropped as duplicates",
            registry=self.registry,
        )
        self.watch_state_resets = Counter(
            "dliconn_watch_state_resets",
            "Times this process found the watcher state in Redis reset (lost)",
            registry=self.registry,
        )
        self.watch_state_last_reset = Gauge(
            "dliconn_watch_state_last_reset_timestamp_seconds",
            "When the watcher state in Redis was last found reset (0: never)",
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
