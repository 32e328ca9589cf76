"""``GET /health``: is this replica able to serve? One cheap SELECT, no auth, at the root."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine

from imi.logging import get_logger
from imi.settings import Settings

log = get_logger(__name__)

router = APIRouter(tags=["operations"])

# A load balancer probing us must get an answer even when the database hangs (or the pool is
# exhausted), well before its own probe timeout.
DATABASE_TIMEOUT_SECONDS = 3.0


class DatabaseHealth(BaseModel):
    status: Literal["up", "down"]
    revision: str | None = None
    head: str
    error: str | None = None


class BrokerHealth(BaseModel):
    status: Literal["disabled", "not_connected", "up"]


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: DatabaseHealth
    broker: BrokerHealth


@router.get(
    "/health",
    response_model=Health,
    responses={503: {"model": Health, "description": "The database does not answer."}},
    summary="Liveness and readiness of this replica",
)
async def health(request: Request) -> JSONResponse:
    state = request.app.state
    database = await _database_health(state.engine, state.head_revision)
    body = {
        "status": "ok" if database["status"] == "up" else "degraded",
        "database": database,
        "broker": _broker_health(state.settings),
    }
    # Built by hand: this endpoint is polled constantly and needs no validation pass.
    return JSONResponse(body, status_code=200 if database["status"] == "up" else 503)


async def _database_health(engine: AsyncEngine, head: str) -> dict[str, Any]:
    try:
        async with asyncio.timeout(DATABASE_TIMEOUT_SECONDS), engine.connect() as conn:
            try:
                revision = await conn.scalar(text("SELECT version_num FROM alembic_version"))
            except ProgrammingError:  # not migrated yet: the database itself is up
                revision = None
    except Exception as exc:
        message = _describe(exc)
        log.warning("health check: database down", error=message)
        return {"status": "down", "revision": None, "head": head, "error": message}
    return {"status": "up", "revision": revision, "head": head}


def _broker_health(settings: Settings) -> dict[str, Any]:
    # Placeholder until the broker lands: events simply wait in the outbox meanwhile.
    return {"status": "disabled" if settings.rabbitmq_url is None else "not_connected"}


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {DATABASE_TIMEOUT_SECONDS:g}s"
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig  # the driver's message, without SQLAlchemy's boilerplate
    return str(exc) or type(exc).__name__
