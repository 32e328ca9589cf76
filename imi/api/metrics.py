"""``GET /metrics``: Prometheus text format, for a scraper.

Authenticated like the API (a read key; ``imi.api.security``), or open to anyone who can reach
it with ``IMI_METRICS_PUBLIC=true``; not mounted at all with ``IMI_METRICS_ENABLED=false``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from imi.api.security import METRICS_PATH
from imi.observability.exposition import CONTENT_TYPE, Exposition

router = APIRouter()


@router.get(METRICS_PATH, include_in_schema=False)
async def metrics(request: Request) -> Response:
    state = request.app.state
    exposition: Exposition | None = getattr(state, "metrics_exposition", None)
    if exposition is None:  # one per app: it caches the outbox snapshot
        exposition = state.metrics_exposition = Exposition()
    body = await exposition.render(state.engine)
    return Response(body, media_type=CONTENT_TYPE)
