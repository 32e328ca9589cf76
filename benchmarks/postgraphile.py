"""PostGraphile 4 as a peer: the tool a user would pick instead, on the same database, same run.

``npx postgraphile@4 -c <dsn> --schema public``, installed once with npm into a cache directory
outside the repository (``~/.cache/imi-bench/postgraphile``, or ``$IMI_BENCH_CACHE``) and started
from there (what ``npx`` would run, without resolving the package on every start). It connects as
the benchmark's admin role (the postgres superuser), which bypasses iMi's row-level security, so it
sees every row iMi sees.

Before it is measured, ``verify`` asks iMi and PostGraphile the same reads (the dashboard, and the
trace of a sample of tickets) and counts the nodes each returns: the rows are only comparable if
the amounts of data are the same. Skipped with a note when node or npm is missing, the install
fails or the server does not start.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from benchmarks.fixtures import Fixtures
from benchmarks.operations import DASHBOARD, PG_DASHBOARD, PG_TRACE, TRACE
from benchmarks.server import free_port, tree_cpu_seconds

PACKAGE = "postgraphile@4"
CACHE = Path(os.environ.get("IMI_BENCH_CACHE", "~/.cache/imi-bench")).expanduser() / "postgraphile"
# What serves these reads fastest (compared on the dashboard at c=1, see the README): no query log
# on stdout, no default mutations (a smaller schema), jsonb passed through unparsed, setof
# functions declared without nulls; NODE_ENV=production. (Against plain defaults: no measurable
# difference. Its default pool of 10 connections is kept: 30, as iMi and the floor get, made none
# at c=50.)
FLAGS = (
    "--disable-query-log",
    "--disable-default-mutations",
    "--dynamic-json",
    "--no-setof-functions-contain-nulls",
)
TRACE_SAMPLE = 20


@dataclass(frozen=True, slots=True)
class Installed:
    binary: Path
    version: str


def install(cache: Path = CACHE, timeout: float = 300.0) -> Installed | str:
    """The postgraphile executable (installed into ``cache`` if need be), or why not."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "node/npm not found"
    binary = cache / "node_modules" / ".bin" / "postgraphile"
    if not binary.exists():
        cache.mkdir(parents=True, exist_ok=True)
        manifest = cache / "package.json"
        if not manifest.exists():
            manifest.write_text(json.dumps({"name": "imi-bench-peers", "private": True}) + "\n")
        try:
            done = subprocess.run(
                ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(cache), PACKAGE],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"npm install {PACKAGE} failed: {exc}"
        if done.returncode != 0 or not binary.exists():
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            return f"npm install {PACKAGE} failed: {' / '.join(tail)}"
    try:
        version = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=60, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        return f"postgraphile --version failed: {exc}"
    return Installed(binary, version)


class PostGraphile:
    """``postgraphile -c <dsn> --schema public`` on a free port, one Node process."""

    def __init__(self, installed: Installed, dsn: str, log_path: Path) -> None:
        self.installed = installed
        self.dsn = dsn
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.command = [
            str(installed.binary),
            "-c",
            dsn,
            "--schema",
            "public",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            *FLAGS,
        ]

    def start(self, timeout: float = 60.0) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "NODE_ENV": "production"}
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.command, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"postgraphile exited early; see {self.log_path}")
            with contextlib.suppress(httpx.HTTPError):
                answer = httpx.post(
                    f"{self.base_url}/graphql", json={"query": "{ __typename }"}, timeout=2.0
                )
                if answer.status_code == 200:
                    return
            time.sleep(0.25)
        raise RuntimeError(f"postgraphile did not answer; see {self.log_path}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def cpu_seconds(self) -> float:
        return tree_cpu_seconds(self.pid) if self.process is not None else 0.0

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# --- the same amount of data --------------------------------------------------------------------


def imi_dashboard_counts(data: dict[str, Any]) -> dict[str, int]:
    projects = data["projects"]["nodes"]
    work = [w for p in projects for w in p["workItems"]["nodes"]]
    return {
        "projects": len(projects),
        "work_items": len(work),
        "work_items_total": sum(p["workItems"]["totalCount"] for p in projects),
        "ticket_links": sum(len(w["tickets"]) for w in work),
        "pull_requests": sum(len(w["pullRequests"]) for w in work),
        "deployments": sum(len(w["deployments"]) for w in work),
    }


def pg_dashboard_counts(data: dict[str, Any]) -> dict[str, int]:
    projects = data["allProjects"]["nodes"]
    work = [w for p in projects for w in p["workItemsByProjectId"]["nodes"]]
    return {
        "projects": len(projects),
        "work_items": len(work),
        "work_items_total": sum(p["workItemsByProjectId"]["totalCount"] for p in projects),
        "ticket_links": sum(len(w["ticketLinksByWorkItemId"]["nodes"]) for w in work),
        "pull_requests": sum(len(w["pullRequestsByWorkItemId"]["nodes"]) for w in work),
        "deployments": sum(len(w["deploymentWorkItemsByWorkItemId"]["nodes"]) for w in work),
    }


def imi_dashboard_order(data: dict[str, Any]) -> list[tuple[str, list[str]]]:
    return [
        (p["name"], [w["branchName"] for w in p["workItems"]["nodes"]])
        for p in data["projects"]["nodes"]
    ]


def pg_dashboard_order(data: dict[str, Any]) -> list[tuple[str, list[str]]]:
    return [
        (p["name"], [w["branchName"] for w in p["workItemsByProjectId"]["nodes"]])
        for p in data["allProjects"]["nodes"]
    ]


def imi_trace_counts(data: dict[str, Any]) -> dict[str, int]:
    trace = data["trace"] or {}
    return {
        "work_items": len(trace.get("workItems", [])),
        "pull_requests": len(trace.get("pullRequests", [])),
        "deployments": len({d["deployId"] for d in trace.get("deployments", [])}),
    }


def pg_trace_counts(data: dict[str, Any]) -> dict[str, int]:
    ticket = data["ticketByPlaneTicketId"] or {}
    work = [
        link["workItemByWorkItemId"]
        for link in ticket.get("ticketLinksByTicketId", {}).get("nodes", [])
    ]
    prs = {pr["id"] for w in work for pr in w["pullRequestsByWorkItemId"]["nodes"]}
    deploys = {
        d["deploymentByDeploymentId"]["deployId"]
        for w in work
        for d in w["deploymentWorkItemsByWorkItemId"]["nodes"]
    }
    return {
        "work_items": len({w["id"] for w in work}),
        "pull_requests": len(prs),
        "deployments": len(deploys),
    }


async def _ask(
    client: httpx.AsyncClient, url: str, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    answer = await client.post(url, json={"query": query, "variables": variables or {}})
    body: dict[str, Any] = answer.json()
    if answer.status_code != 200 or body.get("errors"):
        raise RuntimeError(f"{url}: HTTP {answer.status_code} {json.dumps(body)[:300]}")
    data: dict[str, Any] = body["data"]
    return data


def _add(total: dict[str, int], counts: dict[str, int]) -> None:
    for key, value in counts.items():
        total[key] = total.get(key, 0) + value


async def verify(imi_url: str, peer_url: str, fx: Fixtures) -> dict[str, Any]:
    """Node counts of the dashboard and of a sample of traces, from iMi and from the peer."""
    imi, peer = f"{imi_url}/graphql", f"{peer_url}/graphql"
    async with httpx.AsyncClient(timeout=60.0) as client:
        mine = await _ask(client, imi, DASHBOARD)
        theirs = await _ask(client, peer, PG_DASHBOARD)
        dashboard = {
            "imi": imi_dashboard_counts(mine),
            "postgraphile": pg_dashboard_counts(theirs),
            "same_order": imi_dashboard_order(mine) == pg_dashboard_order(theirs),
        }
        trace_imi: dict[str, int] = {}
        trace_pg: dict[str, int] = {}
        tickets = fx.trace_tickets[:TRACE_SAMPLE]
        for ticket in tickets:
            _add(trace_imi, imi_trace_counts(await _ask(client, imi, TRACE, {"id": ticket})))
            _add(trace_pg, pg_trace_counts(await _ask(client, peer, PG_TRACE, {"id": ticket})))
    dashboard["same"] = dashboard["imi"] == dashboard["postgraphile"]
    trace = {
        "tickets": len(tickets),
        "imi": trace_imi,
        "postgraphile": trace_pg,
        "same": trace_imi == trace_pg,
    }
    return {"dashboard": dashboard, "trace": trace}


def counts_line(counts: dict[str, int]) -> str:
    return ", ".join(f"{value:,} {key.replace('_', ' ')}" for key, value in counts.items())
