"""The measured HTTP operations: how to build one request of each from the fixtures.

A builder gets the fixtures, the worker's RNG and a sequence number unique within the job
(writes use it for unique branch names and ever-changing git state).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks.fixtures import Fixtures

API = "/api/v1"

DASHBOARD = """
query Dashboard {
  projects(first: 50, filter: {active: true}) {
    totalCount
    nodes {
      name
      counts { active uncommitted unmerged }
      workItems(first: 20, filter: {active: true}) {
        totalCount
        nodes {
          branchName status ownerId aheadOfTrunk
          tickets { kind ticket { planeTicketId title } }
          pullRequests { number state url }
          deployments { deployId environment deployedAt }
        }
      }
    }
  }
}
"""

TRACE = """
query Trace($id: String!) {
  trace(entityType: TICKET, entityId: $id) {
    direction
    nodes { id type }
    edges { from to kind linkKind }
    workItems { branchName status }
    pullRequests { number state }
    deployments { deployId environment }
  }
}
"""

UPDATE_GIT_STATE = """
mutation Git($input: UpdateGitStateInput!) {
  updateGitState(input: $input) {
    __typename
    ... on UpdateGitStatePayload { applied updatedFields workItem { id status aheadOfTrunk } }
    ... on MutationError { message field }
  }
}
"""


# The same reads against PostGraphile 4's generated schema (the peer, benchmarks.postgraphile).
# The dashboard: active projects by name, 20 active work items each, most recently active first,
# with their ticket links and tickets, PRs and deployments (through deployment_work_items). iMi's
# `counts { active uncommitted unmerged }`: `active` is the work items' filtered totalCount,
# `uncommitted` a second filtered totalCount; `unmerged` (ahead_of_trunk > 0) has no equivalent in
# the generated equality conditions.
PG_DASHBOARD = """
query Dashboard {
  allProjects(first: 50, condition: {active: true}, orderBy: [NAME_ASC, ID_ASC]) {
    totalCount
    nodes {
      name
      uncommitted: workItemsByProjectId(condition: {active: true, hasUncommittedChanges: true}) {
        totalCount
      }
      workItemsByProjectId(
        first: 20, condition: {active: true}, orderBy: [LAST_ACTIVITY_AT_DESC, ID_ASC]
      ) {
        totalCount
        nodes {
          branchName status ownerId aheadOfTrunk
          ticketLinksByWorkItemId { nodes { kind ticketByTicketId { planeTicketId title } } }
          pullRequestsByWorkItemId { nodes { number state url } }
          deploymentWorkItemsByWorkItemId {
            nodes { deploymentByDeploymentId { deployId environment deployedAt } }
          }
        }
      }
    }
  }
}
"""

# The trace ticket -> work items -> PRs -> deploys, nested as the generated schema nests it.
PG_TRACE = """
query Trace($id: String!) {
  ticketByPlaneTicketId(planeTicketId: $id) {
    id planeTicketId
    ticketLinksByTicketId(orderBy: [CREATED_AT_ASC, WORK_ITEM_ID_ASC]) {
      nodes {
        kind
        workItemByWorkItemId {
          id branchName status projectId
          pullRequestsByWorkItemId(orderBy: [CREATED_AT_ASC, NUMBER_ASC]) {
            nodes { id number state }
          }
          deploymentWorkItemsByWorkItemId {
            nodes { deploymentByDeploymentId { id deployId environment } }
          }
        }
      }
    }
  }
}
"""


@dataclass(frozen=True, slots=True)
class Call:
    method: str
    path: str
    params: dict[str, Any] | None = None
    json: Any = None
    # Bytes the body must contain (GraphQL answers 200 with errors in the body).
    expect: bytes | None = None
    reject: bytes | None = None


Builder = Callable[[Fixtures, random.Random, int], Call]


def _graphql(query: str, variables: dict[str, Any] | None = None, **kw: Any) -> Call:
    return Call("POST", "/graphql", json={"query": query, "variables": variables or {}}, **kw)


def project_by_id(fx: Fixtures, rng: random.Random, n: int) -> Call:
    return Call("GET", f"{API}/projects/{rng.choice(fx.project_ids)}")


def project_by_origin(fx: Fixtures, rng: random.Random, n: int) -> Call:
    return Call("GET", f"{API}/projects", params={"remote_origin": rng.choice(fx.origins)})


def search(fx: Fixtures, rng: random.Random, n: int) -> Call:
    return Call(
        "GET", f"{API}/projects/search", params={"q": rng.choice(fx.search_terms), "limit": 20}
    )


def inflight_big_project(fx: Fixtures, rng: random.Random, n: int) -> Call:
    return Call("GET", f"{API}/inflight-work", params={"project_id": fx.big_project_id})


def trace_ticket(fx: Fixtures, rng: random.Random, n: int) -> Call:
    return Call("GET", f"{API}/trace/ticket/{rng.choice(fx.trace_tickets)}")


def trace_deploy(fx: Fixtures, rng: random.Random, n: int) -> Call:
    return Call("GET", f"{API}/trace/deploy/{rng.choice(fx.trace_deploys)}")


def start_work(fx: Fixtures, rng: random.Random, n: int) -> Call:
    key = rng.choice(fx.ticket_keys)
    return Call(
        "POST",
        f"{API}/work",
        json={
            "project_id": rng.choice(fx.start_projects),
            # The ticket key in the branch is linked to the new work item, as agents do.
            "branch_name": f"feat/{key}-bench-{n}",
            "work_type": "feature",
            "owner_id": f"agent-bench-{n % 50}",
            "worktree_path": f"/home/agents/bench/{n}",
            "source": {"type": "plane_ticket", "ref": key},
        },
    )


def git_state(fx: Fixtures, rng: random.Random, n: int) -> Call:
    # A value never sent before: every report changes the item and emits its events.
    return Call(
        "PATCH",
        f"{API}/work/{rng.choice(fx.rest_git_state)}/git-state",
        json={"ahead_of_trunk": n + 1, "has_uncommitted_changes": n % 2 == 0},
    )


def git_state_noop(fx: Fixtures, rng: random.Random, n: int) -> Call:
    # Nothing changes: the same statements minus the event (project read + outbox insert).
    return Call("PATCH", f"{API}/work/{rng.choice(fx.rest_git_noop)}/git-state", json={})


def dashboard(fx: Fixtures, rng: random.Random, n: int) -> Call:
    return _graphql(DASHBOARD, reject=b'"errors"')


def graphql_trace(fx: Fixtures, rng: random.Random, n: int) -> Call:
    return _graphql(TRACE, {"id": rng.choice(fx.trace_tickets)}, reject=b'"errors"')


DELIVERY = """
query Delivery($projectId: ID, $from: DateTime!, $to: DateTime!) {
  deliveryMetrics(projectId: $projectId, from: $from, to: $to, bucket: DAY) {
    leadTime { count p50Seconds p90Seconds }
    ticketLeadTime { count p50Seconds p90Seconds }
    deploymentFrequency { environment deploys perDay }
    changeFailureRate { deploys failures rate }
    timeToRestore { count p50Seconds p90Seconds }
    series { bucketStart deploys failures leadTimeP50Seconds }
  }
}
"""
DELIVERY_DAYS = 90  # the window measured: the last quarter, by day


def _delivery_window() -> dict[str, str]:
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return {"from": (end - timedelta(days=DELIVERY_DAYS)).isoformat(), "to": end.isoformat()}


def delivery_big_project(fx: Fixtures, rng: random.Random, n: int) -> Call:
    params = {**_delivery_window(), "project_id": fx.big_project_id}
    return Call("GET", f"{API}/insights/delivery", params=params)


def graphql_delivery(fx: Fixtures, rng: random.Random, n: int) -> Call:
    variables = {**_delivery_window(), "projectId": fx.big_project_id}
    return _graphql(DELIVERY, variables, expect=b'"changeFailureRate"', reject=b'"errors"')


def graphql_mutation(fx: Fixtures, rng: random.Random, n: int) -> Call:
    variables = {"input": {"id": rng.choice(fx.graphql_git_state), "aheadOfTrunk": n + 1}}
    return _graphql(UPDATE_GIT_STATE, variables, expect=b"UpdateGitStatePayload")


def postgraphile_dashboard(fx: Fixtures, rng: random.Random, n: int) -> Call:
    return _graphql(PG_DASHBOARD, reject=b'"errors"')


def postgraphile_trace(fx: Fixtures, rng: random.Random, n: int) -> Call:
    return _graphql(PG_TRACE, {"id": rng.choice(fx.trace_tickets)}, reject=b'"errors"')


@dataclass(frozen=True, slots=True)
class Operation:
    key: str
    label: str
    build: Builder
    floor: str | None = None  # the raw-SQL floor it is compared with
    write: bool = False
    notes: list[str] = field(default_factory=list)


OPERATIONS: tuple[Operation, ...] = (
    Operation("rest.project_by_id", "REST project by id", project_by_id, "project_by_id"),
    Operation(
        "rest.project_by_origin",
        "REST project by remote origin",
        project_by_origin,
        "project_by_origin",
    ),
    Operation("rest.search", "REST project search (fuzzy)", search, "search"),
    Operation(
        "rest.inflight_big_project",
        "REST in-flight work, biggest project",
        inflight_big_project,
        "inflight_big_project",
    ),
    Operation("rest.trace_ticket", "REST trace ticket -> deploy", trace_ticket, "trace_ticket"),
    Operation("rest.trace_deploy", "REST trace deploy -> ticket", trace_deploy, "trace_deploy"),
    Operation("rest.start_work", "REST start work (write + events)", start_work, write=True),
    Operation("rest.git_state", "REST git-state update (write + events)", git_state, write=True),
    Operation(
        "rest.git_state_noop",
        "REST git-state update, nothing changed (no event)",
        git_state_noop,
        write=True,
    ),
    Operation("graphql.dashboard", "GraphQL dashboard (50 x 20 x links)", dashboard, "dashboard"),
    Operation("graphql.trace", "GraphQL trace ticket -> deploy", graphql_trace, "trace_ticket"),
    Operation(
        "rest.delivery_big_project",
        "REST delivery metrics (DORA), biggest project, 90 days",
        delivery_big_project,
    ),
    Operation(
        "graphql.delivery",
        "GraphQL deliveryMetrics, biggest project, 90 days",
        graphql_delivery,
    ),
    Operation(
        "graphql.update_git_state",
        "GraphQL mutation updateGitState",
        graphql_mutation,
        write=True,
    ),
)
# Peers: the same reads served by another tool on the same database, measured with the same
# load generator right after iMi's rows (benchmarks.postgraphile). ``peer_of``: iMi's operation.
PEER_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "peer.postgraphile.dashboard",
        "PostGraphile 4 dashboard (50 x 20 x links), peer",
        postgraphile_dashboard,
        "dashboard",
    ),
    Operation(
        "peer.postgraphile.trace",
        "PostGraphile 4 trace ticket -> deploy, peer",
        postgraphile_trace,
        "trace_ticket",
    ),
)
PEER_OF = {
    "peer.postgraphile.dashboard": "graphql.dashboard",
    "peer.postgraphile.trace": "graphql.trace",
}
BY_KEY = {op.key: op for op in (*OPERATIONS, *PEER_OPERATIONS)}

# What 50 agents do, each about once a second: look projects up, report git state, now and
# then start work, read their in-flight list or trace a ticket.
AGENT_MIX: dict[str, int] = {
    "rest.project_by_id": 20,
    "rest.project_by_origin": 20,
    "rest.git_state": 25,
    "rest.inflight_big_project": 10,
    "rest.search": 5,
    "rest.trace_ticket": 5,
    "rest.trace_deploy": 5,
    "rest.start_work": 5,
    "graphql.trace": 5,
}
