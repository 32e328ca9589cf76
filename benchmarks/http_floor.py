"""The HTTP floor: the same requests answered by a bare Starlette + asyncpg app.

``benchmarks.floor`` measures PostgreSQL alone (no HTTP, no JSON). This is the floor a Python
HTTP service could reach: uvicorn (one process, the same server iMi runs on), Starlette routes
at iMi's paths, asyncpg with its statement cache, the statements iMi sends, rows shaped into
the same JSON keys and encoded with orjson. No authentication, no limits, no validation, no
error handling. ``iMi / HTTP floor`` is then what iMi's own layers cost.

Run: ``python -m benchmarks.http_floor --dsn postgresql://... --port 8099``.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from benchmarks.floor import (
    DASH_DEPLOYS,
    DASH_PROJECTS,
    DASH_PRS,
    DASH_TICKETS,
    DASH_WORK,
    DEPLOY_ROOT,
    SEARCH,
    TICKET_ROOT,
    TRACE_DEPLOYS,
    TRACE_LINKS,
    TRACE_PRS,
    TRACE_WORK,
)
from imi.projects.origin import normalize_remote_origin

# iMi's statements for these reads (imi.projects.queries, imi.work.queries).
PROJECT_WITH_COUNTS = """
SELECT p.id, p.name, p.remote_origin, p.default_branch, p.trunk_path, p.description,
       p.metadata, p.active, p.created_at, p.updated_at,
       c.active AS n_active, c.uncommitted AS n_uncommitted, c.unmerged AS n_unmerged
FROM projects p
CROSS JOIN LATERAL (
    SELECT count(*) AS active,
           count(*) FILTER (WHERE w.has_uncommitted_changes) AS uncommitted,
           count(*) FILTER (WHERE w.ahead_of_trunk > 0) AS unmerged
    FROM work_items w WHERE w.project_id = p.id AND w.active
) c
"""
BY_ID = PROJECT_WITH_COUNTS + "WHERE p.id = $1::uuid"
BY_ORIGIN = PROJECT_WITH_COUNTS + "WHERE p.remote_origin_normalized = $1"
IN_FLIGHT = """
SELECT w.id, w.name, w.project_id, p.name AS project_name, w.branch_name, w.status,
       w.uncommitted_files_count, w.ahead_of_trunk, w.behind_trunk, w.owner_id,
       w.last_activity_at,
       (SELECT count(*) FROM work_items c WHERE c.project_id = $1::uuid AND c.active) AS total
FROM work_items w JOIN projects p ON p.id = w.project_id
WHERE w.project_id = $1::uuid AND w.active
ORDER BY w.last_activity_at DESC, w.id
LIMIT 100 OFFSET 0
"""

POOL_SIZE = 30  # as many connections as iMi's pool may open


def _json(body: Any) -> Response:
    # asyncpg's own UUID type is not a uuid.UUID: orjson hands it to str().
    content = orjson.dumps(body, default=str, option=orjson.OPT_UTC_Z)
    return Response(content, media_type="application/json")


async def _init(conn: asyncpg.Connection) -> None:
    """JSON columns decoded, as iMi's driver setup decodes them."""
    for name in ("json", "jsonb"):
        await conn.set_type_codec(
            name, encoder=lambda v: orjson.dumps(v).decode(), decoder=orjson.loads,
            schema="pg_catalog",
        )  # fmt: skip


def _ok(data: Any) -> Response:
    return _json({"success": True, "data": data})


def _rows(records: list[asyncpg.Record]) -> list[dict[str, Any]]:
    return [dict(record) for record in records]


def _pool(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.pool
    return pool


async def project_by_id(request: Request) -> Response:
    async with _pool(request).acquire() as conn:
        row = await conn.fetchrow(BY_ID, request.path_params["project_id"])
    return _ok(dict(row) if row else None)


async def projects(request: Request) -> Response:
    origin = normalize_remote_origin(request.query_params["remote_origin"])
    async with _pool(request).acquire() as conn:
        row = await conn.fetchrow(BY_ORIGIN, origin)
    return _ok(dict(row) if row else None)


async def search(request: Request) -> Response:
    q = request.query_params["q"].strip().lower()
    limit = int(request.query_params.get("limit", "20"))
    async with _pool(request).acquire() as conn:
        rows = await conn.fetch(SEARCH, q, f"%{q}%", limit)
    return _ok(_rows(rows))


async def in_flight(request: Request) -> Response:
    async with _pool(request).acquire() as conn:
        rows = await conn.fetch(IN_FLIGHT, request.query_params["project_id"])
    total = rows[0]["total"] if rows else 0
    return _json(
        {
            "success": True,
            "data": _rows(rows),
            "pagination": {"total": total, "limit": 100, "offset": 0},
        }
    )


async def _trace(conn: Any, root_sql: str, key: str, *, links: bool, deploys: bool) -> Any:
    root = await conn.fetch(root_sql, key)
    ids = list(dict.fromkeys(r["work_item_id"] for r in root if r["work_item_id"]))
    result: dict[str, Any] = {"root": _rows(root[:1]), "work_items": [], "links": []}
    if ids:
        result["work_items"] = _rows(await conn.fetch(TRACE_WORK, ids))
        if links:
            result["links"] = _rows(await conn.fetch(TRACE_LINKS, ids))
        result["pull_requests"] = _rows(await conn.fetch(TRACE_PRS, ids))
        if deploys:
            result["deployments"] = _rows(await conn.fetch(TRACE_DEPLOYS, ids))
    return result


async def trace(request: Request) -> Response:
    kind, key = request.path_params["kind"], request.path_params["key"]
    async with _pool(request).acquire() as conn:
        if kind == "ticket":
            data = await _trace(conn, TICKET_ROOT, key, links=False, deploys=True)
        else:
            data = await _trace(conn, DEPLOY_ROOT, key, links=True, deploys=False)
    return _ok(data)


async def _dashboard(conn: Any) -> dict[str, Any]:
    """The dashboard's rows nested as the GraphQL answer nests them."""
    projects = await conn.fetch(DASH_PROJECTS)
    page = projects[:50]
    ids = [r["id"] for r in page]
    counts = {r["project_id"]: r for r in await conn.fetch(_COUNTS, ids)}
    work = await conn.fetch(DASH_WORK, ids)
    work_ids = [r["id"] for r in work]
    by_work: dict[Any, dict[str, list[Any]]] = {
        w: {"tickets": [], "pullRequests": [], "deployments": []} for w in work_ids
    }
    for r in await conn.fetch(DASH_TICKETS, work_ids):
        ticket = {"planeTicketId": r["plane_ticket_id"], "title": r["title"]}
        by_work[r["work_item_id"]]["tickets"].append({"kind": r["kind"], "ticket": ticket})
    for r in await conn.fetch(DASH_PRS, work_ids):
        pr = {"number": r["number"], "state": r["state"], "url": r["url"]}
        by_work[r["work_item_id"]]["pullRequests"].append(pr)
    for r in await conn.fetch(DASH_DEPLOYS, work_ids):
        deploy = {"deployId": r["deploy_id"], "environment": r["environment"]}
        by_work[r["work_item_id"]]["deployments"].append({**deploy, "deployedAt": r["deployed_at"]})
    work_by_project: dict[Any, list[Any]] = {p: [] for p in ids}
    totals: dict[Any, int] = {}
    for w in work:
        totals[w["project_id"]] = w["total"]
        work_by_project[w["project_id"]].append(
            {
                "branchName": w["branch_name"],
                "status": w["status"].upper() if w["status"] else None,
                "ownerId": w["owner_id"],
                "aheadOfTrunk": w["ahead_of_trunk"],
                **by_work[w["id"]],
            }
        )
    nodes = []
    for p in page:
        c = counts.get(p["id"])
        nodes.append(
            {
                "name": p["name"],
                "counts": {
                    "active": c[1] if c else 0,
                    "uncommitted": c[2] if c else 0,
                    "unmerged": c[3] if c else 0,
                },
                "workItems": {
                    "totalCount": totals.get(p["id"], 0),
                    "nodes": work_by_project[p["id"]],
                },
            }
        )
    total = projects[0]["count"] if projects else 0
    return {"data": {"projects": {"totalCount": total, "nodes": nodes}}}


_COUNTS = """
SELECT project_id,
       count(*) FILTER (WHERE active),
       count(*) FILTER (WHERE active AND has_uncommitted_changes),
       count(*) FILTER (WHERE active AND ahead_of_trunk > 0)
FROM work_items WHERE project_id = ANY($1::uuid[]) GROUP BY project_id
"""


async def graphql(request: Request) -> Response:
    body = orjson.loads(await request.body())
    async with _pool(request).acquire() as conn:
        if "Dashboard" in body["query"]:
            return _json(await _dashboard(conn))
        key = body["variables"]["id"]
        data = await _trace(conn, TICKET_ROOT, key, links=False, deploys=True)
    return _json({"data": {"trace": data}})


def create_app(dsn: str) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.pool = await asyncpg.create_pool(dsn, min_size=10, max_size=POOL_SIZE, init=_init)
        try:
            yield
        finally:
            await app.state.pool.close()

    routes = [
        Route("/health", lambda request: _json({"status": "ok"})),
        Route("/api/v1/projects/search", search),
        Route("/api/v1/projects/{project_id}", project_by_id),
        Route("/api/v1/projects", projects),
        Route("/api/v1/inflight-work", in_flight),
        Route("/api/v1/trace/{kind}/{key:path}", trace),
        Route("/graphql", graphql, methods=["POST"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m benchmarks.http_floor")
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        create_app(args.dsn), host="127.0.0.1", port=args.port, log_level="warning",
        access_log=False,
    )  # fmt: skip


if __name__ == "__main__":
    main()
