"""Link mutations: linkTicket, linkPullRequest, linkDeployment."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.scalars import JSON

from imi.graphql.ids import parse_id
from imi.graphql.links import Deployment, PullRequest, Ticket
from imi.graphql.loaders.work import WorkItemById
from imi.graphql.mutations.errors import (
    ConflictError,
    Info,
    NotFoundError,
    ValidationError,
    json_object,
    run_in_transaction,
)
from imi.graphql.work import WorkItem
from imi.links import service
from imi.links.models import (
    DeploymentInput,
    LinkKind,
    PRState,
    PullRequestInput,
    TicketLinkInput,
)


async def work_items(info: Info, ids: list[UUID]) -> list[WorkItem]:
    """Work items by id through the request's loader (committed data, one statement)."""
    rows = await info.context.loaders.get(WorkItemById).load_many(ids)
    return [WorkItem.from_row(row) for row in rows if row is not None]


@strawberry.input(description="Link a Plane ticket to a work item; idempotent per pair.")
class LinkTicketInput:
    work_item_id: strawberry.ID = strawberry.field(description="Global id or UUID.")
    plane_ticket_id: str = strawberry.field(description="E.g. PROJ-123.")
    title: str | None = None
    url: str | None = None
    state: str | None = None
    kind: LinkKind = LinkKind.REFERENCES
    metadata: JSON | None = strawberry.field(
        default=None, description="Metadata of the link (a JSON object)."
    )


@strawberry.type
class LinkTicketPayload:
    ticket: Ticket
    kind: LinkKind
    created: bool = strawberry.field(description="A new link (not a repeat).")
    ticket_created: bool = strawberry.field(description="The ticket was new too.")
    changed: bool = strawberry.field(description="Created, or the link's kind/metadata moved.")
    work_item_id: strawberry.Private[UUID]

    @strawberry.field
    async def work_item(self, info: Info) -> WorkItem:
        return (await work_items(info, [self.work_item_id]))[0]


@strawberry.input(description="Record a pull request for a work item, or move it to `state`.")
class LinkPullRequestInput:
    work_item_id: strawberry.ID = strawberry.field(description="Global id or UUID.")
    number: int
    url: str
    state: PRState = PRState.OPEN
    title: str | None = None
    metadata: JSON | None = strawberry.field(default=None, description="A JSON object.")


@strawberry.type
class LinkPullRequestPayload:
    pull_request: PullRequest
    created: bool
    previous_state: PRState | None = strawberry.field(description="null when created.")
    changed: bool = strawberry.field(description="Any field changed (a transition, a title).")


@strawberry.input(description="Record a deployment shipping work items; idempotent on deployId.")
class LinkDeploymentInput:
    deploy_id: str
    environment: str
    work_item_ids: list[strawberry.ID] = strawberry.field(
        description="Global ids or UUIDs; at least one."
    )
    commit_hash: str | None = None
    status: str | None = strawberry.field(
        default=strawberry.UNSET, description="Defaults to succeeded when the deploy is new."
    )
    deployed_at: datetime | None = None
    metadata: JSON | None = strawberry.field(default=None, description="A JSON object.")


@strawberry.type
class LinkDeploymentPayload:
    deployment: Deployment
    created: bool
    changed: bool = strawberry.field(description="New, new work items, or changed fields.")
    work_item_ids: strawberry.Private[list[UUID]]
    added_work_item_ids: strawberry.Private[list[UUID]]

    @strawberry.field(description="Everything the deployment ships.")
    async def work_items(self, info: Info) -> list[WorkItem]:
        return await work_items(info, self.work_item_ids)

    @strawberry.field(description="Work items this call attached.")
    async def added_work_items(self, info: Info) -> list[WorkItem]:
        return await work_items(info, self.added_work_item_ids)


LinkTicketResult = Annotated[
    LinkTicketPayload | ValidationError | NotFoundError | ConflictError,
    strawberry.union("LinkTicketResult"),
]
LinkPullRequestResult = Annotated[
    LinkPullRequestPayload | ValidationError | NotFoundError | ConflictError,
    strawberry.union("LinkPullRequestResult"),
]
LinkDeploymentResult = Annotated[
    LinkDeploymentPayload | ValidationError | NotFoundError | ConflictError,
    strawberry.union("LinkDeploymentResult"),
]

PR_FIELDS = {"pr_url": "url", "pr_number": "number", "pr_state": "state"}


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Link a ticket to a work item (creating the ticket).")
    async def link_ticket(self, info: Info, input: LinkTicketInput) -> LinkTicketResult:
        async def call(session: AsyncSession) -> LinkTicketPayload:
            data = TicketLinkInput(
                work_item_id=parse_id(input.work_item_id, "WorkItem", "workItemId"),
                plane_ticket_id=input.plane_ticket_id,
                title=input.title,
                url=input.url,
                state=input.state,
                kind=input.kind,
                metadata=json_object(input.metadata),
            )
            result = await service.link_ticket(session, data)
            return LinkTicketPayload(
                ticket=Ticket.from_row(result.ticket),
                kind=LinkKind(result.link.kind),
                created=result.created,
                ticket_created=result.ticket_created,
                changed=result.changed,
                work_item_id=result.link.work_item_id,
            )

        return await run_in_transaction(info, call)

    @strawberry.mutation(description="Record a pull request or move its state.")
    async def link_pull_request(
        self, info: Info, input: LinkPullRequestInput
    ) -> LinkPullRequestResult:
        async def call(session: AsyncSession) -> LinkPullRequestPayload:
            data = PullRequestInput(
                work_item_id=parse_id(input.work_item_id, "WorkItem", "workItemId"),
                pr_number=input.number,
                pr_url=input.url,
                pr_state=input.state,
                title=input.title,
                metadata=json_object(input.metadata),
            )
            result = await service.link_pull_request(session, data)
            return LinkPullRequestPayload(
                pull_request=PullRequest.from_row(result.pull_request),
                created=result.created,
                previous_state=result.previous_state,
                changed=result.changed,
            )

        return await run_in_transaction(info, call, renames=PR_FIELDS)

    @strawberry.mutation(description="Record a deployment of one or many work items.")
    async def link_deployment(self, info: Info, input: LinkDeploymentInput) -> LinkDeploymentResult:
        async def call(session: AsyncSession) -> LinkDeploymentPayload:
            ids = [parse_id(i, "WorkItem", "workItemIds") for i in input.work_item_ids]
            given = input.status is not strawberry.UNSET and input.status is not None
            optional = {"status": input.status} if given else {}
            data = DeploymentInput(
                deploy_id=input.deploy_id,
                environment=input.environment,
                work_item_ids=ids,
                commit_hash=input.commit_hash,
                deployed_at=input.deployed_at,
                metadata=json_object(input.metadata),
                **optional,
            )
            result = await service.link_deployment(session, data)
            return LinkDeploymentPayload(
                deployment=Deployment.from_row(result.deployment),
                created=result.created,
                changed=result.changed,
                work_item_ids=result.work_item_ids,
                added_work_item_ids=result.added_work_item_ids,
            )

        return await run_in_transaction(info, call)
