"""Every metric iMi exports, in one place (the README's Operations section lists them).

Counters and histograms work unchanged under prometheus_client's multiprocess mode (``imi
serve --workers N``); gauges say how the workers' values combine (``livesum``: the sum over
the live workers). Labels are bounded: routes are templates, GraphQL operation names and
routing keys pass through :class:`BoundedLabel`.
"""

from __future__ import annotations

import re
import threading
import time
from datetime import datetime

from prometheus_client import Counter, Gauge, Histogram

# Seconds: from a fast read (5 ms) to a request that hits the GraphQL timeout (30 s).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Seconds from an event's commit to its publisher confirm: sub-second normally, hours when the
# broker was away.
LAG_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0)

OTHER = "other"  # a label value past a label's limit
LABEL_MAX_CHARS = 64
_UNSAFE = re.compile(r"[^A-Za-z0-9_.:-]")


class BoundedLabel:
    """At most ``limit`` distinct values per process (later ones count as ``other``), each
    cut to :data:`LABEL_MAX_CHARS` safe characters: a client cannot grow the series count."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str) -> str:
        value = _UNSAFE.sub("_", value[:LABEL_MAX_CHARS])
        if value in self._seen:
            return value
        with self._lock:
            if len(self._seen) >= self.limit:
                return OTHER
            self._seen.add(value)
        return value


HTTP_REQUESTS = Counter(
    "imi_http_requests",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "imi_http_request_duration_seconds",
    "HTTP request latency (until the answer is sent), by route template and method.",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)

GRAPHQL_OPERATIONS = Counter(
    "imi_graphql_operations",
    "GraphQL operations executed, by operation name and type.",
    ["operation", "type"],
)
GRAPHQL_ERRORS = Counter(
    "imi_graphql_operation_errors",
    "GraphQL operations answered with errors (refused, invalid or failed).",
    ["operation", "type"],
)
GRAPHQL_DURATION = Histogram(
    "imi_graphql_operation_duration_seconds",
    "GraphQL query and mutation latency (subscriptions are long-lived: not timed).",
    ["operation", "type"],
    buckets=LATENCY_BUCKETS,
)
graphql_operation_name = BoundedLabel(limit=100)

EVENTS_PUBLISHED = Counter(
    "imi_events_published",
    "Outbox events published to the exchange (confirmed), by routing key.",
    ["routing_key"],
)
PUBLISH_FAILURES = Counter(
    "imi_events_publish_failures",
    "Publish attempts the broker refused or did not confirm, by routing key.",
    ["routing_key"],
)
RELAY_LAG = Histogram(
    "imi_relay_lag_seconds",
    "Seconds from an event's commit to its publisher confirm.",
    buckets=LAG_BUCKETS,
)
routing_key_label = BoundedLabel(limit=200)

MESSAGES_CONSUMED = Counter(
    "imi_messages_consumed",
    "Messages consumed, by queue and outcome (ok, duplicate, skipped, answered, "
    "dead_lettered, retried).",
    ["queue", "outcome"],
)

GRAPHQL_SUBSCRIPTIONS = Gauge(
    "imi_graphql_subscriptions_open",
    "GraphQL subscriptions in flight.",
    multiprocess_mode="livesum",
)
WEBSOCKETS = Gauge(
    "imi_websocket_connections_open",
    "WebSocket connections open, by endpoint (graphql, agents).",
    ["endpoint"],
    multiprocess_mode="livesum",
)

POOL_IN_USE = Gauge(
    "imi_db_pool_connections_in_use",
    "SQL pool connections checked out.",
    multiprocess_mode="livesum",
)
POOL_IDLE = Gauge(
    "imi_db_pool_connections_idle",
    "SQL pool connections open and idle.",
    multiprocess_mode="livesum",
)
POOL_WAITING = Gauge(
    "imi_db_pool_waiting",
    "Tasks waiting for a SQL pool connection (the pool is exhausted).",
    multiprocess_mode="livesum",
)


# One-line hooks for the adapters: the label policy stays here.


def event_published(routing_key: str, committed_at: datetime) -> None:
    EVENTS_PUBLISHED.labels(routing_key_label(routing_key)).inc()
    RELAY_LAG.observe(max(time.time() - committed_at.timestamp(), 0.0))


def publish_failed(routing_key: str) -> None:
    PUBLISH_FAILURES.labels(routing_key_label(routing_key)).inc()


def message_consumed(queue: str, outcome: str) -> None:
    MESSAGES_CONSUMED.labels(queue, outcome).inc()
