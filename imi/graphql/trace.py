"""``trace``: the linked subgraph around a ticket, branch, pull request or deployment.

The domain's trace (``imi.links.service.trace``, a fixed number of statements) becomes typed
GraphQL: ``nodes`` carry the real ``Ticket``/``WorkItem``/``PullRequest``/``Deployment``/
``Project`` objects (``entity``, a union), ``edges`` join nodes by global id, and the typed
lists hold the same objects by kind. Resolving a trace issues no statement beyond the domain's.
An unknown or malformed ``entityId`` gives ``null`` (not an error).
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Annotated, Any
from uuid import UUID

import strawberry

from imi.graphql.context import Context
from imi.graphql.ids import find_id
from imi.graphql.links import Deployment, PullRequest, Ticket
from imi.graphql.node import Node
from imi.graphql.projects import Project
from imi.graphql.work import WorkItem
from imi.links import service
from imi.links.models import LinkKind

Info = strawberry.Info[Context, None]


@strawberry.enum(description="What `trace(entityId:)` names.")
class TraceEntityType(Enum):
    TICKET = "ticket"  # a Plane ticket id, e.g. PROJ-123
    BRANCH = "branch"  # a work item id (global or UUID), or `<project_id>:<branch name>`
    PR = "pr"  # a pull request id or url
    DEPLOY = "deploy"  # a deploy id


@strawberry.enum(description="Which way a trace runs from its root.")
class TraceDirection(Enum):
    FORWARD = "forward"  # from a ticket: ticket -> work items -> PRs -> deployments
    BACKWARD = "backward"  # from a deployment: deployment -> work items/PRs -> tickets
    BOTH = "both"  # from a work item or PR: everything adjacent


@strawberry.enum(description="The kind of a trace node.")
class TraceNodeType(Enum):
    PROJECT = "project"
    TICKET = "ticket"
    WORK_ITEM = "work_item"
    PULL_REQUEST = "pull_request"
    DEPLOYMENT = "deployment"


@strawberry.enum(description="The kind of a trace edge.")
class TraceEdgeKind(Enum):
    HAS_WORK = "has_work"  # project -> work item
    LINKS = "links"  # ticket -> work item (see `linkKind`)
    HAS_PR = "has_pr"  # work item -> pull request
    DEPLOYED_IN = "deployed_in"  # work item or pull request -> deployment


TraceEntity = Annotated[
    Project | Ticket | WorkItem | PullRequest | Deployment,
    strawberry.union("TraceEntity", description="The object a trace node stands for."),
]

# Domain node type -> (GraphQL type name, row -> GraphQL object).
_KINDS: dict[str, tuple[str, Any]] = {
    "project": ("Project", Project.from_row),
    "ticket": ("Ticket", Ticket.from_row),
    "work_item": ("WorkItem", WorkItem.from_row),
    "pull_request": ("PullRequest", PullRequest.from_row),
    "deployment": ("Deployment", Deployment.from_row),
}


# Global ids are url-safe base64: no ':' or '/', so branch refs and urls never look like one.
_BASE64 = re.compile(r"[A-Za-z0-9_-]+=*")
_GLOBAL_TYPES = {"branch": "WorkItem", "pr": "PullRequest"}


def _domain_id(entity_type: TraceEntityType, entity_id: str) -> str:
    """A work item or PR global id as the UUID the domain expects; anything else unchanged."""
    wanted = _GLOBAL_TYPES.get(entity_type.value)
    if wanted and _BASE64.fullmatch(entity_id.strip()):
        raw_id = find_id(entity_id.strip(), wanted)
        if raw_id is not None:
            return str(raw_id)
    return entity_id


def _global_id(node_type: str, raw_id: UUID) -> strawberry.ID:
    return Node.global_id(_KINDS[node_type][0], raw_id)


def rows_by_kind(trace: service.Trace) -> dict[str, list[Any]]:
    """The trace's rows by node type (both executors build their nodes from these)."""
    return {
        "project": trace.projects,
        "ticket": trace.tickets,
        "work_item": trace.work_items,
        "pull_request": trace.pull_requests,
        "deployment": trace.deployments,
    }


def trace_edges(trace: service.Trace) -> list[TraceEdge]:
    """The domain's edges as GraphQL edges between global ids (kinds GraphQL knows only)."""
    return [
        TraceEdge(
            source=_global_id(e.source_type, e.source_id),
            target=_global_id(e.target_type, e.target_id),
            kind=TraceEdgeKind(e.type),
            link_kind=LinkKind(e.kind) if e.kind else None,
        )
        for e in trace.edges
        if e.type in TraceEdgeKind._value2member_map_
    ]


@strawberry.type(description="One object of a trace.")
class TraceNode:
    id: strawberry.ID = strawberry.field(description="The object's global id (as `node(id:)`).")
    type: TraceNodeType
    entity: TraceEntity


@strawberry.type(description="A link between two trace nodes, by their global ids.")
class TraceEdge:
    source: strawberry.ID = strawberry.field(name="from")
    target: strawberry.ID = strawberry.field(name="to")
    kind: TraceEdgeKind
    link_kind: LinkKind | None = strawberry.field(
        description="How the ticket is linked, on `LINKS` edges."
    )


@strawberry.type(description="The linked subgraph around one ticket, branch, PR or deployment.")
class Trace:
    root: TraceNode
    direction: TraceDirection
    nodes: list[TraceNode] = strawberry.field(description="Every node, the root first.")
    edges: list[TraceEdge]
    projects: list[Project]
    tickets: list[Ticket]
    work_items: list[WorkItem]
    pull_requests: list[PullRequest]
    deployments: list[Deployment]

    @classmethod
    def from_domain(cls, trace: service.Trace) -> Trace:
        typed = {
            kind: [_KINDS[kind][1](row) for row in items]
            for kind, items in rows_by_kind(trace).items()
        }
        nodes = {
            (kind, obj.uuid): TraceNode(id=obj.id, type=TraceNodeType(kind), entity=obj)
            for kind, objs in typed.items()
            for obj in objs
        }
        edges = trace_edges(trace)
        return cls(
            root=nodes[(trace.root.type, trace.root.id)],
            direction=TraceDirection(trace.direction),
            nodes=[nodes[(n.type, n.id)] for n in trace.nodes if (n.type, n.id) in nodes],
            edges=edges,
            projects=typed["project"],
            tickets=typed["ticket"],
            work_items=typed["work_item"],
            pull_requests=typed["pull_request"],
            deployments=typed["deployment"],
        )


@strawberry.type
class Query:
    @strawberry.field(
        description="The subgraph linked to one node: `TICKET` (Plane id), `BRANCH` (work item "
        "id or `<projectId>:<branch>`), `PR` (id or url), `DEPLOY` (deploy id). "
        "Null when the id names nothing."
    )
    async def trace(self, info: Info, entity_type: TraceEntityType, entity_id: str) -> Trace | None:
        domain_id = _domain_id(entity_type, entity_id)
        result = await info.context.find(lambda s: service.trace(s, entity_type.value, domain_id))
        return Trace.from_domain(result) if result else None
