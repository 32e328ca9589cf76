"""Loaders between work items, tickets, pull requests and deployments (each way).

A pull request belongs to one work item, so its tickets and deployments are those of its work
item: ``PullRequest`` fields reuse the ``...ByWorkItem`` loaders with the PR's work item id and
share their batches.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from imi.graphql.loaders import NO_META, ById, Grouped, Related
from imi.links import plain_queries, queries
from imi.links.models import Deployment, PullRequest, Ticket
from imi.work.models import WorkItem


class TicketById(ById[Ticket], model=Ticket):
    pass


class PullRequestById(ById[PullRequest], model=PullRequest):
    pass


class DeploymentById(ById[Deployment], model=Deployment):
    pass


# --- from work items -------------------------------------------------------------------------


# The dashboard's hot loaders read plain rows (imi.links.plain_queries): the ticket's
# columns with the link's ``kind`` and ``linked_at``; pull requests; deployments.
class TicketsByWorkItem(Grouped[Any], query=plain_queries.ticket_link_rows_of_work_items):
    pass


class PullRequestsByWorkItem(Grouped[Any], query=plain_queries.pull_request_rows_of_work_items):
    pass


class DeploymentsByWorkItem(Related[Any], query=plain_queries.deployment_rows_of_work_items):
    pass


# The same without ``meta`` (for a document that reads no metadata: no JSON decoded per row).
class TicketsByWorkItemLean(
    Grouped[Any], query=partial(plain_queries.ticket_link_rows_of_work_items, omit=NO_META)
):
    pass


class PullRequestsByWorkItemLean(
    Grouped[Any], query=partial(plain_queries.pull_request_rows_of_work_items, omit=NO_META)
):
    pass


class DeploymentsByWorkItemLean(
    Related[Any], query=partial(plain_queries.deployment_rows_of_work_items, omit=NO_META)
):
    pass


# --- from tickets ----------------------------------------------------------------------------


class WorkItemsByTicket(Related[WorkItem], query=queries.work_items_of_tickets):
    pass


class PullRequestsByTicket(Related[PullRequest], query=queries.pull_requests_of_tickets):
    pass


class DeploymentsByTicket(Related[Deployment], query=queries.deployments_of_tickets):
    pass


# --- from deployments ------------------------------------------------------------------------


class WorkItemsByDeployment(Related[WorkItem], query=queries.work_items_of_deployments):
    pass


class PullRequestsByDeployment(Related[PullRequest], query=queries.pull_requests_of_deployments):
    pass


class TicketsByDeployment(Related[Ticket], query=queries.tickets_of_deployments):
    pass
