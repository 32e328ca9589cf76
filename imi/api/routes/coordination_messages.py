"""intermute messages: ``POST /api/messages``, ``GET /api/inbox/{agent}`` (+ ``/counts``),
``POST /api/messages/{id}/ack|read``, ``GET /api/threads``, ``GET /api/threads/{thread_id}``.

Wire shapes are intermute's (``omitempty`` fields left out when empty); errors keep iMi's
envelope with intermute's status codes (400 malformed or missing field, 403 other project,
404 unknown message or thread).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from imi.api.deps import Session
from imi.api.envelope import error_responses
from imi.api.routes.coordination_agents import int_param, json_body, project_filter, project_of
from imi.api.routes.coordination_agents import rfc3339 as _time
from imi.coordination import messages, messages_queries, messages_threads
from imi.coordination.messages_queries import StoredMessage
from imi.errors import NotFound, ValidationFailed

router = APIRouter(tags=["coordination"])


class SendMessageIn(BaseModel):
    id: str = ""
    thread_id: str = ""
    project: str = ""
    sender: str = Field("", alias="from")
    to: list[str] | None = None
    cc: list[str] | None = None
    bcc: list[str] | None = None
    subject: str = ""
    body: str = ""
    importance: str = ""
    ack_required: bool = False


class SendMessageOut(BaseModel):
    message_id: str
    cursor: int


class MessageOut(BaseModel):
    id: str
    thread_id: str
    project: str
    from_: str = Field(alias="from")
    to: list[str]
    cc: list[str] | None = Field(None, description="Omitted when empty")
    bcc: list[str] | None = Field(None, description="Only the reader itself, when bcc'd")
    subject: str | None = None
    body: str
    importance: str | None = None
    ack_required: bool | None = None
    created_at: str = Field(examples=["2026-11-27T13:00:00.123456Z"])
    cursor: int


class InboxOut(BaseModel):
    messages: list[MessageOut]
    cursor: int = Field(description="The last message's cursor, or since_cursor when none")


class CountsOut(BaseModel):
    project: str
    total: int
    unread: int
    unacked: int
    last_cursor: int


class InboxCountsOut(BaseModel):
    agent: str
    counts: list[CountsOut]


class ThreadOut(BaseModel):
    thread_id: str
    last_cursor: int
    message_count: int
    last_from: str
    last_body: str
    last_at: str


class ThreadsOut(BaseModel):
    threads: list[ThreadOut]
    cursor: int = Field(description="Pass as `cursor` for the next (older) page")


class ThreadMessagesOut(BaseModel):
    thread_id: str
    messages: list[MessageOut]
    cursor: int


def bounded(value: str, field: str) -> None:
    """Path and query names are bounded like the ones a message carries."""
    if len(value) > messages.MAX_ID:
        raise ValidationFailed(f"{field} is longer than {messages.MAX_ID} characters", field=field)


def message_json(m: StoredMessage) -> dict[str, Any]:
    """intermute's apiMessage: cc, bcc, subject, importance, ack_required only when set."""
    out: dict[str, Any] = {
        "id": m.message_id,
        "thread_id": m.thread_id,
        "project": m.project,
        "from": m.from_agent,
        "to": m.to_agents,
    }
    optional = {
        "cc": m.cc_agents,
        "bcc": m.bcc_agents,
        "subject": m.subject,
        "body": m.body,
        "importance": m.importance,
        "ack_required": m.ack_required,
    }
    out.update({k: v for k, v in optional.items() if v or k == "body"})
    return {**out, "created_at": _time(m.created_at, nano=True), "cursor": m.cursor}


SEND_EXAMPLE = {
    "id": "msg-42",
    "thread_id": "review-7",
    "project": "autarch",
    "from": "planner",
    "to": ["reviewer"],
    "cc": ["lead"],
    "subject": "PR ready",
    "body": "Please review #42",
    "importance": "high",
    "ack_required": True,
}


@router.post(
    "/api/messages",
    response_model=SendMessageOut,
    responses=error_responses(400, 403),
    summary="Send a message (intermute)",
    description="`from` and a non-empty `to` are required. `id` (generated when empty) with "
    "`project` is the de-duplication key: sending the same id again overwrites thread, "
    "subject, body and flags, delivers only to recipients not reached yet, and answers the "
    f"first send's cursor. Bounds: ids and names {messages.MAX_ID} characters, "
    f"{messages.MAX_RECIPIENTS} recipients, subject {messages.MAX_SUBJECT}, body "
    f"{messages.MAX_BODY}.",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": SendMessageIn.model_json_schema(by_alias=True),
                    "example": SEND_EXAMPLE,
                }
            },
        }
    },
)
async def send_message(session: Session, request: Request) -> JSONResponse:
    body: SendMessageIn = await json_body(request, SendMessageIn)
    if not body.sender.strip():
        raise ValidationFailed("from is required", field="from")
    if not body.to:
        raise ValidationFailed("to needs at least one recipient", field="to")
    sent = await messages.send_message(
        session,
        messages.MessageIn(
            sender=body.sender,
            to=body.to,
            project=project_of(body.project),
            id=body.id.strip(),
            thread_id=body.thread_id,
            cc=body.cc or [],
            bcc=body.bcc or [],
            subject=body.subject,
            body=body.body,
            importance=body.importance,
            ack_required=body.ack_required,
        ),
    )
    return JSONResponse({"message_id": sent.message_id, "cursor": sent.cursor})


@router.get(
    "/api/inbox/{agent}",
    response_model=InboxOut,
    responses=error_responses(400, 403),
    summary="An agent's inbox since a cursor (intermute)",
    description="Messages delivered to `agent` in `project` after `since_cursor`, oldest "
    f"first, at most `limit` (default {messages_queries.DEFAULT_INBOX}, maximum "
    f"{messages_queries.MAX_INBOX}). A reconnecting agent passes its last cursor and gets "
    "exactly what it missed.",
)
async def inbox(
    session: Session, request: Request, agent: str, project: str | None = None
) -> JSONResponse:
    bounded(agent, "agent")
    since = int_param(request, "since_cursor", 0)
    limit = int_param(
        request, "limit", messages_queries.DEFAULT_INBOX, low=1, high=messages_queries.MAX_INBOX
    )
    found = await messages_queries.inbox_since(
        session, project_of(project), agent, since=since, limit=limit
    )
    cursor = found[-1].cursor if found else since
    return JSONResponse({"messages": [message_json(m) for m in found], "cursor": cursor})


@router.get(
    "/api/inbox/{agent}/counts",
    response_model=InboxCountsOut,
    responses=error_responses(400, 403),
    summary="An agent's inbox counts per project (operators)",
    description="total, unread, unacked (ack required, not acked) and the last cursor, per "
    "project; every project the caller may see when `project` is omitted.",
)
async def inbox_counts(session: Session, agent: str, project: str | None = None) -> JSONResponse:
    bounded(agent, "agent")
    wanted = project_filter(project)
    found = await messages_queries.inbox_counts(
        session, agent, None if wanted is None else [wanted]
    )
    counts = [
        {
            "project": c.project,
            "total": c.total,
            "unread": c.unread,
            "unacked": c.unacked,
            "last_cursor": c.last_cursor,
        }
        for c in found
    ]
    return JSONResponse({"agent": agent, "counts": counts})


async def _mark(session: Session, request: Request, action: str, message_id: str) -> Response:
    body = await request.body()
    agent = request.query_params.get("agent", "")
    if body.strip():
        data: Any = await json_body(request, _ActionIn)
        agent = data.agent or agent
    await messages.mark(
        session, action, project_of(request.query_params.get("project")), message_id, agent
    )
    return Response(status_code=200)


class _ActionIn(BaseModel):
    agent: str = ""


ACTION_DOC = (
    "Appends to the event sequence (once per message and agent: a repeat is a no-op) and, "
    "when `agent` (body or query) names a recipient, sets its read/ack time. 200 with an "
    "empty body; 404 for an unknown message or an agent that is not a recipient."
)


@router.post(
    "/api/messages/{message_id}/ack",
    responses=error_responses(400, 403, 404),
    summary="Acknowledge a message (intermute)",
    description=ACTION_DOC,
)
async def ack_message(session: Session, request: Request, message_id: str) -> Response:
    return await _mark(session, request, "ack", message_id)


@router.post(
    "/api/messages/{message_id}/read",
    responses=error_responses(400, 403, 404),
    summary="Mark a message read (intermute)",
    description=ACTION_DOC,
)
async def read_message(session: Session, request: Request, message_id: str) -> Response:
    return await _mark(session, request, "read", message_id)


@router.get(
    "/api/threads",
    response_model=ThreadsOut,
    responses=error_responses(400, 403),
    summary="An agent's threads, most recent first (intermute)",
    description="`agent` is required. `cursor` > 0 pages to older threads (those whose last "
    f"cursor is below it); `limit` default 50, maximum {messages_threads.MAX_THREADS}.",
)
async def list_threads(
    session: Session, request: Request, agent: str = "", project: str | None = None
) -> JSONResponse:
    if not agent.strip():
        raise ValidationFailed("agent is required", field="agent")
    bounded(agent, "agent")
    before = int_param(request, "cursor", 0)
    limit = int_param(request, "limit", 50, low=1, high=messages_threads.MAX_THREADS)
    found = await messages_threads.list_threads(
        session, project_of(project), agent.strip(), before=before, limit=limit
    )
    threads = [
        {
            "thread_id": t.thread_id,
            "last_cursor": t.last_cursor,
            "message_count": t.message_count,
            "last_from": t.last_from,
            "last_body": t.last_body,
            "last_at": _time(t.last_at),
        }
        for t in found
    ]
    cursor = found[-1].last_cursor if found else before
    return JSONResponse({"threads": threads, "cursor": cursor})


@router.get(
    "/api/threads/{thread_id}",
    response_model=ThreadMessagesOut,
    responses=error_responses(400, 403, 404),
    summary="A thread's messages in order (intermute)",
    description="Messages after `cursor`, in the order they were sent, at most `limit` "
    f"(default and maximum {messages_threads.MAX_THREAD_MESSAGES}); bcc lists are not shown. "
    "404 when the project has no such thread.",
)
async def thread_messages(
    session: Session, request: Request, thread_id: str, project: str | None = None
) -> JSONResponse:
    bounded(thread_id, "thread_id")
    after = int_param(request, "cursor", 0)
    limit = int_param(
        request,
        "limit",
        messages_threads.MAX_THREAD_MESSAGES,
        low=1,
        high=messages_threads.MAX_THREAD_MESSAGES,
    )
    scope = project_of(project)
    if not await messages_threads.thread_exists(session, scope, thread_id):
        raise NotFound("thread", thread_id)
    found = await messages_threads.thread_messages(
        session, scope, thread_id, after=after, limit=limit
    )
    shown = [{k: v for k, v in message_json(m).items() if k != "bcc"} for m in found]
    cursor = found[-1].cursor if found else after
    return JSONResponse({"thread_id": thread_id, "messages": shown, "cursor": cursor})
