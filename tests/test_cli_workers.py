"""`imi serve --workers N` as a real process tree: one parent, N workers, once-only jobs once."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil

from imi.migrate import head_revision
from tests.test_cli_serve import (  # noqa: F401  (fixtures, used by name)
    Served,
    _gone,
    _postgres_pid,
    data_dir,
    fresh_database_url,
    serve,
)

CLIENTS = 40


def _workers(served: Served) -> list[psutil.Process]:
    """The server's worker processes (uvicorn spawns them through multiprocessing)."""
    children = psutil.Process(served.process.pid).children()
    return [p for p in children if any("spawn_main" in part for part in p.cmdline())]


def _serving(workers: list[psutil.Process], port: int) -> dict[int, int]:
    """Per worker pid, the accepted client connections it holds on ``port``."""
    held = {}
    for worker in workers:
        held[worker.pid] = sum(
            1
            for conn in worker.net_connections(kind="tcp")
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_ESTABLISHED
        )
    return held


async def _spread(port: int, workers: list[psutil.Process]) -> tuple[list[int], dict[int, int]]:
    """Open CLIENTS keep-alive connections at once, each making a request; the statuses, and
    who holds the connections while they are still open."""
    base = f"http://127.0.0.1:{port}"
    clients = [httpx.AsyncClient(base_url=base, timeout=60) for _ in range(CLIENTS)]
    try:
        answers = await asyncio.gather(*(c.get("/api/v1/projects?limit=1") for c in clients))
        return [a.status_code for a in answers], _serving(workers, port)
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))


async def _register_concurrently(port: int) -> set[str]:
    """Register one origin in several spellings at once, each through a new connection."""
    spellings = [
        "git@github.com:acme/workers.git",
        "https://github.com/acme/workers",
        "https://github.com/acme/workers.git",
        "ssh://git@github.com/acme/workers.git",
    ] * 3

    async def register(origin: str) -> httpx.Response:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            return await client.post(
                "/api/v1/projects",
                json={"remote_origin": origin, "trunk_path": "/srv/acme/workers"},
            )

    answers = await asyncio.gather(*(register(origin) for origin in spellings))
    assert sorted({a.status_code for a in answers}) in ([200, 201], [201]), [
        a.text for a in answers
    ]
    assert [a.status_code for a in answers].count(201) == 1
    return {a.json()["data"]["id"] for a in answers}


def test_serve_with_two_workers_on_a_configured_database(
    data_dir: Path,  # noqa: F811
    serve: Callable[..., Served],  # noqa: F811
    fresh_database_url: str,  # noqa: F811
) -> None:
    # One local caller sending 40 requests at once: no rate limit here (see the next test).
    served = serve(
        "--workers", "2", IMI_DATABASE_URL=fresh_database_url, IMI_RATE_LIMIT_PER_MINUTE="0"
    )
    body = served.wait_healthy()
    assert body["database"] == {
        "status": "up",
        "revision": head_revision(),
        "head": head_revision(),
    }
    workers = _workers(served)
    assert len(workers) == 2, [w.cmdline() for w in workers]

    # The shared socket's connections land on both workers (retried: the kernel decides).
    for _ in range(5):
        statuses, held = asyncio.run(_spread(served.port, workers))
        assert statuses == [200] * CLIENTS
        if sum(1 for count in held.values() if count) == 2:
            break
    assert sum(held.values()) == CLIENTS
    assert all(held.values()), held

    assert len(asyncio.run(_register_concurrently(served.port))) == 1

    assert served.stop() == 0
    assert all(_gone(w.pid) for w in workers)
    records = [json.loads(line) for line in served.log.splitlines() if line.strip()]
    assert sum(r["event"] == "database migrated" for r in records) == 1  # once, in the parent
    assert sum(r["event"] == "imi started" for r in records) == 2  # an app per worker
    assert sum(r["event"] == "imi stopped" for r in records) == 2  # each drained
    assert records[-1]["event"] == "stopped by signal"
    assert not (data_dir / "pgdata").exists()


def test_serve_with_two_workers_on_the_embedded_database(
    data_dir: Path,  # noqa: F811
    serve: Callable[..., Served],  # noqa: F811
) -> None:
    served = serve(IMI_WORKERS="2")
    body = served.wait_healthy()
    assert body["database"]["revision"] == head_revision()  # type: ignore[index]
    pg_pid = _postgres_pid(data_dir)
    assert pg_pid is not None
    workers = _workers(served)
    assert len(workers) == 2
    # The data directory's lock names the parent, not a worker.
    assert int((data_dir / "imi.pid").read_text().split()[0]) == served.process.pid
    assert len(asyncio.run(_register_concurrently(served.port))) == 1
    # The rate limit is one budget in PostgreSQL, not one per worker: 40 requests at once
    # through both workers get the burst (20) and a little refill, not twice the burst.
    statuses, held = asyncio.run(_spread(served.port, workers))
    assert sum(held.values()) == CLIENTS
    assert statuses.count(429) >= 10, statuses

    assert served.stop(signal.SIGINT) == 0
    assert all(_gone(w.pid) for w in workers)
    assert _gone(pg_pid), "embedded postgresql still running after imi exited"
    records = [json.loads(line) for line in served.log.splitlines() if line.strip()]
    assert sum(r["event"] == "embedded postgresql ready" for r in records) == 1
    assert records[-1]["event"] == "stopped by signal"


def test_workers_stop_when_their_parent_is_killed(
    data_dir: Path,  # noqa: F811
    serve: Callable[..., Served],  # noqa: F811
    fresh_database_url: str,  # noqa: F811
) -> None:
    """SIGKILL of `imi serve` (no goodbye): the kernel tells its workers, which stop instead of
    serving on as orphans that hold the socket."""
    served = serve("--workers", "2", IMI_DATABASE_URL=fresh_database_url)
    served.wait_healthy()
    workers = _workers(served)
    assert len(workers) == 2
    served.process.kill()
    served.process.wait()
    assert all(_gone(w.pid, within=60.0) for w in workers), [w.pid for w in workers]
