"""prometheus_client's multiprocess mode for ``imi serve --workers N``.

Each worker writes its metrics to memory-mapped files in ``PROMETHEUS_MULTIPROC_DIR``; a
scrape of any worker reads every file and answers the sum. The directory must be set before
the workers import prometheus_client and must start empty, so ``imi serve`` makes a fresh one
per run (unless the operator set one) and removes it when it stops.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"
PREFIX = "imi-metrics-"  # then the pid of the `imi serve` that made it


def multiprocess_dir() -> str | None:
    """The shared directory when several processes serve, else None."""
    return os.environ.get(ENV) or os.environ.get(ENV.lower()) or None


@contextmanager
def shared_metrics_dir() -> Iterator[str]:
    """A fresh directory for the workers about to start (inherited through the environment),
    removed on the way out; an operator's own ``PROMETHEUS_MULTIPROC_DIR`` is used as it is."""
    given = multiprocess_dir()
    if given:
        yield given
        return
    _remove_orphans()
    path = tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-")
    os.environ[ENV] = path
    try:
        yield path
    finally:
        os.environ.pop(ENV, None)
        shutil.rmtree(path, ignore_errors=True)


def _remove_orphans() -> None:
    """Directories left by an ``imi serve`` that was killed (SIGKILL cleans nothing up): their
    pid is no longer running."""
    for path in Path(tempfile.gettempdir()).glob(f"{PREFIX}*-*"):
        pid = path.name.removeprefix(PREFIX).split("-", 1)[0]
        if pid.isdigit() and not _running(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # someone else's process: running
        return True
    return True
