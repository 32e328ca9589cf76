"""Trace: the linked subgraph around a ticket, work item, pull request or deployment.

Every trace is resolved in a fixed number of statements (four), whatever the size of
the graph: the root (with its direct links), then one ``= ANY(:ids)`` query per kind of
neighbour of the root's work items. The work items' projects are joined onto the statement that
reads the work items, so they add no statement.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ARRAY, Uuid, any_, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from imi.batches import plain_columns, prefixed_columns, record_of
from imi.errors import NotFound, ValidationFailed
from imi.links.common import dedupe, parse_uuid
from imi.links.models import Deployment, DeploymentWorkItem, PullRequest, Ticket, TicketLink
from imi.links.trace_graph import Trace, TraceEdge, TraceNode, assemble
from imi.prepared import Prepared
from imi.projects.models import Project
from imi.work.models import WorkItem

__all__ = ["ENTITY_TYPES", "Trace", "TraceEdge", "TraceNode", "trace"]

# Accepted entity types -> node type. The node type names are accepted as aliases too.
ENTITY_TYPES: dict[str, str] = {
    "ticket": "ticket",
    "branch": "work_item",
    "work": "work_item",
    "work_item": "work_item",
    "pr": "pull_request",
    "pull_request": "pull_request",
    "deploy": "deployment",
    "deployment": "deployment",
}


@dataclass(frozen=True, slots=True)
class Link:
    """What a trace needs of a ticket link: its work item and its kind."""

    work_item_id: uuid.UUID
    kind: str


@dataclass(slots=True)
class _Root:
    """What the first statement learns: the root row and the work items it leads to. Rows are
    plain (columns labelled like the models' attributes): nothing is hydrated or tracked."""

    entity: Any
    work_item_ids: list[uuid.UUID]
    links: list[tuple[Link, Any]] | None = None  # ticket root: its links, already read
    deployment_of: list[tuple[uuid.UUID, Any]] | None = None  # deploy root: likewise
    work_item: tuple[Any, Any] | None = None  # work or PR root: its work item and project


def _missing(entity_type: str, entity_id: str) -> NotFound:
    return NotFound(entity_type, entity_id, field="entity_id")


# A ticket row's link columns, and a work item's project beside it on the same row.
LINK_COLUMNS: tuple[Any, ...] = (
    col(TicketLink.work_item_id).label("link_work_item_id"),
    col(TicketLink.kind).label("link_kind"),
)
SHIPPED: Any = col(DeploymentWorkItem.work_item_id).label("shipped_work_item_id")
PROJECT = "project__"
WORK = "work__"


def _link(row: Any) -> Link:
    return Link(row.link_work_item_id, row.link_kind)


# Every statement is built and compiled once (imi.prepared): a trace runs four of them, and
# building each per call cost more CPU than PostgreSQL spends answering it.
IDS: Any = bindparam("ids", type_=ARRAY(Uuid()))
WORK_WITH_PROJECT: Any = select(*plain_columns(WorkItem), *prefixed_columns(Project, PROJECT)).join(
    Project, col(Project.id) == col(WorkItem.project_id)
)
TICKET_ROOT = Prepared(
    select(*plain_columns(Ticket), *LINK_COLUMNS)
    .outerjoin(TicketLink, col(TicketLink.ticket_id) == col(Ticket.id))
    .where(col(Ticket.plane_ticket_id) == bindparam("key"))
    .order_by(col(TicketLink.created_at), col(TicketLink.work_item_id))
)
WORK_ROOT_BY_ID = Prepared(WORK_WITH_PROJECT.where(col(WorkItem.id) == bindparam("id")))
# The active work item on that branch, else the most recent one.
WORK_ROOT_BY_BRANCH = Prepared(
    WORK_WITH_PROJECT.where(
        col(WorkItem.project_id) == bindparam("project_id"),
        col(WorkItem.branch_name) == bindparam("branch"),
    )
    .order_by(col(WorkItem.active).desc(), col(WorkItem.created_at).desc())
    .limit(1)
)
# The PR's work item and project ride along: one statement fewer later.
_PR_WITH_WORK: Any = (
    select(
        *plain_columns(PullRequest),
        *prefixed_columns(WorkItem, WORK),
        *prefixed_columns(Project, PROJECT),
    )
    .join(WorkItem, col(WorkItem.id) == col(PullRequest.work_item_id))
    .join(Project, col(Project.id) == col(WorkItem.project_id))
)
PR_ROOT_BY_ID = Prepared(_PR_WITH_WORK.where(col(PullRequest.id) == bindparam("id")))
PR_ROOT_BY_URL = Prepared(_PR_WITH_WORK.where(col(PullRequest.url) == bindparam("url")))
DEPLOY_ROOT = Prepared(
    select(*plain_columns(Deployment), SHIPPED)
    .outerjoin(DeploymentWorkItem, col(DeploymentWorkItem.deployment_id) == col(Deployment.id))
    .where(col(Deployment.deploy_id) == bindparam("key"))
    .order_by(col(DeploymentWorkItem.created_at), col(DeploymentWorkItem.work_item_id))
)
WORK_ITEMS = Prepared(
    WORK_WITH_PROJECT.where(col(WorkItem.id) == any_(IDS)).order_by(
        col(WorkItem.created_at), col(WorkItem.id)
    )
)
LINKS = Prepared(
    select(*plain_columns(Ticket), *LINK_COLUMNS)
    .join(TicketLink, col(TicketLink.ticket_id) == col(Ticket.id))
    .where(col(TicketLink.work_item_id) == any_(IDS))
    .order_by(col(Ticket.plane_ticket_id), col(TicketLink.created_at))
)
PULL_REQUESTS = Prepared(
    select(*plain_columns(PullRequest))
    .where(col(PullRequest.work_item_id) == any_(IDS))
    .order_by(col(PullRequest.created_at), col(PullRequest.number))
)
DEPLOYMENTS = Prepared(
    select(SHIPPED, *plain_columns(Deployment))
    .join(Deployment, col(Deployment.id) == col(DeploymentWorkItem.deployment_id))
    .where(col(DeploymentWorkItem.work_item_id) == any_(IDS))
    .order_by(col(Deployment.deployed_at), col(Deployment.deploy_id))
)


async def _ticket_root(session: AsyncSession, entity_id: str) -> _Root:
    rows = await TICKET_ROOT.all(session, {"key": entity_id.strip()})
    if not rows:
        raise _missing("ticket", entity_id)
    ticket = rows[0]
    links = [(_link(row), ticket) for row in rows if row.link_work_item_id is not None]
    return _Root(ticket, dedupe(link.work_item_id for link, _ in links), links=links)


async def _work_root(session: AsyncSession, entity_id: str) -> _Root:
    project_part, sep, branch = entity_id.partition(":")  # git forbids ':' in branch names
    if sep:
        project_id = parse_uuid(project_part)
        if project_id is None or not branch.strip():
            raise _missing("work item", entity_id)
        params = {"project_id": project_id, "branch": branch.strip()}
        row = await WORK_ROOT_BY_BRANCH.first(session, params)
    else:
        work_item_id = parse_uuid(entity_id)
        if work_item_id is None:
            raise _missing("work item", entity_id)
        row = await WORK_ROOT_BY_ID.first(session, {"id": work_item_id})
    if row is None:
        raise _missing("work item", entity_id)
    return _Root(row, [row.id], work_item=(row, record_of(row, Project, PROJECT)))


async def _pr_root(session: AsyncSession, entity_id: str) -> _Root:
    pr_id = parse_uuid(entity_id)
    if pr_id is not None:
        row = await PR_ROOT_BY_ID.first(session, {"id": pr_id})
    else:
        row = await PR_ROOT_BY_URL.first(session, {"url": entity_id.strip().rstrip("/")})
    if row is None:
        raise _missing("pull request", entity_id)
    work_item = record_of(row, WorkItem, WORK)
    return _Root(row, [row.work_item_id], work_item=(work_item, record_of(row, Project, PROJECT)))


async def _deploy_root(session: AsyncSession, entity_id: str) -> _Root:
    rows = await DEPLOY_ROOT.all(session, {"key": entity_id.strip()})
    if not rows:
        raise _missing("deployment", entity_id)
    deployment = rows[0]
    pairs = [(row.shipped_work_item_id, deployment) for row in rows if row.shipped_work_item_id]
    return _Root(deployment, dedupe(w for w, _ in pairs), deployment_of=pairs)


ROOT_LOADERS = {
    "ticket": _ticket_root,
    "work_item": _work_root,
    "pull_request": _pr_root,
    "deployment": _deploy_root,
}


async def trace(session: AsyncSession, entity_type: str, entity_id: str) -> Trace:
    """The subgraph linked to one node.

    ``entity_type``: ``ticket`` (``entity_id`` = plane ticket id), ``branch`` or ``work``
    (work item UUID, or ``<project_id>:<branch_name>`` = the active work item on that branch,
    else the most recent), ``pr`` (UUID or url), ``deploy`` (deploy id). The root resolves to a
    set of work items; the trace holds those work items with their projects (read with them),
    ticket links, PRs and deployments. From a ticket only that ticket is shown among tickets
    (forward chain), from a deploy only that deploy among deployments (backward chain); from a
    work item or PR, everything adjacent. Unknown or malformed ids raise NotFound.
    """
    node_type = ENTITY_TYPES.get(entity_type.strip().lower())
    if node_type is None:
        raise ValidationFailed(
            f"entity_type must be one of ticket, branch, work, pr, deploy; got {entity_type!r}",
            field="entity_type",
        )
    root = await ROOT_LOADERS[node_type](session, entity_id)
    ids = root.work_item_ids

    work_items: list[tuple[Any, Any]] = []
    links: list[tuple[Link, Any]] = root.links or []
    prs: list[Any] = []
    shipped: list[tuple[uuid.UUID, Any]] = root.deployment_of or []
    if ids:
        if root.work_item is not None:
            work_items = [root.work_item]
        else:
            rows_wi = await WORK_ITEMS.all(session, {"ids": ids})
            work_items = [(row, record_of(row, Project, PROJECT)) for row in rows_wi]
        if root.links is None:
            links = [(_link(row), row) for row in await LINKS.all(session, {"ids": ids})]
        prs = await PULL_REQUESTS.all(session, {"ids": ids})
        if root.deployment_of is None:
            rows_d = await DEPLOYMENTS.all(session, {"ids": ids})
            shipped = [(row.shipped_work_item_id, row) for row in rows_d]

    return assemble(node_type, root.entity, work_items, links, prs, shipped)
