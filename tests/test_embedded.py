"""The embedded PostgreSQL: data survives restarts, crashes leave nothing that blocks a start."""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from imi.db import create_engine, session_factory, unit_of_work
from imi.embedded import DataDirInUse, EmbeddedPostgres
from imi.migrate import upgrade
from tests.factories import make_project


async def _insert_project(url: str) -> uuid.UUID:
    engine = create_engine(url)
    try:
        async with unit_of_work(session_factory(engine)) as session:
            project = await make_project(session, name="survivor")
            return project.id
    finally:
        await engine.dispose()


async def _project_name(url: str, project_id: uuid.UUID) -> str | None:
    conn = await asyncpg.connect(url)
    try:
        name = await conn.fetchval("SELECT name FROM projects WHERE id = $1", project_id)
        return str(name) if name is not None else None
    finally:
        await conn.close()


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A directory outside pytest's tmp_path.

    As root, the server runs as the `embedded_postgres` user, which must traverse the path;
    every pytest session that starts meanwhile re-restricts /tmp/pytest-of-<user> to its owner.
    """
    with tempfile.TemporaryDirectory(prefix="imi-test-") as path:
        yield Path(path)


@pytest.fixture
def embedded(data_dir: Path) -> Iterator[EmbeddedPostgres]:
    pg = EmbeddedPostgres(data_dir / "data")
    yield pg
    pg.stop()


def test_data_survives_a_restart(embedded: EmbeddedPostgres) -> None:
    embedded.start()
    url = embedded.ensure_database()
    upgrade(url)
    project_id = asyncio.run(_insert_project(url))
    embedded.stop()
    assert embedded.server_pid() is None

    # A new handle, as a new process would have.
    again = EmbeddedPostgres(embedded.data_dir)
    again.start()
    try:
        assert again.ensure_database() == url
        assert asyncio.run(_project_name(url, project_id)) == "survivor"
    finally:
        again.stop()


def test_start_stop_start_in_one_process(embedded: EmbeddedPostgres) -> None:
    embedded.start()
    first = embedded.server_pid()
    embedded.stop()
    embedded.stop()  # idempotent
    embedded.start()
    assert embedded.server_pid() not in (None, first)
    assert asyncio.run(_can_connect(embedded.ensure_database()))


async def _can_connect(url: str) -> bool:
    conn = await asyncpg.connect(url)
    await conn.close()
    return True


def test_stale_postmaster_pid_of_a_live_process_is_recovered(embedded: EmbeddedPostgres) -> None:
    embedded.start()
    url = embedded.ensure_database()
    embedded.stop()
    # After a reboot the recorded pid can belong to any live process; PostgreSQL would refuse
    # to start (and the wheel would think the server runs). Our own pid is such a process.
    pid_file = embedded.pgdata / "postmaster.pid"
    pid_file.write_text(f"{os.getpid()}\n{embedded.pgdata}\n1700000000\n5432\n/tmp\n\n0 0\nready\n")

    embedded.start()
    assert not pid_file.read_text().startswith(f"{os.getpid()}\n")
    assert embedded.server_pid() not in (None, os.getpid())
    assert asyncio.run(_can_connect(url))


def test_live_server_is_not_taken_for_stale(embedded: EmbeddedPostgres) -> None:
    embedded.start()
    assert embedded.recover_stale_lock() is False
    assert embedded.server_pid() is not None


def test_a_second_manager_of_the_same_data_dir_is_refused(embedded: EmbeddedPostgres) -> None:
    embedded.start()
    with pytest.raises(DataDirInUse, match="in use by another imi process"):
        EmbeddedPostgres(embedded.data_dir).start()
    assert embedded.server_pid() is not None  # the refused one did not stop it


def test_long_data_dir_path(data_dir: Path) -> None:
    long_dir = data_dir / ("d" * 60) / ("e" * 60)
    assert len(str(long_dir / "pgdata" / ".s.PGSQL.5432").encode()) > 107
    pg = EmbeddedPostgres(long_dir)
    pg.start()
    try:
        url = pg.ensure_database()
        assert f"host={long_dir}" not in url  # the socket lives in a short runtime directory
        upgrade(url)
        project_id = asyncio.run(_insert_project(url))
        assert asyncio.run(_project_name(url, project_id)) == "survivor"
    finally:
        pg.stop()
    assert pg.server_pid() is None
