"""Links between work items and tickets, pull requests and deployments; and the trace.

The public service API of the area. The rules live in one module per entity; adapters import
from here.
"""

from __future__ import annotations

from imi.links.deployments import DEPLOY_COMPLETED, DEPLOY_UPDATED, get_deployment, link_deployment
from imi.links.models import DeploymentResult, PullRequestResult, TicketLinkResult
from imi.links.pull_requests import (
    PR_CLOSED,
    PR_CREATED,
    PR_MERGED,
    PR_REOPENED,
    PR_UPDATED,
    get_pull_request,
    link_pull_request,
    pull_request_timeline,
)
from imi.links.tickets import (
    TICKET_CREATED,
    TICKET_LINKED,
    TICKET_UPDATED,
    get_ticket,
    link_ticket,
    link_ticket_keys,
    upsert_ticket,
)
from imi.links.trace import Trace, TraceEdge, TraceNode, trace

__all__ = [
    "DEPLOY_COMPLETED",
    "DEPLOY_UPDATED",
    "PR_CLOSED",
    "PR_CREATED",
    "PR_MERGED",
    "PR_REOPENED",
    "PR_UPDATED",
    "TICKET_CREATED",
    "TICKET_LINKED",
    "TICKET_UPDATED",
    "DeploymentResult",
    "PullRequestResult",
    "TicketLinkResult",
    "Trace",
    "TraceEdge",
    "TraceNode",
    "get_deployment",
    "get_pull_request",
    "get_ticket",
    "link_deployment",
    "link_pull_request",
    "link_ticket",
    "link_ticket_keys",
    "pull_request_timeline",
    "trace",
    "upsert_ticket",
]
