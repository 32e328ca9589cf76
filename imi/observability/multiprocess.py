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

ENV = "PROMETHEUS_MULTIPROC_DIR"


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
    path = tempfile.mkdtemp(prefix="imi-metrics-")
    os.environ[ENV] = path
    try:
        yield path
    finally:
        os.environ.pop(ENV, None)
        shutil.rmtree(path, ignore_errors=True)
