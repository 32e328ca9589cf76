"""intermute agents and messages in GraphQL: an Agent's registrations, liveness and inbox
counts (batched by loaders), the ``sendMessage`` mutation and the ``agentMessages``
subscription (the same notifications as ``/ws/agents/{agent}``).

An agent is the same identity as a work item's ``ownerId``: an owner id names the registrations
whose ``agentId`` (UUID text) or ``name`` equals it; its inbox is the one addressed to that
string (messages name their recipients the way the sender does).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Annotated

import strawberry
from graphql import GraphQLError
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.scalars import JSON

from imi.auth.policy import coordination_project
from imi.coordination import agents as agents_domain
from imi.coordination import messages as messages_domain
from imi.coordination.messages_push import EVENT_TYPES, frames_for
from imi.coordination.messages_queries import counts_for_agents
from imi.errors import Forbidden
from imi.graphql.context import Context
from imi.graphql.loaders import Loader
from imi.graphql.mutations.errors import ValidationError, run_in_transaction
from imi.graphql.subscriptions import _next_batch, _payload, _release, _subscribe

Info = strawberry.Info[Context, None]


@strawberry.type(description="One intermute registration of an agent (POST /api/agents).")
class AgentRegistration:
    agent_id: strawberry.ID
    session_id: str
    name: str
    project: str = strawberry.field(description="The intermute project (free text).")
    capabilities: list[str]
    metadata: JSON
    status: str
    created_at: datetime
    last_seen: datetime
    online: bool = strawberry.field(
        description=f"Heartbeat within the last {agents_domain.LIVENESS_SECONDS} seconds."
    )

    @classmethod
    def of(cls, agent: agents_domain.Agent) -> AgentRegistration:
        return cls(
            agent_id=strawberry.ID(str(agent.id)),
            session_id=agent.session_id,
            name=agent.name,
            project=agent.project,
            capabilities=agent.capabilities,
            metadata=agent.metadata,  # type: ignore[arg-type]  # a dict is a JSON value
            status=agent.status,
            created_at=agent.created_at,
            last_seen=agent.last_seen,
            online=agent.online,
        )


@strawberry.type(description="An agent's inbox over every project it may see.")
class InboxCounts:
    total: int
    unread: int
    unacked: int = strawberry.field(description="Ack required and not yet acknowledged.")


class RegistrationsByOwner(Loader[str, list[agents_domain.Agent]]):
    """The registrations an owner id names (by agent id or name), newest first."""

    async def load_batch(
        self, session: AsyncSession, keys: list[str]
    ) -> list[list[agents_domain.Agent]]:
        found = await agents_domain.agents_for_owners(session, keys)
        return [found[key] for key in keys]


class InboxCountsByAgent(Loader[str, tuple[int, int, int]]):
    async def load_batch(
        self, session: AsyncSession, keys: list[str]
    ) -> list[tuple[int, int, int]]:
        found = await counts_for_agents(session, keys)
        return [found[key] for key in keys]


async def registrations(info: Info, owner: str) -> list[AgentRegistration]:
    rows = await info.context.loaders.get(RegistrationsByOwner).one(owner)
    return [AgentRegistration.of(row) for row in rows]


async def inbox_counts(info: Info, owner: str) -> InboxCounts:
    total, unread, unacked = await info.context.loaders.get(InboxCountsByAgent).one(owner)
    return InboxCounts(total=total, unread=unread, unacked=unacked)


def _project(info: Info, requested: str | None) -> str | None:
    """The one policy's project; None = every project (unrestricted caller, none named)."""
    principal = info.context.principal
    if principal is None or (requested is None and not principal.restricted):
        return requested
    try:
        return coordination_project(principal, requested)
    except Forbidden as exc:
        raise GraphQLError(exc.message, extensions={"code": "FORBIDDEN"}) from None


@strawberry.input(description="A message between agents (intermute's POST /api/messages).")
class SendMessageInput:
    sender: str = strawberry.field(name="from")
    to: list[str]
    project: str | None = None
    id: str | None = strawberry.field(
        default=None, description="The de-duplication key with project; generated when empty."
    )
    thread_id: str | None = None
    cc: list[str] | None = None
    bcc: list[str] | None = None
    subject: str | None = None
    body: str | None = None
    importance: str | None = None
    ack_required: bool = False


@strawberry.type
class SendMessagePayload:
    message_id: str
    cursor: int = strawberry.field(description="The first send's position in the sequence.")
    created: bool = strawberry.field(description="False for a retry of a known id.")


SendMessageResult = Annotated[
    SendMessagePayload | ValidationError, strawberry.union("SendMessageResult")
]


@strawberry.type(description="A push notification: read the inbox since `cursor`.")
class AgentMessageEvent:
    type: str = strawberry.field(description="message.created, message.ack or message.read")
    project: str
    message_id: str
    cursor: int | None = strawberry.field(description="For message.created only.")
    agent: str | None = strawberry.field(description="For message.created only.")


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Send a message (de-duplicated by project and id: a retry overwrites it "
        "and delivers only to recipients not reached yet)."
    )
    async def send_message(self, info: Info, input: SendMessageInput) -> SendMessageResult:
        project = _project(info, input.project or "") or ""

        async def call(session: AsyncSession) -> SendMessagePayload:
            sent = await messages_domain.send_message(
                session,
                messages_domain.MessageIn(
                    sender=input.sender,
                    to=input.to,
                    project=project,
                    id=(input.id or "").strip(),
                    thread_id=input.thread_id or "",
                    cc=input.cc or [],
                    bcc=input.bcc or [],
                    subject=input.subject or "",
                    body=input.body or "",
                    importance=input.importance or "",
                    ack_required=input.ack_required,
                ),
            )
            return SendMessagePayload(
                message_id=sent.message_id, cursor=sent.cursor, created=sent.created
            )

        return await run_in_transaction(info, call, renames={"from": "from"})  # type: ignore[return-value]


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Notifications for an agent's inbox, as /ws/agents/{agent} sends them: "
        "new messages delivered to it, acks and reads of its messages."
    )
    async def agent_messages(
        self, info: Info, agent: str, project: str | None = None
    ) -> AsyncGenerator[AgentMessageEvent, None]:
        where = _project(info, project)
        subscription = await _subscribe(
            info,
            lambda row: (
                row.event_type in EVENT_TYPES
                and bool(frames_for(row.event_type, _payload(row), agent, where))
            ),
        )
        async with subscription:
            while True:
                for row in await _next_batch(info, subscription):
                    for frame in frames_for(row.event_type, _payload(row), agent, where):
                        yield AgentMessageEvent(
                            type=frame["type"],
                            project=frame["project"],
                            message_id=frame["message_id"],
                            cursor=frame.get("cursor"),
                            agent=frame.get("agent"),
                        )
                await _release(info.context)
