"""The trace's result types, and how fetched rows become typed nodes and edges (no SQL)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from imi.links.models import Deployment, PullRequest, Ticket
from imi.projects.models import Project
from imi.serialize import columns_dict, jsonable
from imi.work.models import WorkItem

# Rows are plain (attributes named like the models'): each node type's model names its columns.
MODELS: dict[str, Any] = {
    "project": Project,
    "ticket": Ticket,
    "work_item": WorkItem,
    "pull_request": PullRequest,
    "deployment": Deployment,
}
DIRECTIONS = {"ticket": "forward", "deployment": "backward"}  # anything else: "both"


@dataclass(frozen=True, slots=True)
class TraceNode:
    type: str  # project | ticket | work_item | pull_request | deployment
    id: uuid.UUID
    data: dict[str, Any]  # the entity's columns

    @property
    def key(self) -> str:
        return f"{self.type}:{self.id}"


@dataclass(frozen=True, slots=True)
class TraceEdge:
    # has_work (project -> work_item) | links (ticket -> work_item) | has_pr | deployed_in
    type: str
    source_type: str
    source_id: uuid.UUID
    target_type: str
    target_id: uuid.UUID
    kind: str | None = None  # the link kind on `links` edges (closes | references)

    @property
    def source(self) -> str:
        return f"{self.source_type}:{self.source_id}"

    @property
    def target(self) -> str:
        return f"{self.target_type}:{self.target_id}"


@dataclass(slots=True)
class Trace:
    root: TraceNode
    direction: str  # forward (from a ticket) | backward (from a deploy) | both
    nodes: list[TraceNode] = field(default_factory=list)  # root first
    edges: list[TraceEdge] = field(default_factory=list)
    # The rows behind the nodes, by type (read like the models' instances).
    projects: list[Any] = field(default_factory=list)  # the projects of the work items
    tickets: list[Any] = field(default_factory=list)
    work_items: list[Any] = field(default_factory=list)
    pull_requests: list[Any] = field(default_factory=list)
    deployments: list[Any] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: nodes by key, edges as ``source``/``target`` keys."""
        return {
            "root": self.root.key,
            "direction": self.direction,
            "nodes": [
                {"key": n.key, "type": n.type, "id": str(n.id), "data": jsonable(n.data)}
                for n in self.nodes
            ],
            "edges": [
                {"type": e.type, "source": e.source, "target": e.target, "kind": e.kind}
                for e in self.edges
            ],
        }


def assemble(
    node_type: str,
    root_entity: Any,
    work_items: list[tuple[Any, Any]],
    links: list[tuple[Any, Any]],
    prs: list[Any],
    shipped: list[tuple[uuid.UUID, Any]],
) -> Trace:
    """Typed nodes and edges from the fetched rows (no further SQL). ``links`` pairs each link
    (``work_item_id``, ``kind``) with its ticket; ``shipped`` each work item id with a deploy."""
    projects = list({project.id: project for _, project in work_items}.values())
    tickets = list({ticket.id: ticket for _, ticket in links}.values())
    if node_type == "ticket" and not tickets:
        tickets = [root_entity]  # a ticket with no links yet is still its own trace
    deployments = list({deployment.id: deployment for _, deployment in shipped}.values())
    if node_type == "deployment" and not deployments:
        deployments = [root_entity]
    root_id = root_entity.id
    root = TraceNode(node_type, root_id, columns_dict(MODELS[node_type], root_entity))
    result = Trace(
        root=root,
        direction=DIRECTIONS.get(node_type, "both"),
        projects=projects,
        tickets=tickets,
        work_items=[item for item, _ in work_items],
        pull_requests=prs,
        deployments=deployments,
    )
    typed: list[tuple[str, list[Any]]] = [
        ("project", projects),
        ("ticket", tickets),
        ("work_item", result.work_items),
        ("pull_request", prs),
        ("deployment", deployments),
    ]
    result.nodes = [root] + [
        TraceNode(kind, entity.id, columns_dict(MODELS[kind], entity))
        for kind, entities in typed
        for entity in entities
        if not (kind == node_type and entity.id == root_id)
    ]
    result.edges = _edges(work_items, links, prs, shipped)
    return result


def _edges(
    work_items: list[tuple[Any, Any]],
    links: list[tuple[Any, Any]],
    prs: list[Any],
    shipped: list[tuple[uuid.UUID, Any]],
) -> list[TraceEdge]:
    """project -> work item, ticket -> work item, work item -> PR, work item and its PRs ->
    the deployments that shipped them."""
    edges = [
        TraceEdge("has_work", "project", project.id, "work_item", item.id)
        for item, project in work_items
    ]
    edges += [
        TraceEdge("links", "ticket", ticket.id, "work_item", link.work_item_id, link.kind)
        for link, ticket in links
    ]
    edges += [
        TraceEdge("has_pr", "work_item", pr.work_item_id, "pull_request", pr.id) for pr in prs
    ]
    prs_by_work: dict[uuid.UUID, list[Any]] = {}
    for pr in prs:
        prs_by_work.setdefault(pr.work_item_id, []).append(pr)
    for work_item_id, deployment in shipped:
        edges.append(
            TraceEdge("deployed_in", "work_item", work_item_id, "deployment", deployment.id)
        )
        # A deploy shipping a work item ships that work item's PRs.
        edges += [
            TraceEdge("deployed_in", "pull_request", pr.id, "deployment", deployment.id)
            for pr in prs_by_work.get(work_item_id, [])
        ]
    return edges
