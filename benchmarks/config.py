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
    "event.write_overhead": Target("< 5 ms added", 5.0, metric="p50_ms"),
    "event.commit_to_queue": Target("< 5 ms p95", 5.0),
}
# The ambition: beat every PRD figure by this factor.
AMBITION = 5.0
CONCURRENT_AGENTS = 50
