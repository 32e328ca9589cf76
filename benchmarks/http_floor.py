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
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from benchmarks.floor import (
    BY_ORIGIN,
    COUNTS,
    DASH_DEPLOYS,
    DASH_PROJECTS,
    DASH_PRS,
    DASH_TICKETS,
    DASH_WORK,
    DEPLOY_ROOT,
    IN_FLIGHT,
    PROJECT,
    SEARCH,
    TICKET_ROOT,
    TRACE_DEPLOYS,
    TRACE_LINKS,
    TRACE_PRS,
    TRACE_WORK,
)
from benchmarks.server import free_port, tree_cpu_seconds
from imi.projects.origin import normalize_remote_origin

# The operations it answers (the reads; writes have no floor).
OPERATIONS = frozenset(
    {
        "rest.project_by_id",
        "rest.project_by_origin",
        "rest.search",
        "rest.inflight_big_project",
        "rest.trace_ticket",
        "rest.trace_deploy",
        "graphql.dashboard",
        "graphql.trace",
    }
)

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
        row = await conn.fetchrow(PROJECT, request.path_params["project_id"])
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
    counts = {r["project_id"]: r for r in await conn.fetch(COUNTS, ids)}
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


class HttpFloor:
    """This module's app served by uvicorn in a process of its own, on a free port."""

    def __init__(self, dsn: str, log_path: Path) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.command = [
            sys.executable, "-m", "benchmarks.http_floor", "--dsn", dsn, "--port", str(self.port),
        ]  # fmt: skip
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the HTTP floor exited early; see {self.log_path}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base_url}/health", timeout=2.0).status_code == 200:
                    return
            time.sleep(0.25)
        raise RuntimeError(f"the HTTP floor did not answer; see {self.log_path}")

    def cpu_seconds(self) -> float:
        return tree_cpu_seconds(self.process.pid) if self.process is not None else 0.0

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


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
