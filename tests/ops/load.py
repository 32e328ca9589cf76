"""A steady write load on one replica: clients registering new projects as fast as it answers,
each request on a new connection, every outcome recorded."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import httpx


@dataclass
class Outcome:
    origin: str  # the new project's origin (or the description a PATCH sets)
    status: int | None = None
    project_id: str | None = None
    error: str | None = None  # the transport error's class: no answer came


@dataclass
class Writers:
    """``concurrency`` loops POSTing to ``url`` until stopped.

    No keep-alive: each request opens its own connection, so a refused connection means the
    server never saw the request (its listener is closed), and any other transport error means
    the request was sent and no answer came.
    """

    url: str
    token: str
    concurrency: int = 4
    # Set: PATCH these projects' descriptions (round-robin) instead of registering new ones.
    patch: list[str] | None = None
    outcomes: list[Outcome] = field(default_factory=list)
    _stopping: bool = False
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> Writers:
        self._tasks = [asyncio.create_task(self._loop(n)) for n in range(self.concurrency)]
        return self

    async def stop(self) -> list[Outcome]:
        self._stopping = True
        await asyncio.gather(*self._tasks)
        return self.outcomes

    async def _loop(self, n: int) -> None:
        limits = httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=self.url, timeout=30, limits=limits) as http:
            i = 0
            while not self._stopping:
                outcome = Outcome(f"git@github.com:{self.token}/w{n}-{i}.git")
                i += 1
                self.outcomes.append(outcome)
                try:
                    if self.patch:
                        project = self.patch[(n + i * self.concurrency) % len(self.patch)]
                        response = await http.patch(
                            f"/api/v1/projects/{project}", json={"description": outcome.origin}
                        )
                    else:
                        response = await http.post(
                            "/api/v1/projects", json={"remote_origin": outcome.origin}
                        )
                except httpx.TransportError as exc:
                    outcome.error = type(exc).__name__
                    await asyncio.sleep(0.05)  # a closed listener refuses at once: do not spin
                    continue
                outcome.status = response.status_code
                if response.status_code in (200, 201):
                    outcome.project_id = response.json()["data"]["id"]

    def succeeded(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status in (200, 201)]

    def refused(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.error == "ConnectError"]

    async def until(self, done: str, count: int, timeout: float = 30.0) -> None:
        """Wait until ``count`` requests ``succeeded`` (or were ``refused``)."""
        deadline = time.monotonic() + timeout
        while len(getattr(self, done)()) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{done}: {len(getattr(self, done)())} of {count}")
            await asyncio.sleep(0.02)
