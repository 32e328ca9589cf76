"""Scales, defaults and the PRD (NFR-1) targets the report compares against."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
DATABASE_NAME = "imi_bench"


@dataclass(frozen=True, slots=True)
class Scale:
    """Row counts of the generated dataset."""

    name: str
    projects: int
    work_items: int
    tickets: int
    ticket_links: int
    pull_requests: int
    deployments: int
    deployment_links: int
    components: int
    component_relationships: int
    activities: int
    # How many projects hold components (a meta-repo and its siblings).
    component_parents: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


DEFAULT = Scale(
    name="default",
    projects=2_000,
    work_items=100_000,
    tickets=60_000,
    ticket_links=150_000,
    pull_requests=60_000,
    deployments=20_000,
    deployment_links=80_000,
    components=300,
    component_relationships=1_000,
    activities=200_000,
    component_parents=10,
)
SMALL = Scale(
    name="small",
    projects=100,
    work_items=5_000,
    tickets=3_000,
    ticket_links=7_500,
    pull_requests=3_000,
    deployments=1_000,
    deployment_links=4_000,
    components=15,
    component_relationships=50,
    activities=10_000,
    component_parents=1,
)
SCALES = {scale.name: scale for scale in (DEFAULT, SMALL)}


@dataclass(frozen=True, slots=True)
class Target:
    """A PRD figure: ``metric`` (p95 in ms unless stated) must stay below ``limit``."""

    label: str
    limit: float
    metric: str = "p95_ms"


# NFR-1. Operations without an entry have no PRD figure; they are reported for information.
TARGETS: dict[str, Target] = {
    "rest.project_by_id": Target("< 10 ms p95", 10.0),
    "rest.project_by_origin": Target("< 10 ms p95", 10.0),
    "rest.inflight_big_project": Target("< 25 ms p95", 25.0),
    "rest.trace_ticket": Target("< 50 ms p95", 50.0),
    "rest.trace_deploy": Target("< 50 ms p95", 50.0),
    "graphql.trace": Target("< 50 ms p95", 50.0),
    # Issue 18: delivery metrics for one project (the biggest) on the default dataset.
    "rest.delivery_big_project": Target("< 50 ms p95", 50.0),
    "graphql.delivery": Target("< 50 ms p95", 50.0),
    "event.write_overhead": Target("< 5 ms added", 5.0, metric="p50_ms"),
    "event.commit_to_queue": Target("< 5 ms p95", 5.0),
}
# The issue's ambition: beat every PRD figure by this factor.
AMBITION = 5.0
CONCURRENT_AGENTS = 50


@dataclass(frozen=True, slots=True)
class IssueTarget:
    """A target of issue 14 ("Hot paths at the floor"), judged on one row of the run.

    ``measure`` says what is compared with ``limit``:
    - ``p50_vs_floor``: the row's p50 / its raw-SQL floor's p50 at the same concurrency;
    - ``rps_vs_floor``: the row's throughput / the floor's at the same concurrency (``limit`` is
      a share: 0.5 = 50%);
    - ``p50_vs_peer``: the row's p50 / the peer row's (``peer``) p50 at the same concurrency;
    - ``p50_ms``, ``p95_ms``: the row's latency; ``rps``: the row's throughput.
    ``at_least``: the figure must reach ``limit`` (throughput) rather than stay at or below it.
    ``workers``: the row measured against ``imi serve --workers N`` (production serving).
    ``concurrency`` "burst" matches the row of any burst size.
    """

    path: str
    now: str  # the issue's figure before the work (run 20261121T225848Z)
    goal: str  # as the issue states it
    key: str
    concurrency: str
    measure: str
    limit: float
    at_least: bool = False
    workers: bool = False
    peer: str | None = None


# Issue 14's table, row for row (the by-id / by-origin and the REST / GraphQL pairs split).
ISSUE_TARGETS: tuple[IssueTarget, ...] = (
    IssueTarget(
        "REST project by id, c=1, p50 vs floor",
        "9.8x",
        "<= 2x",
        "rest.project_by_id",
        "1",
        "p50_vs_floor",
        2.0,
    ),
    IssueTarget(
        "REST project by origin, c=1, p50 vs floor",
        "7.7x",
        "<= 2x",
        "rest.project_by_origin",
        "1",
        "p50_vs_floor",
        2.0,
    ),
    IssueTarget(
        "REST project by id, c=50, throughput vs floor (`imi serve --workers N`)",
        "8%",
        ">= 50%",
        "rest.project_by_id",
        "50",
        "rps_vs_floor",
        0.5,
        at_least=True,
        workers=True,
    ),
    IssueTarget(
        "REST project by origin, c=50, throughput vs floor (`imi serve --workers N`)",
        "9%",
        ">= 50%",
        "rest.project_by_origin",
        "50",
        "rps_vs_floor",
        0.5,
        at_least=True,
        workers=True,
    ),
    IssueTarget(
        "REST in-flight work, biggest project, c=1 p95",
        "13.5 ms",
        "<= 5 ms",
        "rest.inflight_big_project",
        "1",
        "p95_ms",
        5.0,
    ),
    IssueTarget(
        "REST trace ticket -> deploy, c=1 p95",
        "10.5 ms",
        "<= 5 ms",
        "rest.trace_ticket",
        "1",
        "p95_ms",
        5.0,
    ),
    IssueTarget(
        "GraphQL trace ticket -> deploy, c=1 p95",
        "15.1 ms",
        "<= 8 ms",
        "graphql.trace",
        "1",
        "p95_ms",
        8.0,
    ),
    IssueTarget(
        "GraphQL dashboard 50 x 20 x links, c=1, p50 vs floor",
        "20.5x",
        "<= 3x",
        "graphql.dashboard",
        "1",
        "p50_vs_floor",
        3.0,
    ),
    IssueTarget(
        "GraphQL dashboard, c=1, p50 vs PostGraphile 4 (peer)",
        "11x (measured from outside)",
        "<= 1x (ahead of PostGraphile)",
        "graphql.dashboard",
        "1",
        "p50_vs_peer",
        1.0,
        peer="peer.postgraphile.dashboard",
    ),
    IssueTarget(
        "event written with a write (with - without), c=1 p50",
        "4.0 ms",
        "<= 1 ms",
        # The same write with and without its events (benchmarks.events): the paired HTTP row
        # compares a changing write with one that changes nothing, charging the UPDATE and the
        # commit's flush to the event.
        "event.write_cost_same_write",
        "1",
        "p50_ms",
        1.0,
    ),
    IssueTarget(
        "consume burst of git.sync_completed, one process",
        "~130 msg/s",
        ">= 1,000 msg/s",
        "event.consume.git.sync_completed",
        "burst",
        "rps",
        1_000.0,
        at_least=True,
    ),
    IssueTarget(
        "REST project search (fuzzy), c=1, p50 vs floor",
        "1.5x",
        "<= 1.2x",
        "rest.search",
        "1",
        "p50_vs_floor",
        1.2,
    ),
)
