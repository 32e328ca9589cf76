"""`imi serve` and `imi db` as real processes: embedded database lifecycle, signals, crashes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import httpx
import psutil
import pytest

from imi.embedded import EmbeddedPostgres
from imi.migrate import head_revision
from tests.conftest import with_database

# The console script of the venv running the tests: what `uv run imi` would execute.
IMI = str(Path(sys.executable).with_name("imi"))
# Generous deadlines: a loaded CI machine (load average 8 on 2 cores) needs them; when all
# is well the polls return within a second or two and the tests stay fast.
HEALTHY_WITHIN = 120.0
EXIT_WITHIN = 60.0
COMMAND_WITHIN = 120.0


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Not tmp_path: see tests/test_embedded.py (the server's user must traverse the path).
    with tempfile.TemporaryDirectory(prefix="imi-cli-") as path:
        yield Path(path) / "data"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMI_")}
    env.update(IMI_LOG_FORMAT="json", **extra)
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Served:
    """One `imi serve` process with its log file."""

    def __init__(self, data_dir: Path, *args: str, **env: str) -> None:
        self.port = _free_port()
        self.log_path = data_dir.parent / f"serve-{self.port}.log"
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [IMI, "serve", "--port", str(self.port), *args],
                env=_env(IMI_DATA_DIR=str(data_dir), **env),
                cwd=data_dir.parent,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_healthy(self) -> dict[str, object]:
        """Poll GET /health until it answers 200; its body."""
        started = time.monotonic()
        while time.monotonic() - started < HEALTHY_WITHIN:
            if self.process.poll() is not None:
                pytest.fail(f"imi serve exited with {self.process.returncode}:\n{self.log}")
            try:
                response = httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=10)
                if response.status_code == 200:
                    return dict(response.json())
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.process.kill()
        pytest.fail(f"no healthy answer within {HEALTHY_WITHIN}s:\n{self.log}")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.process.send_signal(sig)
        try:
            return self.process.wait(EXIT_WITHIN)
        except subprocess.TimeoutExpired:
            self.process.kill()
            pytest.fail(f"imi serve ignored {signal.Signals(sig).name}:\n{self.log}")


def _postgres_pid(data_dir: Path) -> int | None:
    return EmbeddedPostgres(data_dir).server_pid()


def _gone(pid: int, within: float = 30.0) -> bool:
    """The process exited (a zombie awaiting its reaper counts) within ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


@pytest.fixture
def serve(data_dir: Path) -> Iterator[Callable[..., Served]]:
    """Start `imi serve` on the test's data dir; whatever a failed test leaves running dies."""
    started: list[Served] = []

    def start(*args: str, **env: str) -> Served:
        started.append(Served(data_dir, *args, **env))
        return started[-1]

    yield start
    for served in started:
        if served.process.poll() is None:
            served.process.kill()
            served.process.wait()
    pg_pid = _postgres_pid(data_dir)
    if pg_pid is not None:
        os.kill(pg_pid, signal.SIGINT)  # PostgreSQL's fast shutdown


def test_serve_runs_stops_on_sigterm_and_restarts(
    data_dir: Path, serve: Callable[..., Served]
) -> None:
    first = serve()
    body = first.wait_healthy()
    assert body["database"] == {
        "status": "up",
        "revision": head_revision(),
        "head": head_revision(),
    }
    pg_pid = _postgres_pid(data_dir)
    assert pg_pid is not None

    # A request's correlation id reaches uvicorn's access log, which is JSON like the rest.
    httpx.get(f"http://127.0.0.1:{first.port}/health", headers={"X-Correlation-ID": "cli-test"})
    # While serve owns the data directory, a read-only command uses its running database...
    current = subprocess.run(
        [IMI, "db", "current"],
        env=_env(IMI_DATA_DIR=str(data_dir)),
        capture_output=True,
        text=True,
        timeout=COMMAND_WITHIN,
    )
    assert current.returncode == 0, current.stderr
    assert f"revision: {head_revision()}" in current.stdout
    assert "up to date" in current.stdout
    # ...and a command that would change it is refused, saying why and what to do.
    refused = subprocess.run(
        [IMI, "db", "upgrade"],
        env=_env(IMI_DATA_DIR=str(data_dir)),
        capture_output=True,
        text=True,
        timeout=COMMAND_WITHIN,
    )
    assert refused.returncode == 1
    assert "in use by another imi process" in refused.stderr
    assert "stop it first" in refused.stderr
    assert _postgres_pid(data_dir) == pg_pid  # neither command touched the server

    assert first.stop() == 0
    assert _gone(pg_pid), "embedded postgresql still running after imi exited"
    records = [json.loads(line) for line in first.log.splitlines() if line.strip()]
    access = [r for r in records if r.get("logger") == "uvicorn.access"]
    assert any(r.get("correlation_id") == "cli-test" and r["status"] == 200 for r in access)
    assert records[-1]["event"] == "stopped by signal"

    second = serve()
    body = second.wait_healthy()
    assert body["status"] == "ok"
    assert second.stop(signal.SIGINT) == 0
    assert _postgres_pid(data_dir) is None


def test_serve_recovers_after_kill_9(data_dir: Path, serve: Callable[..., Served]) -> None:
    crashed = serve("--no-migrate")
    body = crashed.wait_healthy()
    assert body["database"] == {"status": "up", "revision": None, "head": head_revision()}
    pg_pid = _postgres_pid(data_dir)
    crashed.process.kill()
    crashed.process.wait(EXIT_WITHIN)
    # pg_ctl daemonizes the server, so it outlives imi; the next imi simply reuses it.
    assert pg_pid is not None and not _gone(pg_pid, within=0)

    reusing = serve()
    body = reusing.wait_healthy()
    assert body["database"]["revision"] == head_revision()  # type: ignore[index]
    assert _postgres_pid(data_dir) == pg_pid
    assert reusing.stop() == 0
    assert _gone(pg_pid)


def test_serve_recovers_after_imi_and_postgres_are_killed(
    data_dir: Path, serve: Callable[..., Served]
) -> None:
    crashed = serve()
    crashed.wait_healthy()
    pg_pid = _postgres_pid(data_dir)
    assert pg_pid is not None
    crashed.process.kill()
    psutil.Process(pg_pid).kill()  # its children notice and exit; postmaster.pid stays
    crashed.process.wait(EXIT_WITHIN)
    assert (data_dir / "pgdata" / "postmaster.pid").exists()

    restarted = serve()
    restarted.wait_healthy()  # crash recovery
    assert _postgres_pid(data_dir) not in (None, pg_pid)
    assert restarted.stop() == 0


async def _admin(server_url: str, sql: str) -> None:
    conn = await asyncpg.connect(server_url, timeout=60)
    try:
        await conn.execute(sql, timeout=120)
    finally:
        await conn.close()


@pytest.fixture
def fresh_database_url(server_url: str) -> Iterator[str]:
    """An empty database on the test server (not migrated)."""
    name = f"imi_cli_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(server_url, f'CREATE DATABASE "{name}"'))
    try:
        yield with_database(server_url, name)
    finally:
        asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_serve_migrates_a_configured_database(
    data_dir: Path, serve: Callable[..., Served], fresh_database_url: str
) -> None:
    served = serve(IMI_DATABASE_URL=fresh_database_url)
    body = served.wait_healthy()
    assert body["database"] == {
        "status": "up",
        "revision": head_revision(),
        "head": head_revision(),
    }
    assert served.stop() == 0
    assert not (data_dir / "pgdata").exists()  # no embedded server was involved


def test_db_upgrade_and_current_with_a_configured_database(fresh_database_url: str) -> None:
    env = _env(IMI_DATABASE_URL=fresh_database_url)

    def imi(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [IMI, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=COMMAND_WITHIN,
            check=True,
        )

    assert "revision: none" in imi("db", "current").stdout
    imi("db", "upgrade", "--revision", "head")
    current = imi("db", "current").stdout
    assert f"revision: {head_revision()}" in current
    assert "up to date" in current
