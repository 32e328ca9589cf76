"""The text ``GET /metrics`` answers: iMi's metrics, the sampled values and process metrics.

One process: the default registry (iMi's metrics with prometheus_client's process, platform
and GC collectors). Several workers: every worker's files summed by ``MultiProcessCollector``,
plus the process metrics of the worker that answered.
"""

from __future__ import annotations

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy.ext.asyncio import AsyncEngine

from imi.observability.multiprocess import multiprocess_dir
from imi.observability.sampled import OutboxBacklog, sample_pool

# The classic text format generate_latest writes, which every Prometheus version reads.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Exposition:
    """One per app: the outbox snapshot it caches and the registries it renders."""

    def __init__(self) -> None:
        self.backlog = OutboxBacklog()
        self._sampled = CollectorRegistry(auto_describe=False)
        self._sampled.register(self.backlog)
        self._shared: CollectorRegistry | None = None
        path = multiprocess_dir()
        if path:
            self._shared = CollectorRegistry(auto_describe=False)
            MultiProcessCollector(self._shared, path=path)  # type: ignore[no-untyped-call]
            ProcessCollector(registry=self._sampled)
            PlatformCollector(registry=self._sampled)

    async def render(self, engine: AsyncEngine) -> bytes:
        sample_pool(engine)  # this process's share, exact at the scrape
        await self.backlog.refresh(engine)
        shared = generate_latest(self._shared if self._shared is not None else REGISTRY)
        return shared + generate_latest(self._sampled)
