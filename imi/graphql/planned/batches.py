"""Batch forms of the navigation resolvers: one loader batch for every parent of a level.

Each function here answers, for a list of parents, what the Strawberry resolver it is
registered for answers for one parent: the same loader (so the same SQL on the request's read
session, the same per-request cache), the same arguments, the same order. Values are rows
where the resolver would wrap a row in its ``FromRow`` type: the planned runner reads rows
with that type's own readers. A field missing here sends its operation to the normal executor.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from imi.graphql import enums as _enums  # noqa: F401  (the enums first, as schema.py)
from imi.graphql.links import Deployment, PullRequest, Ticket, TicketLinkEdge
from imi.graphql.loaders.components import ComponentsByProject
from imi.graphql.loaders.links import (
    DeploymentsByTicket,
    DeploymentsByWorkItem,
    DeploymentsByWorkItemLean,
    PullRequestsByDeployment,
    PullRequestsByTicket,
    PullRequestsByWorkItem,
    PullRequestsByWorkItemLean,
    TicketsByDeployment,
    TicketsByWorkItem,
    TicketsByWorkItemLean,
    WorkItemsByDeployment,
    WorkItemsByTicket,
)
from imi.graphql.loaders.projects import CountsByProject, ProjectById
from imi.graphql.loaders.work import WorkItemById, WorkItemsByProject, WorkItemsByProjectLean
from imi.graphql.pagination import Connection, Window, connection
from imi.graphql.planned.loads import Loads
from imi.graphql.planned.plan import Batch, Level
from imi.graphql.projects import Project, ProjectCounts
from imi.graphql.work import WorkItem, work_query
from imi.links.models import LinkKind

BATCHES: dict[Callable[..., Any], Batch] = {}
# Root resolvers with a planned form, called instead of them: (info, **arguments) -> value.
ROOTS: dict[Callable[..., Any], Callable[..., Awaitable[Any]]] = {}


def _resolver(cls: type[Any], name: str) -> Callable[..., Any]:
    fields = {f.python_name: f for f in cls.__strawberry_definition__.fields}
    resolver = fields[name].base_resolver
    assert resolver is not None, f"{cls.__name__}.{name} has no resolver"
    func: Callable[..., Any] = resolver.wrapped_func
    return func


def batch_of(cls: type[Any], name: str) -> Callable[[Batch], Batch]:
    """Registers the decorated function as the batch form of ``cls.<name>``'s resolver."""

    def register(batch: Batch) -> Batch:
        BATCHES[_resolver(cls, name)] = batch
        return batch

    return register


R = TypeVar("R", bound=Callable[..., Awaitable[Any]])


def root_of(cls: type[Any], name: str) -> Callable[[R], R]:
    """Registers the decorated function as the planned form of root field ``cls.<name>``."""

    def register(root: R) -> R:
        ROOTS[_resolver(cls, name)] = root
        return root

    return register


def _ids(level: Level, name: str = "uuid") -> list[Any]:
    return [level.read(source, name) for source in level.sources]


def _lean(level: Level) -> bool:
    """Whether the document reads no metadata below this field: its rows may go without."""
    return "metadata" not in level.reads_below


def _same(row: Any) -> Any:
    return row


@batch_of(Connection, "nodes")
async def connection_nodes(load: Loads, level: Level, kwargs: dict[str, Any]) -> list[Any]:
    return [[edge.node for edge in level.read(source, "edges")] for source in level.sources]


# --- projects ------------------------------------------------------------------------------


@batch_of(Project, "work_items")
async def project_work_items(load: Loads, level: Level, kwargs: dict[str, Any]) -> list[Any]:
    window = Window.of(kwargs.get("first"), kwargs.get("after"))
    query = work_query(kwargs.get("filter"), window)
    loader = WorkItemsByProjectLean if _lean(level) else WorkItemsByProject
    pages = await load(loader, [(i, query) for i in _ids(level)])
    return [connection(page, window, _same) for page in pages]


@batch_of(Project, "counts")
async def project_counts(load: Loads, level: Level, kwargs: dict[str, Any]) -> list[Any]:
    counts = await load(CountsByProject, _ids(level))
    return [ProjectCounts(**c.model_dump()) for c in counts]


@batch_of(Project, "components")
async def project_components(load: Loads, level: Level, kwargs: dict[str, Any]) -> list[Any]:
    return await load(ComponentsByProject, _ids(level))


# --- work items ----------------------------------------------------------------------------


@batch_of(WorkItem, "project")
async def work_item_project(load: Loads, level: Level, kwargs: dict[str, Any]) -> list[Any]:
    return await load(ProjectById, _ids(level, "project_id"))


@batch_of(WorkItem, "tickets")
async def work_item_tickets(load: Loads, level: Level, kwargs: dict[str, Any]) -> list[Any]:
    rows = await load(TicketsByWorkItemLean if _lean(level) else TicketsByWorkItem, _ids(level))
    # The edge holds the ticket's row: the runner reads it as Ticket.from_row would.
    return [
        [
            TicketLinkEdge(kind=LinkKind(row.kind), ticket=row, linked_at=row.linked_at)
            for row in items
        ]
        for items in rows
    ]


@batch_of(WorkItem, "pull_requests")
async def work_item_pull_requests(load: Loads, level: Level, kwargs: dict[str, Any]) -> list[Any]:
    loader = PullRequestsByWorkItemLean if _lean(level) else PullRequestsByWorkItem
    return await load(loader, _ids(level))


@batch_of(WorkItem, "deployments")
async def work_item_deployments(load: Loads, level: Level, kwargs: dict[str, Any]) -> list[Any]:
    loader = DeploymentsByWorkItemLean if _lean(level) else DeploymentsByWorkItem
    return await load(loader, _ids(level))


# --- tickets, pull requests, deployments ---------------------------------------------------


@batch_of(Ticket, "work_items")
async def ticket_work_items(load: Loads, level: Level, kwargs: dict[str, Any]) -> list[Any]:
    return await load(WorkItemsByTicket, _ids(level))


@batch_of(Ticket, "pull_requests")
async def ticket_pull_requests(load: Loads, level: Level, kwargs: dict[str, Any]) -> list[Any]:
    return await load(PullRequestsByTicket, _ids(level))


@batch_of(Ticket, "deployments")
async def ticket_deployments(load: Loads, level: Level, kwargs: dict[str, Any]) -> list[Any]:
    return await load(DeploymentsByTicket, _ids(level))


@batch_of(PullRequest, "work_item")
async def pull_request_work_item(load: Loads, level: Level, kwargs: dict[str, Any]) -> list[Any]:
    return await load(WorkItemById, _ids(level, "work_item_id"))


@batch_of(PullRequest, "project")
async def pull_request_project(load: Loads, level: Level, kwargs: dict[str, Any]) -> list[Any]:
    return await load(ProjectById, _ids(level, "project_id"))


@batch_of(PullRequest, "tickets")
async def pull_request_tickets(load: Loads, level: Level, kwargs: dict[str, Any]) -> list[Any]:
    return await load(TicketsByWorkItem, _ids(level, "work_item_id"))


@batch_of(PullRequest, "deployments")
async def pull_request_deployments(load: Loads, level: Level, kwargs: dict[str, Any]) -> list[Any]:
    return await load(DeploymentsByWorkItem, _ids(level, "work_item_id"))


@batch_of(Deployment, "work_items")
async def deployment_work_items(load: Loads, level: Level, kwargs: dict[str, Any]) -> list[Any]:
    return await load(WorkItemsByDeployment, _ids(level))


@batch_of(Deployment, "pull_requests")
async def deployment_pull_requests(load: Loads, level: Level, kwargs: dict[str, Any]) -> list[Any]:
    return await load(PullRequestsByDeployment, _ids(level))


@batch_of(Deployment, "tickets")
async def deployment_tickets(load: Loads, level: Level, kwargs: dict[str, Any]) -> list[Any]:
    return await load(TicketsByDeployment, _ids(level))
