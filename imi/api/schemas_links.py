"""REST shapes of the links area: ticket/PR/deploy links and the trace."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from imi.errors import ValidationFailed
from imi.links.models import (
    MAX_DEPLOY_WORK_ITEMS,
    DeploymentInput,
    DeploymentResult,
    PullRequestResult,
)
from imi.links.trace_graph import Trace, TraceEdge, TraceNode
from imi.models_base import Identifier, Input, Metadata, Name
from imi.serialize import jsonable


class PullRequestOut(BaseModel):
    """A pull request; ``pr_*`` are the PRD's names for ``number``/``url``/``state``."""

    id: uuid.UUID
    pr_id: uuid.UUID
    project_id: uuid.UUID
    work_item_id: uuid.UUID
    pr_number: int
    pr_url: str
    pr_state: str = Field(description="open | merged | closed")
    number: int
    url: str
    state: str
    pr_title: str | None = Field(description="The PR's title (PRD name; = title).")
    title: str | None
    metadata: dict[str, Any]
    opened_at: datetime | None
    merged_at: datetime | None
    closed_at: datetime | None
    created_at: datetime | None
    updated_at: datetime | None
    previous_state: str | None = Field(description="The state before this call; null if new.")
    created: bool
    changed: bool

    @classmethod
    def of(cls, result: PullRequestResult) -> PullRequestOut:
        pr = result.pull_request
        return cls(
            id=pr.id,
            pr_id=pr.id,
            project_id=pr.project_id,
            work_item_id=pr.work_item_id,
            pr_number=pr.number,
            pr_url=pr.url,
            pr_state=pr.state,
            number=pr.number,
            url=pr.url,
            state=pr.state,
            pr_title=pr.title,
            title=pr.title,
            metadata=pr.meta,
            opened_at=pr.opened_at,
            merged_at=pr.merged_at,
            closed_at=pr.closed_at,
            created_at=pr.created_at,
            updated_at=pr.updated_at,
            previous_state=result.previous_state.value if result.previous_state else None,
            created=result.created,
            changed=result.changed,
        )


class DeploymentIn(Input):
    """A deploy of one work item (``work_item_id``, the PRD's form) or several
    (``work_item_ids``): exactly one of the two."""

    # The domain input's bounds, checked here so a bad value is a 400 naming its field.
    deploy_id: Identifier
    environment: Name
    commit_hash: Identifier | None = None
    work_item_id: uuid.UUID | None = None
    work_item_ids: list[uuid.UUID] | None = Field(
        default=None, min_length=1, max_length=MAX_DEPLOY_WORK_ITEMS
    )
    status: Name = Field(default="succeeded", description="Kept as sent, e.g. succeeded, failed.")
    deployed_at: datetime | None = Field(default=None, description="Naive times are UTC.")
    metadata: Metadata = Field(default_factory=dict)

    def to_domain(self) -> DeploymentInput:
        single, several = self.work_item_id, self.work_item_ids
        if (single is None) == (several is None):
            raise ValidationFailed(
                "give exactly one of work_item_id (one work item) or work_item_ids (several)",
                field="work_item_ids" if several is not None else "work_item_id",
            )
        ids = [single] if single is not None else list(several or [])
        # Only what the caller sent: the service tells a re-sent status from the default.
        fields = self.model_dump(exclude_unset=True, exclude={"work_item_id", "work_item_ids"})
        return DeploymentInput(**fields, work_item_ids=ids)


class DeploymentOut(BaseModel):
    id: uuid.UUID
    deployment_id: uuid.UUID
    deploy_id: str
    environment: str
    commit_hash: str | None
    status: str
    deployed_at: datetime | None
    metadata: dict[str, Any]
    work_item_ids: list[uuid.UUID] = Field(description="Everything the deployment ships.")
    added_work_item_ids: list[uuid.UUID] = Field(description="Attached by this call.")
    created: bool
    changed: bool
    created_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def of(cls, result: DeploymentResult) -> DeploymentOut:
        d = result.deployment
        return cls(
            id=d.id,
            deployment_id=d.id,
            deploy_id=d.deploy_id,
            environment=d.environment,
            commit_hash=d.commit_hash,
            status=d.status,
            deployed_at=d.deployed_at,
            metadata=d.meta,
            work_item_ids=result.work_item_ids,
            added_work_item_ids=result.added_work_item_ids,
            created=result.created,
            changed=result.changed,
            created_at=d.created_at,
            updated_at=d.updated_at,
        )


NodeType = Literal["project", "ticket", "work_item", "pull_request", "deployment"]


class TraceNodeOut(BaseModel):
    """``{type, id, ...}``: the entity's own fields, flattened beside ``type`` and ``id``."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "example": {
                "type": "ticket",
                "id": "770e8400-e29b-41d4-a716-446655440002",
                "plane_ticket_id": "PROJ-123",
                "title": "Login page",
                "state": "in_progress",
            }
        },
    )

    type: NodeType
    id: uuid.UUID

    @classmethod
    def of(cls, node: TraceNode) -> TraceNodeOut:
        fields = jsonable(node.data)
        fields.pop("type", None)
        return cls(**{**fields, "type": node.type, "id": node.id})


class TraceEdgeOut(BaseModel):
    """An edge between two nodes, named by their ``id``."""

    model_config = ConfigDict(populate_by_name=True)

    from_: uuid.UUID = Field(alias="from", description="id of the source node")
    to: uuid.UUID = Field(description="id of the target node")
    kind: Literal["has_work", "links", "has_pr", "deployed_in"] = Field(
        description="project -has_work-> work_item, ticket -links-> work_item, "
        "work_item -has_pr-> pull_request, work_item|pull_request -deployed_in-> deployment"
    )
    link_kind: str | None = Field(
        default=None, description="On `links` edges: closes | references; otherwise null."
    )

    @classmethod
    def of(cls, edge: TraceEdge) -> TraceEdgeOut:
        return cls(
            from_=edge.source_id,
            to=edge.target_id,
            kind=edge.type,
            link_kind=edge.kind,
        )


class TraceOut(BaseModel):
    root: TraceNodeOut = Field(description="The node the trace started from (also nodes[0]).")
    direction: Literal["forward", "backward", "both"] = Field(
        description="forward from a ticket, backward from a deploy, both from a work item or PR"
    )
    nodes: list[TraceNodeOut]
    edges: list[TraceEdgeOut]

    @classmethod
    def of(cls, trace: Trace) -> TraceOut:
        nodes = [TraceNodeOut.of(node) for node in trace.nodes]
        return cls(
            root=nodes[0],
            direction=trace.direction,
            nodes=nodes,
            edges=[TraceEdgeOut.of(edge) for edge in trace.edges],
        )
