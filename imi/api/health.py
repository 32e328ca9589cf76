"""``GET /health``: is this replica able to serve? One cheap SELECT, no auth, at the root."""

from __future__ import annotations

import asyncio
from typing import Any, Literal, Protocol

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine

from imi.db import breaker_of
from imi.logging import get_logger


class BrokerProbe(Protocol):
    """What health needs of the messaging adapter's bus (``app.state.bus``)."""

    async def state(self) -> str: ...


log = get_logger(__name__)

router = APIRouter(tags=["operations"])

# A load balancer probing us must get an answer even when the database hangs (or the pool is
# exhausted), well before its own probe timeout.
DATABASE_TIMEOUT_SECONDS = 3.0


class BreakerHealth(BaseModel):
    """The database circuit breaker of this process (``imi.resilience``)."""

    state: Literal["closed", "open", "half_open"]
    consecutive_failures: int
    retry_after_seconds: float | None = None
    opened_total: int


class DatabaseHealth(BaseModel):
    status: Literal["up", "down"]
    revision: str | None = None
    head: str
    error: str | None = None


class BrokerHealth(BaseModel):
    status: Literal["disabled", "connected", "disconnected"]


class OutboxHealth(BaseModel):
    backlog: int | None = None
    oldest_age_seconds: float | None = None


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: DatabaseHealth
    broker: BrokerHealth
    outbox: OutboxHealth
    breaker: BreakerHealth | None = None


@router.get(
    "/health",
    response_model=Health,
    responses={503: {"model": Health, "description": "The database does not answer."}},
    summary="Liveness and readiness of this replica",
)
async def health(request: Request) -> JSONResponse:
    state = request.app.state
    database, outbox = await _database_health(state.engine, state.head_revision)
    broker = await _broker_health(getattr(state, "bus", None))
    healthy = database["status"] == "up" and broker["status"] != "disconnected"
    body = {
        "status": "ok" if healthy else "degraded",
        "database": database,
        "broker": broker,
        "outbox": outbox,
    }
    breaker = breaker_of(state.engine)
    if breaker is not None:  # the database circuit breaker of this process
        body["breaker"] = breaker.snapshot()
    # Built by hand: this endpoint is polled constantly and needs no validation pass.
    return JSONResponse(body, status_code=200 if database["status"] == "up" else 503)


# Unpublished events: how many, and how long the oldest has waited (uses the partial index).
_OUTBOX = text(
    "SELECT count(*), extract(epoch FROM now() - min(created_at)) "
    "FROM events WHERE published_at IS NULL"
)


async def _database_health(engine: AsyncEngine, head: str) -> tuple[dict[str, Any], dict[str, Any]]:
    outbox: dict[str, Any] = {"backlog": None, "oldest_age_seconds": None}
    try:
        async with asyncio.timeout(DATABASE_TIMEOUT_SECONDS), engine.connect() as conn:
            try:
                revision = await conn.scalar(text("SELECT version_num FROM alembic_version"))
                backlog, age = (await conn.execute(_OUTBOX)).one()
                outbox = {
                    "backlog": int(backlog),
                    "oldest_age_seconds": round(float(age), 3) if age is not None else None,
                }
            except ProgrammingError:  # not migrated yet: the database itself is up
                revision = None
    except Exception as exc:
        message = _describe(exc)
        log.warning("health check: database down", error=message)
        return {"status": "down", "revision": None, "head": head, "error": message}, outbox
    return {"status": "up", "revision": revision, "head": head}, outbox


async def _broker_health(bus: BrokerProbe | None) -> dict[str, Any]:
    # No broker configured: events wait in the outbox until one is.
    return {"status": "disabled" if bus is None else await bus.state()}


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {DATABASE_TIMEOUT_SECONDS:g}s"
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig  # the driver's message, without SQLAlchemy's boilerplate
    return str(exc) or type(exc).__name__
