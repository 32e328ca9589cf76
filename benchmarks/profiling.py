"""Optional: sample the server with py-spy while one operation runs (``--profile OP``).

Needs the ``bench`` dependency group: ``uv run --group bench python -m benchmarks --profile ...``.
Writes py-spy's collapsed stacks and a summary of the hottest functions (inclusive share of
samples, and self share) next to the results.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path


def py_spy() -> str | None:
    local = Path(sys.executable).with_name("py-spy")
    return str(local) if local.exists() else shutil.which("py-spy")


class Sampler:
    def __init__(self, pid: int, seconds: float, out: Path) -> None:
        self.out = out
        binary = py_spy()
        if binary is None:
            raise RuntimeError("py-spy is not installed: uv run --group bench python -m benchmarks")
        self.process = subprocess.Popen(
            [
                binary,
                "record",
                "--pid",
                str(pid),
                "--duration",
                str(max(1, int(seconds))),
                "--rate",
                "250",
                "--format",
                "raw",
                "--output",
                str(out),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def finish(self) -> str:
        _, err = self.process.communicate(timeout=120)
        if self.process.returncode != 0:
            return f"py-spy failed: {err.decode(errors='replace')[-500:]}"
        return summarize(self.out)


def _frame_name(frame: str) -> str:
    """``function (pkg/module.py:123)`` -> ``function (pkg/module.py)``."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rstrip(')').rsplit(':', 1)[0]})"


def _package(frame: str) -> str:
    """The top-level package of a frame (``sqlalchemy``), or the stdlib module (``json.py``)."""
    where = frame.partition(" (")[2].rstrip(")")
    return where.split("/", 1)[0] if "/" in where else where


# Frames of these packages are listed by inclusive share (the generic loop frames are not).
INTERESTING = (
    "imi",
    "sqlalchemy",
    "asyncpg",
    "fastapi",
    "starlette",
    "pydantic",
    "pydantic_core",
    "strawberry",
    "graphql",
    "aiodataloader",
    "anyio",
    "faststream",
    "aio_pika",
    "aiormq",
    "structlog",
)


def summarize(path: Path, top: int = 30) -> str:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    own_package: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_frame_name(f) for f in stack.split(";")]
        for frame in set(frames):
            if _package(frame) in INTERESTING:
                inclusive[frame] += count
        own[frames[-1]] += count
        own_package[_package(frames[-1])] += count
    if not total:
        return "no samples"

    def share(n: int) -> str:
        return f"{100 * n / total:5.1f}%"

    lines = [f"{total} samples (CPU only: time waiting in the event loop is not sampled)", ""]
    lines += ["self time by package:"]
    lines += [f"  {share(n)}  {p}" for p, n in own_package.most_common(15)]
    lines += ["", "inclusive, library and iMi frames:"]
    lines += [f"  {share(n)}  {f}" for f, n in inclusive.most_common(top)]
    lines += ["", "self:"]
    lines += [f"  {share(n)}  {f}" for f, n in own.most_common(top)]
    return "\n".join(lines)
