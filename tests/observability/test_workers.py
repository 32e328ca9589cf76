"""``imi serve --workers 2``: each worker counts in its own files of one shared directory,
and a scrape of either answers the sum. The directory is made per run and removed after."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.observability.support import value

IMI = str(Path(sys.executable).with_name("imi"))
READY_WITHIN = 90.0  # a loaded 2-core CI machine imports two workers slowly
REQUESTS = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def children(pid: int) -> list[int]:
    """The uvicorn workers of ``imi serve`` (not multiprocessing's resource tracker)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    found = [int(p) for p in path.read_text().split()] if path.exists() else []
    return [p for p in found if b"spawn_main" in _cmdline(p)]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def metrics_dir_of(pid: int) -> Path | None:
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    for entry in environ:
        if entry.startswith(b"PROMETHEUS_MULTIPROC_DIR="):
            return Path(entry.split(b"=", 1)[1].decode())
    return None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
async def test_two_workers_report_the_sum_of_both(database_url: str, engine: AsyncEngine) -> None:
    # What an `imi serve` killed with SIGKILL left: removed by the next one.
    orphan = Path(tempfile.mkdtemp(prefix=f"imi-metrics-{_dead_pid()}-"))
    port = free_port()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("IMI_", "PROMETHEUS_MULTIPROC"))
    }
    env.update(
        IMI_DATABASE_URL=database_url,
        IMI_PORT=str(port),
        IMI_WORKERS="2",
        IMI_MIGRATE_ON_START="false",
        IMI_METRICS_PUBLIC="true",
        IMI_RATE_LIMIT_PER_MINUTE="0",
        IMI_LOG_LEVEL="WARNING",
    )
    # Started once and only signalled after: nothing blocks the loop.
    process = subprocess.Popen([IMI, "serve"], env=env, stdin=subprocess.DEVNULL)  # noqa: ASYNC220
    base = f"http://127.0.0.1:{port}"
    try:
        await _until_ready(base, process)
        workers = children(process.pid)
        assert len(workers) == 2, workers
        shared = metrics_dir_of(workers[0])
        assert shared is not None and shared.is_dir() and shared.name.startswith("imi-metrics-")
        assert metrics_dir_of(process.pid) is None  # set for the workers only
        assert shared.name.startswith(f"imi-metrics-{process.pid}-")
        assert orphan.name not in os.listdir(tempfile.gettempdir())

        # Fresh connections, many at once: the kernel hands them to both workers.
        async def one() -> None:
            async with httpx.AsyncClient(base_url=base) as http:
                assert (await http.get("/api/v1/projects")).status_code == 200

        for _ in range(REQUESTS // 20):
            await asyncio.gather(*(one() for _ in range(20)))
        counted = {p for p in workers if any(shared.glob(f"counter_{p}.db"))}
        assert counted == set(workers), "one worker served every request; cannot show a sum"

        # Every scrape, whichever worker answers it, reports both workers' requests.
        for _ in range(6):
            async with httpx.AsyncClient(base_url=base) as http:
                text = (await http.get("/metrics")).text
            served = value(text, "imi_http_requests_total", route="/api/v1/projects", status="200")
            assert served == REQUESTS
            assert value(text, "imi_db_pool_connections_idle") >= 1
            assert "process_cpu_seconds_total" in text
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    assert not shared.exists(), "the metrics directory outlived imi serve"


def _dead_pid() -> int:
    """A pid no process has (the kernel's limit, or a reaped child's)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


async def _until_ready(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_WITHIN
    async with httpx.AsyncClient(base_url=base) as http:
        while time.monotonic() < deadline:
            assert process.poll() is None, "imi serve exited"
            try:
                if (await http.get("/health")).status_code == 200 and len(
                    children(process.pid)
                ) == 2:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError(f"imi serve not ready within {READY_WITHIN}s")
