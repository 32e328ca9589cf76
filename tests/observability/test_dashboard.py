"""The Grafana dashboard in deploy/grafana queries only metrics /metrics exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx

from tests.observability.test_metrics import client, scrape  # noqa: F401  (fixture, by name)

DASHBOARD = Path(__file__).parents[2] / "deploy" / "grafana" / "imi.json"
METRIC = re.compile(r"\b((?:imi|process)_[a-z0-9_]+)\b")
TYPE_LINE = re.compile(r"^# TYPE (\S+) (\S+)$", re.MULTILINE)


def exported(text: str) -> set[str]:
    """Every series name the exposition declares, samples or not (a labelled counter that
    never moved has its TYPE line and no sample yet)."""
    names: set[str] = set()
    for name, kind in TYPE_LINE.findall(text):
        names.add(name)
        if kind == "histogram":
            names |= {f"{name}_bucket", f"{name}_count", f"{name}_sum"}
        if kind == "counter" and not name.endswith("_total"):
            names.add(f"{name}_total")
    return names


def queried() -> set[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    exprs = [t["expr"] for p in panels for t in p["targets"]]
    assert exprs and all(
        t["datasource"]["uid"] == "${datasource}" for p in panels for t in p["targets"]
    )
    return {name for expr in exprs for name in METRIC.findall(expr)}


async def test_every_metric_the_dashboard_queries_is_exported(client: httpx.AsyncClient) -> None:  # noqa: F811
    await client.get("/api/v1/projects")
    names = queried()
    assert {
        "imi_http_requests_total",
        "imi_outbox_backlog_events",
        "imi_relay_lag_seconds_bucket",
    } <= names
    missing = names - exported(await scrape(client))
    assert not missing, f"the dashboard queries metrics /metrics does not export: {missing}"
