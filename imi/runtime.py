"""Which database a process talks to: the configured server, or the embedded one.

Used by the CLI (``imi serve``, ``imi db ...``); the app itself only ever sees a URL.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from imi.embedded import DEFAULT_DATABASE, DataDirInUse, EmbeddedPostgres
from imi.logging import get_logger
from imi.migrate import upgrade
from imi.settings import Settings

log = get_logger(__name__)


@contextmanager
def database(
    settings: Settings, *, migrate: bool, revision: str = "head", read_only: bool = False
) -> Iterator[str]:
    """Yield a plain postgresql:// URL, migrated to ``revision`` when ``migrate`` is set.

    Without ``IMI_DATABASE_URL`` the embedded PostgreSQL in ``IMI_DATA_DIR`` runs for the
    duration of the block and is stopped on the way out, whatever the reason. When another
    imi process (``imi serve``) manages that server, a ``read_only`` caller (one that neither
    starts, stops nor migrates it: ``db current``, ``keys``) uses the running server as it
    is; any other caller gets ``DataDirInUse``.
    """
    if settings.database_url:
        if migrate:
            _migrate(settings.database_url, revision)
        yield settings.database_url
        return

    embedded = EmbeddedPostgres(settings.data_dir)
    started = time.monotonic()
    try:
        embedded.start()
    except DataDirInUse as exc:
        # The running server was migrated by its own process when it started.
        url = embedded.running_url(DEFAULT_DATABASE) if read_only else None
        if url is None:
            raise
        log.info("using the embedded postgresql of the running imi process", reason=str(exc))
        yield url
        return
    try:
        url = embedded.ensure_database(DEFAULT_DATABASE)
        log.info(
            "embedded postgresql ready",
            data_dir=str(embedded.data_dir),
            seconds=round(time.monotonic() - started, 2),
        )
        if migrate:
            _migrate(url, revision)
        yield url
    finally:
        embedded.stop()


def _migrate(url: str, revision: str) -> None:
    started = time.monotonic()
    upgrade(url, revision)
    log.info("database migrated", revision=revision, seconds=round(time.monotonic() - started, 2))
