"""Links from work items to tickets, pull requests and deployments (v3 PRD `/links/...`).

Each is an idempotent create: ``201`` when this call created the link (or PR, or deploy),
``200`` when it existed (a re-send, a PR state move, more work items for a known deploy).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Response

from imi.api.deps import Session
from imi.api.envelope import Envelope, error_responses
from imi.api.schemas_links import DeploymentIn, DeploymentOut, PullRequestOut
from imi.compat.shapes_links import TicketLinkOut
from imi.errors import NotFound
from imi.links import service
from imi.links.models import PullRequestInput, TicketLinkInput

router = APIRouter(tags=["links"])

WORK_ITEM_ID = "660e8400-e29b-41d4-a716-446655440001"
TICKET_EXAMPLE = {
    "work_item_id": WORK_ITEM_ID,
    "plane_ticket_id": "PROJ-123",
    "ticket_title": "Login page",
    "ticket_url": "https://plane.example.com/acme/issues/PROJ-123",
    "ticket_state": "in_progress",
    "kind": "closes",
}
PR_EXAMPLE = {
    "work_item_id": WORK_ITEM_ID,
    "pr_number": 42,
    "pr_url": "https://github.com/delorenj/my-awesome-app/pull/42",
    "pr_state": "open",
    "pr_title": "Add login page",
}
PR_MERGE_EXAMPLE = {**PR_EXAMPLE, "pr_state": "merged"}
DEPLOY_EXAMPLE = {
    "deploy_id": "deploy-2026-01-21-001",
    "environment": "production",
    "commit_hash": "f6e5d4c3b2a1",
    "work_item_id": WORK_ITEM_ID,
}
DEPLOY_MANY_EXAMPLE = {
    "deploy_id": "deploy-2026-01-21-002",
    "environment": "staging",
    "commit_hash": "a1b2c3d4e5f6",
    "work_item_ids": [WORK_ITEM_ID, "660e8400-e29b-41d4-a716-446655440009"],
    "status": "succeeded",
}


def _existing(what: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"description": f"{what} already existed (re-send, or an update)"}}


def _status(response: Response, created: bool) -> None:
    response.status_code = 201 if created else 200


@router.post(
    "/links/ticket",
    status_code=201,
    response_model=Envelope[TicketLinkOut],
    responses=_existing("The link") | error_responses(400, 404, 422),
    summary="Link a Plane ticket to a work item (creates or refreshes the ticket)",
    description="Idempotent per (ticket, work item): a re-send answers 200; a new `kind` "
    "(closes | references) moves the link. `ticket_title`/`ticket_url`/`ticket_state` (or "
    "`title`/`url`/`state`) refresh the ticket when given.",
)
async def link_ticket(
    session: Session,
    response: Response,
    body: Annotated[TicketLinkInput, Body(examples=[TICKET_EXAMPLE])],
) -> Envelope[TicketLinkOut]:
    result = await service.link_ticket(session, body)
    _status(response, result.created)
    return Envelope(data=TicketLinkOut.of(result))


@router.post(
    "/links/pr",
    status_code=201,
    response_model=Envelope[PullRequestOut],
    responses=_existing("The pull request") | error_responses(400, 404, 409, 422),
    summary="Link a pull request to a work item, or move it to `pr_state`",
    description="States: open -> merged | closed, closed -> open; merged is terminal. An "
    "illegal move (e.g. merged -> open) is 409 with `details.field = pr_state`; so is linking "
    "a PR's url to another work item (`work_item_id`). `previous_state` is the state before.",
)
async def link_pull_request(
    session: Session,
    response: Response,
    body: Annotated[PullRequestInput, Body(examples=[PR_EXAMPLE, PR_MERGE_EXAMPLE])],
) -> Envelope[PullRequestOut]:
    result = await service.link_pull_request(session, body)
    _status(response, result.created)
    return Envelope(data=PullRequestOut.of(result))


@router.post(
    "/links/deploy",
    status_code=201,
    response_model=Envelope[DeploymentOut],
    responses=_existing("The deployment") | error_responses(400, 404, 409, 422),
    summary="Record a deployment of one work item (`work_item_id`) or several (`work_item_ids`)",
    description="Idempotent on `deploy_id`: a re-send answers 200, attaches any new work items "
    "(`added_work_item_ids`) and refreshes the fields sent. Exactly one of `work_item_id` and "
    "`work_item_ids` (400 otherwise). Another `environment` for a known deploy is 409.",
)
async def link_deployment(
    session: Session,
    response: Response,
    body: Annotated[DeploymentIn, Body(examples=[DEPLOY_EXAMPLE, DEPLOY_MANY_EXAMPLE])],
) -> Envelope[DeploymentOut]:
    try:
        result = await service.link_deployment(session, body.to_domain())
    except NotFound as exc:
        if body.work_item_id is not None and exc.field == "work_item_ids":
            exc.details["field"] = "work_item_id"  # name the field the client sent
        raise
    _status(response, result.created)
    return Envelope(data=DeploymentOut.of(result))
