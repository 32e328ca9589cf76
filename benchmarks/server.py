"""The server under test: ``imi serve`` in its own process, as production runs it.

uvicorn without reload, ``IMI_LOG_LEVEL=WARNING``, a real PostgreSQL and RabbitMQ. The bench's
exchange and queue prefix are unique to the run, so nothing collides with another iMi on the
same broker; ``cleanup_broker`` deletes what the run declared.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any, Protocol

import aio_pika
import httpx
import psutil

from imi.messaging import topology


class CpuMeter(Protocol):
    """A measured server: how much CPU it (and its children) has used so far."""

    def cpu_seconds(self) -> float: ...


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def imi_command() -> list[str]:
    script = Path(sys.executable).with_name("imi")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from imi.cli import app; app()"]


class Server:
    def __init__(
        self,
        dsn: str,
        amqp_url: str,
        exchange: str,
        queue_prefix: str,
        log_path: Path,
        workers: int = 1,
    ) -> None:
        self.workers = workers
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "IMI_DATABASE_URL": dsn,
            "IMI_RABBITMQ_URL": amqp_url,
            "IMI_BLOODBANK_EXCHANGE": exchange,
            "IMI_QUEUE_PREFIX": queue_prefix,
            "IMI_LOG_LEVEL": "WARNING",
            "IMI_HOST": "127.0.0.1",
            # The load generator is one local caller sending thousands of requests a minute:
            # the per-caller rate limit would measure itself. Everything else runs as deployed
            # (local-open authentication, the auth middleware on every request).
            "IMI_RATE_LIMIT_PER_MINUTE": "0",
        }
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.started_in = 0.0  # seconds from the start to the first healthy answer

    def start(self, timeout: float = 60.0) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        command = [*imi_command(), "serve", "--port", str(self.port)]
        command += ["--workers", str(self.workers)]
        self.process = subprocess.Popen(
            command, env=self.env, stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"imi serve exited early; see {self.log_path}")
            with contextlib.suppress(httpx.HTTPError):
                health = httpx.get(f"{self.base_url}/health", timeout=2.0).json()
                if health.get("broker", {}).get("status") == "connected":
                    self.started_in = timeout - (deadline - time.monotonic())
                    return
            time.sleep(0.25)
        raise RuntimeError(f"imi serve did not become healthy; see {self.log_path}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def health(self) -> dict[str, Any]:
        body: dict[str, Any] = httpx.get(f"{self.base_url}/health", timeout=5.0).json()
        return body

    def child_pids(self) -> set[int]:
        """The server's child processes (its workers): a pid that changes is a restart."""
        with contextlib.suppress(psutil.Error):
            return {child.pid for child in psutil.Process(self.pid).children()}
        return set()

    def cpu_seconds(self) -> float:
        """CPU seconds of the server: its process and, with ``--workers``, every worker."""
        return tree_cpu_seconds(self.pid)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and all of its children."""
    total = 0.0
    with contextlib.suppress(psutil.Error):
        process = psutil.Process(pid)
        for each in (process, *process.children(recursive=True)):
            with contextlib.suppress(psutil.Error):
                times = each.cpu_times()
                total += times.user + times.system
    return total


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all cores, every process)."""
    times = psutil.cpu_times()
    idle = times.idle + getattr(times, "iowait", 0.0)
    return float(sum(times) - idle)


async def cleanup_broker(amqp_url: str, exchange: str, queue_prefix: str) -> None:
    """Delete the exchanges and queues this run's server declared."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        for spec in topology.QUEUES:
            for name in (queue_prefix + spec.name, f"{queue_prefix}{spec.name}.dlq"):
                channel = await connection.channel()
                with contextlib.suppress(Exception):
                    await channel.queue_delete(name)
        for name in (exchange, queue_prefix + topology.DLX_NAME):
            channel = await connection.channel()
            with contextlib.suppress(Exception):
                await channel.exchange_delete(name)


def background_load(seconds: float = 3.0) -> float:
    """Share of the machine (all cores, %) busy before the benchmark starts: other work."""
    return float(psutil.cpu_percent(interval=seconds))
