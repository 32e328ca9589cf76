"""The benchmark report judges issue 14's targets from the rows of a run (no timing asserted here:
synthetic rows in, pass/miss out), and the peer's node counts match iMi's shapes."""

from typing import Any

from graphql import parse, validate

from benchmarks import postgraphile, report
from benchmarks.config import ISSUE_TARGETS
from benchmarks.operations import BY_KEY, DASHBOARD, PEER_OF, TRACE
from imi.graphql.schema import schema


def _row(key: str, c: str, floor: str | None = None, **figures: Any) -> dict[str, Any]:
    return {"key": key, "label": key, "concurrency": c, "floor": floor, "errors": 0, **figures}


def _floor(p50: float, rps: float) -> dict[str, Any]:
    return {"p50_ms": p50, "p95_ms": p50, "p99_ms": p50, "rps": rps}


def _by_path(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["path"]: r for r in rows}


def test_every_target_names_a_row_the_suite_produces() -> None:
    produced = set(BY_KEY) | {
        "event.write_overhead",
        "event.write_overhead_paired",
        "event.write_cost_same_write",
        "event.consume.git.sync_completed",
    }
    assert {t.key for t in ISSUE_TARGETS} <= produced
    assert {t.peer for t in ISSUE_TARGETS if t.peer} <= set(PEER_OF)


def test_targets_are_judged_as_the_issue_states_them() -> None:
    results = [
        _row("rest.project_by_id", "1", "project_by_id", p50_ms=0.7, p95_ms=1.0, rps=1000),
        _row("rest.project_by_origin", "1", "project_by_origin", p50_ms=1.5, rps=600),
        # One process at c=50 is ignored: the target is the --workers row.
        _row("rest.project_by_id", "50", "project_by_id", p50_ms=50, rps=9000),
        _row("rest.project_by_id", "50", "project_by_id", p50_ms=20, rps=2600, workers=2),
        _row("rest.inflight_big_project", "1", "inflight_big_project", p50_ms=3, p95_ms=6),
        _row("graphql.dashboard", "1", "dashboard", p50_ms=30),
        _row("peer.postgraphile.dashboard", "1", "dashboard", p50_ms=40, peer_of="x"),
        _row("event.consume.git.sync_completed", "1", p50_ms=2, rps=100),
        _row("event.consume.git.sync_completed", "burst 1000", p50_ms=500, rps=1200),
    ]
    floors = {
        "project_by_id@1": _floor(0.5, 2000),
        "project_by_origin@1": _floor(0.5, 2000),
        "project_by_id@50": _floor(10, 5000),
        "dashboard@1": _floor(12, 80),
    }
    rows = _by_path(report.issue_targets(results, floors))
    assert len(rows) == len(ISSUE_TARGETS)

    by_id = rows["REST project by id, c=1, p50 vs floor"]
    assert (by_id["measured"], by_id["result"]) == ("1.4x", "pass")
    assert rows["REST project by origin, c=1, p50 vs floor"]["result"] == "**miss**"
    throughput = rows["REST project by id, c=50, throughput vs floor (`imi serve --workers N`)"]
    assert (throughput["measured"], throughput["result"]) == ("52%", "pass")
    assert "--workers 2" in throughput["detail"]
    origin_c50 = "REST project by origin, c=50, throughput vs floor (`imi serve --workers N`)"
    assert rows[origin_c50]["result"] == "—"  # not measured
    assert rows["REST in-flight work, biggest project, c=1 p95"]["result"] == "**miss**"
    dashboard = rows["GraphQL dashboard 50 x 20 x links, c=1, p50 vs floor"]
    assert (dashboard["measured"], dashboard["result"]) == ("2.5x", "pass")
    peer = rows["GraphQL dashboard, c=1, p50 vs PostGraphile 4 (peer)"]
    assert (peer["measured"], peer["result"]) == ("0.8x", "pass")
    burst = rows["consume burst of git.sync_completed, one process"]
    assert (burst["measured"], burst["result"]) == ("1,200 msg/s", "pass")
    assert rows["REST project search (fuzzy), c=1, p50 vs floor"]["result"] == "—"

    table = report.issue_table(list(rows.values()))
    assert "Issue 14 targets met: 5 of 7 measured." in table


def test_the_benchmark_queries_are_valid_against_imis_schema() -> None:
    for query in (DASHBOARD, TRACE):
        assert validate(schema._schema, parse(query)) == []


def test_peer_counts_read_both_shapes_alike() -> None:
    imi = {
        "projects": {
            "nodes": [
                {
                    "name": "a",
                    "workItems": {
                        "totalCount": 3,
                        "nodes": [
                            {
                                "branchName": "feat/x",
                                "tickets": [{}, {}],
                                "pullRequests": [{}],
                                "deployments": [],
                            }
                        ],
                    },
                }
            ]
        }
    }
    pg = {
        "allProjects": {
            "nodes": [
                {
                    "name": "a",
                    "workItemsByProjectId": {
                        "totalCount": 3,
                        "nodes": [
                            {
                                "branchName": "feat/x",
                                "ticketLinksByWorkItemId": {"nodes": [{}, {}]},
                                "pullRequestsByWorkItemId": {"nodes": [{}]},
                                "deploymentWorkItemsByWorkItemId": {"nodes": []},
                            }
                        ],
                    },
                }
            ]
        }
    }
    assert postgraphile.imi_dashboard_counts(imi) == postgraphile.pg_dashboard_counts(pg)
    assert postgraphile.imi_dashboard_order(imi) == postgraphile.pg_dashboard_order(pg)
