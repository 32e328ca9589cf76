"""intermute's push: ``GET /ws/agents/{agent_id}`` (optional ``project`` query).

Each socket subscribes to the process's :class:`~imi.outbox.notify.EventHub` (LISTEN/NOTIFY on
committed outbox rows), so a message committed by *any* replica reaches every socket of its
recipients within milliseconds of the commit. Frames are notifications, not messages:

* ``{"type": "message.created", "project", "message_id", "cursor", "agent"}`` to each socket of
  an agent the send delivered to (to, cc and bcc);
* ``{"type": "message.ack" | "message.read", "project", "message_id"}`` to the sockets of the
  message's sender and recipients.

With ``project`` the socket hears that project only; without it (unrestricted callers) every
project. The client then reads ``GET /api/inbox/{agent}?since_cursor=<last cursor>``; after a
reconnect that same read returns exactly what it missed, in order, nothing twice (cursors of a
project commit in order). A socket whose queue overflows is closed with 1013 (try again):
reconnect and read the inbox since the last cursor.

Authentication as for HTTP (``Authorization: Bearer``; loopback without a key in local-open
mode), with the read scope; a project-restricted key listens to its project only, and not to a
registered agent of another project (403 at the handshake).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from typing import Any

from fastapi import APIRouter, WebSocket
from fastapi.responses import JSONResponse
from starlette.websockets import WebSocketDisconnect, WebSocketState

from imi.auth.policy import (
    Action,
    authenticate,
    bearer_token,
    coordination_project,
    credentials_live,
    require,
)
from imi.auth.principal import Principal
from imi.coordination.agents import get_agent
from imi.coordination.messages_push import EVENT_TYPES, frames_for
from imi.db import database_unavailable
from imi.errors import DomainError, Forbidden, Unauthenticated, ValidationFailed
from imi.logging import get_logger
from imi.observability.metrics import WEBSOCKETS
from imi.outbox.models import Event
from imi.outbox.notify import StreamClosed, SubscriberLagged

log = get_logger(__name__)
router = APIRouter()

MAX_SOCKETS = 2000  # per process; beyond, the handshake is closed with 1013 (try again)
MAX_AGENT_ID = 200
CHECK_CREDENTIALS_EVERY = 30.0  # seconds: a revoked key's sockets close within this
TRY_AGAIN = 1013


def _frames(event: Event, agent: str, project: str | None) -> list[dict[str, Any]]:
    payload: dict[str, Any] = (event.envelope or {}).get("payload") or {}
    return frames_for(event.event_type, payload, agent, project)


async def _admit(websocket: WebSocket, agent_id: str) -> tuple[Principal, str | None]:
    state = websocket.app.state
    client = websocket.client
    principal = await authenticate(
        state.sessions,
        state.settings,
        token=bearer_token(websocket.headers.get("authorization")),
        client_host=client.host if client else None,
    )
    require(principal, Action.READ)
    requested = websocket.query_params.get("project")
    if requested is None and not principal.restricted:
        return principal, None
    project = coordination_project(principal, requested)
    if principal.restricted:
        async with state.sessions() as session:
            agent = await get_agent(session, agent_id)
        if agent is not None and agent.project != project:
            raise Forbidden(f"agent {agent_id} belongs to another project")
    return principal, project


async def _refuse(websocket: WebSocket, exc: DomainError) -> None:
    status = {"UNAUTHORIZED": 401, "VALIDATION_ERROR": 400}.get(exc.code, 403)
    log.info("agent socket refused", path=websocket.url.path, code=exc.code, reason=exc.message)
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        body = {
            "success": False,
            "error": {"code": exc.code, "message": exc.message, "details": exc.details},
        }
        await websocket.send_denial_response(JSONResponse(body, status_code=status))
    else:
        await websocket.close(code=1008, reason=exc.message[:120])


@router.websocket("/ws/agents/{agent_id}")
async def agent_socket(websocket: WebSocket, agent_id: str) -> None:
    try:
        if len(agent_id) > MAX_AGENT_ID:
            raise ValidationFailed(f"agent ids are at most {MAX_AGENT_ID} characters")
        principal, project = await _admit(websocket, agent_id)
    except (Unauthenticated, Forbidden, ValidationFailed) as exc:
        await _refuse(websocket, exc)
        return
    except Exception as exc:  # never a traceback to the client: an outage is "try again"
        await _failed(websocket, exc)
        return
    state = websocket.app.state
    by_client: Counter[str] = getattr(state, "agent_sockets_by_client", None) or Counter()
    state.agent_sockets_by_client = by_client
    open_sockets: int = getattr(state, "agent_sockets", 0)
    per_client = state.settings.ws_max_connections_per_client
    if open_sockets >= MAX_SOCKETS:
        await websocket.close(code=TRY_AGAIN, reason="too many agent sockets on this server")
        return
    # One key (or one keyless address) cannot take every socket of the process.
    client = principal.rate_key
    if per_client and by_client[client] >= per_client:
        await websocket.close(code=TRY_AGAIN, reason="too many agent sockets for this client")
        return
    state.agent_sockets = open_sockets + 1
    by_client[client] += 1
    WEBSOCKETS.labels("agents").inc()
    try:
        await _serve(websocket, agent_id, project, principal)
    except Exception as exc:
        await _failed(websocket, exc)
    finally:
        state.agent_sockets -= 1
        by_client[client] -= 1
        if by_client[client] <= 0:
            del by_client[client]
        WEBSOCKETS.labels("agents").dec()


async def _failed(websocket: WebSocket, exc: Exception) -> None:
    """An unexpected failure, never a traceback to the client: a database outage is "try
    again" (503 at the handshake, 1013 once open), anything else a logged 500 / 1011."""
    unavailable = database_unavailable(exc)
    if unavailable:
        log.warning("agent socket: database unavailable", error=repr(exc)[:300])
    else:
        log.error("agent socket failed", exc_info=exc)
    with contextlib.suppress(Exception):
        handshake = websocket.application_state is WebSocketState.CONNECTING
        if handshake and "websocket.http.response" in websocket.scope.get("extensions", {}):
            status, code, message = (
                (503, "SERVICE_UNAVAILABLE", "The database is unavailable; try again shortly")
                if unavailable
                else (500, "INTERNAL_ERROR", "Internal server error")
            )
            body = {"success": False, "error": {"code": code, "message": message, "details": {}}}
            await websocket.send_denial_response(JSONResponse(body, status_code=status))
        else:
            reason = "the database is unavailable; reconnect shortly"
            await websocket.close(
                code=TRY_AGAIN if unavailable else 1011,
                reason=reason if unavailable else "internal error",
            )


async def _serve(
    websocket: WebSocket, agent_id: str, project: str | None, principal: Principal
) -> None:
    hub = websocket.app.state.event_hub
    try:
        # Subscribed before the handshake completes: nothing committed after it is missed.
        subscription = await hub.subscribe(
            lambda event: (
                event.event_type in EVENT_TYPES and bool(_frames(event, agent_id, project))
            )
        )
    except StreamClosed as exc:
        await websocket.close(code=TRY_AGAIN, reason=str(exc)[:120])
        return
    async with subscription:
        await websocket.accept()
        reader = asyncio.create_task(_drain_client(websocket))
        try:
            await _forward(websocket, subscription, agent_id, project, principal, reader)
        except SubscriberLagged as exc:
            with contextlib.suppress(Exception):
                await websocket.close(code=TRY_AGAIN, reason=str(exc)[:120])
        except StreamClosed as exc:
            with contextlib.suppress(Exception):
                await websocket.close(code=1001, reason=str(exc)[:120])
        except (WebSocketDisconnect, RuntimeError):
            pass  # the client went away mid-send
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader


async def _drain_client(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends, until it disconnects (intermute does too)."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            await websocket.receive_text()


async def _forward(
    websocket: WebSocket,
    subscription: Any,
    agent: str,
    project: str | None,
    principal: Principal,
    reader: asyncio.Task[None],
) -> None:
    sessions = websocket.app.state.sessions
    # The pending read is never cancelled while the socket lives: a cancelled queue read can
    # lose the event it was completing. Only the credential check runs between waits.
    next_event: asyncio.Future[Event] = asyncio.ensure_future(subscription.next())
    try:
        while not reader.done():
            waiting: set[asyncio.Future[Any]] = {next_event, reader}
            done, _ = await asyncio.wait(
                waiting,
                timeout=CHECK_CREDENTIALS_EVERY,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if next_event not in done:
                if not reader.done() and not await credentials_live(sessions, principal):
                    await websocket.close(code=1008, reason="credentials revoked or expired")
                    return
                continue
            batch = [next_event.result(), *subscription.drain()]
            next_event = asyncio.ensure_future(subscription.next())
            for event in batch:
                for frame in _frames(event, agent, project):
                    await websocket.send_json(frame)
    finally:
        next_event.cancel()
        with contextlib.suppress(asyncio.CancelledError, StreamClosed):
            await next_event
