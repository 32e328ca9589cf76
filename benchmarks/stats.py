"""Latency summaries: percentiles (nearest rank) and throughput."""

from __future__ import annotations

import math
from typing import Any


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (``q`` in [0, 1])."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summarize(latencies: list[float], elapsed: float, errors: int = 0) -> dict[str, Any]:
    """``latencies`` in seconds -> milliseconds; ``elapsed`` is the measured wall time."""
    ordered = sorted(latencies)
    count = len(ordered)

    def ms(value: float) -> float:
        return round(value * 1000.0, 3)

    return {
        "requests": count,
        "errors": errors,
        "elapsed_s": round(elapsed, 3),
        "rps": round(count / elapsed, 1) if elapsed > 0 else 0.0,
        "p50_ms": ms(percentile(ordered, 0.50)),
        "p95_ms": ms(percentile(ordered, 0.95)),
        "p99_ms": ms(percentile(ordered, 0.99)),
        "mean_ms": ms(sum(ordered) / count) if count else math.nan,
        "max_ms": ms(ordered[-1]) if count else math.nan,
    }
