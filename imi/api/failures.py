"""The last word on a request that raised: an envelope, never a bare 500 or a reset connection.

Pure ASGI, inside Starlette's ServerErrorMiddleware: an exception answered here is not raised
further, so uvicorn keeps the keep-alive connection (it closes it when an exception escapes
the app even after a 500 was sent). What it answers:

- the database unreachable or its connection lost: ``503 SERVICE_UNAVAILABLE`` with
  ``Retry-After`` (the breaker's remaining cool-down when it is open); a read (GET/HEAD) is
  retried once first, on a fresh connection (the pool discards a broken one), unless the
  circuit breaker is open (``imi.resilience``: then it fails at once). A write is never
  retried here: a lost connection may have carried its statement; a connect that failed
  before anything was sent is already retried, with back-off, in ``imi.db``;
- a database refusal the services did not anticipate: the one translation every adapter
  applies (``db.domain_error_from_database``: 409 / 400 / 403);
- anything else: ``500 INTERNAL_ERROR``, logged with its traceback, nothing of it in the body.
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from imi.api.errors import STATUS_BY_CODE, error_response
from imi.db import database_unavailable, domain_error_from_database, sqlstate
from imi.logging import get_logger
from imi.resilience import CircuitOpen, retry_after_seconds

log = get_logger(__name__)

QUERY_CANCELED = "57014"  # SQLSTATE of a statement stopped by statement_timeout
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class FailureMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        attempts = 2 if scope["method"] in SAFE_METHODS else 1
        for attempt in range(1, attempts + 1):
            try:
                await self.app(scope, receive, tracking_send)
                return
            except Exception as exc:
                if started:  # too late for an answer of ours
                    raise
                retry = database_unavailable(exc) and not isinstance(exc, CircuitOpen)
                if retry and attempt < attempts:
                    log.warning("database unavailable; retrying the read once", error=repr(exc))
                    continue
                await _answer(scope, exc)(scope, receive, send)
                return


def _answer(scope: Scope, exc: Exception) -> Response:
    path = scope["path"]
    if sqlstate(exc) == QUERY_CANCELED:
        # The statement timeout (IMI_DB_STATEMENT_TIMEOUT_MS) stopped it: the server is busy or
        # the request asks too much; either way not a fault to retrace, and worth a retry later.
        log.warning("statement timed out", path=path)
        return _retry_later(
            "TIMEOUT", "The request took longer than the database statement timeout", exc
        )
    if database_unavailable(exc):
        if isinstance(exc, CircuitOpen):  # one line per refused request would flood the log
            log.info("database circuit open; request refused", path=path)
        else:
            log.error("database unavailable", path=path, error=repr(exc)[:500])
        return _retry_later(
            "SERVICE_UNAVAILABLE", "The database is unavailable; try again shortly", exc
        )
    translated = domain_error_from_database(exc)
    if translated is not None:
        log.info("database refused the request", path=path, error=str(exc)[:500])
        return error_response(
            STATUS_BY_CODE.get(translated.code, 400),
            translated.code,
            translated.message,
            translated.details,
        )
    log.error("unhandled error", path=path, exc_info=exc)
    return error_response(500, "INTERNAL_ERROR", "Internal server error")


def _retry_later(code: str, message: str, exc: BaseException) -> Response:
    """A 503 with ``Retry-After`` (header and ``details.retry_after``)."""
    seconds = retry_after_seconds(exc)
    response = error_response(503, code, message, {"retry_after": seconds})
    response.headers["Retry-After"] = str(seconds)
    return response
