"""The load generator. Its jobs run in a separate (spawned) process, never in the server's.

A job is a closed loop: ``concurrency`` workers each send one request, wait for the answer, send
the next, until the duration or the request budget runs out. A short warm-up (not recorded)
opens the connections and fills the caches first. Latency is measured per request on the client,
from send to the last byte of the answer.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from benchmarks.fixtures import Fixtures
from benchmarks.floor import FLOORS, create_pool
from benchmarks.operations import BY_KEY, Call
from benchmarks.stats import summarize

# (worker's rng, sequence number, worker index) -> None on success, else what went wrong.
Attempt = Callable[[random.Random, int, int], Awaitable[str | None]]


@dataclass(frozen=True, slots=True)
class Budget:
    concurrency: int
    duration: float  # seconds measured
    max_requests: int  # at most this many measured requests
    warmup: float  # seconds of unrecorded warm-up


@dataclass(frozen=True, slots=True)
class HttpJob:
    op: str
    base_url: str
    fixtures: Fixtures
    budget: Budget
    seq_start: int  # first sequence number: unique branch names and git states across jobs


@dataclass(frozen=True, slots=True)
class MixJob:
    """``agents`` agents, each sending one request then thinking ``interval`` s (on average)."""

    base_url: str
    fixtures: Fixtures
    agents: int
    interval: float
    duration: float
    weights: dict[str, int]
    seq_start: int


@dataclass(frozen=True, slots=True)
class FloorJob:
    floor: str
    dsn: str
    fixtures: Fixtures
    budget: Budget
    pool_size: int


async def closed_loop(
    attempt: Attempt, concurrency: int, duration: float, max_requests: int, seq: Any, seed: int
) -> tuple[list[float], int, float, str | None]:
    """Run ``attempt`` from ``concurrency`` workers; (latencies, errors, elapsed, first error)."""
    latencies: list[float] = []
    errors = 0
    first_error: str | None = None
    issued = 0
    started = time.perf_counter()
    deadline = started + duration

    async def worker(index: int) -> None:
        nonlocal errors, first_error, issued
        rng = random.Random(seed * 1000 + index)
        while issued < max_requests and time.perf_counter() < deadline:
            issued += 1
            n = next(seq)
            t0 = time.perf_counter()
            try:
                error = await attempt(rng, n, index)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
            elapsed = time.perf_counter() - t0
            if error is None:
                latencies.append(elapsed)
            else:
                errors += 1
                first_error = first_error or error

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return latencies, errors, time.perf_counter() - started, first_error


async def measure(attempt: Attempt, budget: Budget, seq_start: int = 0) -> dict[str, Any]:
    seq = itertools.count(seq_start)
    if budget.warmup > 0:
        await closed_loop(attempt, budget.concurrency, budget.warmup, 10**9, seq, seed=1)
    cpu = time.process_time()
    latencies, errors, elapsed, first_error = await closed_loop(
        attempt, budget.concurrency, budget.duration, budget.max_requests, seq, seed=2
    )
    result = summarize(latencies, elapsed, errors)
    result["client_cpu_pct"] = round(100.0 * (time.process_time() - cpu) / elapsed, 1)
    if first_error:
        result["first_error"] = first_error[:300]
    return result


def _http_attempt(clients: list[httpx.AsyncClient], job: HttpJob | MixJob) -> Any:
    """``attempt(rng, n, worker, op=job.op)``: one request of the operation; None if it worked."""
    fx = job.fixtures
    default = job.op if isinstance(job, HttpJob) else ""

    async def attempt(rng: random.Random, n: int, index: int, op: str = default) -> str | None:
        call: Call = BY_KEY[op].build(fx, rng, n)
        response = await clients[index].request(
            call.method, call.path, params=call.params, json=call.json
        )
        body = response.content
        if response.status_code >= 300:
            return f"HTTP {response.status_code}: {body[:200]!r}"
        if call.expect is not None and call.expect not in body:
            return f"unexpected answer: {body[:200]!r}"
        if call.reject is not None and call.reject in body:
            return f"error answer: {body[:200]!r}"
        return None

    return attempt


def clients(base_url: str, count: int) -> list[httpx.AsyncClient]:
    """One client (one keep-alive connection) per worker.

    A single AsyncClient shared by 50 workers spends milliseconds of CPU per request in its
    connection pool (about 220 requests/s at most on this machine): it would measure httpx, not
    iMi. One client per worker costs about 0.6 ms of client CPU per request at any concurrency.
    """
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    return [httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60.0) for _ in range(count)]


async def _run_http(job: HttpJob) -> dict[str, Any]:
    workers = clients(job.base_url, job.budget.concurrency)
    try:
        attempt: Attempt = _http_attempt(workers, job)
        return await measure(attempt, job.budget, job.seq_start)
    finally:
        for client in workers:
            await client.aclose()


async def _run_floor(job: FloorJob) -> dict[str, Any]:
    read = FLOORS[job.floor]
    fx = job.fixtures
    pool = await create_pool(job.dsn, job.pool_size)
    try:

        async def attempt(rng: random.Random, n: int, index: int) -> str | None:
            async with pool.acquire() as conn:
                await read(conn, fx, rng)
            return None

        return await measure(attempt, job.budget)
    finally:
        await pool.close()


async def _run_mix(job: MixJob) -> dict[str, dict[str, Any]]:
    """Per operation: its latencies while every agent works; think time is not counted."""
    keys = list(job.weights)
    weights = [job.weights[k] for k in keys]
    workers = clients(job.base_url, job.agents)
    attempt = _http_attempt(workers, job)
    latencies: dict[str, list[float]] = {k: [] for k in keys}
    errors: dict[str, int] = dict.fromkeys(keys, 0)
    first_error: dict[str, str] = {}
    seq = itertools.count(job.seq_start)
    started = time.perf_counter()
    deadline = started + job.duration

    async def agent(index: int) -> None:
        rng = random.Random(3000 + index)
        # Agents start spread over one interval, not all at once.
        await asyncio.sleep(rng.uniform(0, job.interval))
        while time.perf_counter() < deadline:
            key = rng.choices(keys, weights)[0]
            t0 = time.perf_counter()
            try:
                error = await attempt(rng, next(seq), index, key)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
            if error is None:
                latencies[key].append(time.perf_counter() - t0)
            else:
                errors[key] += 1
                first_error.setdefault(key, error[:300])
            await asyncio.sleep(rng.expovariate(1.0 / job.interval))

    try:
        await asyncio.gather(*(agent(i) for i in range(job.agents)))
    finally:
        for client in workers:
            await client.aclose()
    elapsed = time.perf_counter() - started
    results = {}
    for key in keys:
        results[key] = summarize(latencies[key], elapsed, errors[key])
        if key in first_error:
            results[key]["first_error"] = first_error[key]
    return results


# Entry points for the worker process (module-level, so they pickle by name).
def run_http(job: HttpJob) -> dict[str, Any]:
    return asyncio.run(_run_http(job))


def run_floor(job: FloorJob) -> dict[str, Any]:
    return asyncio.run(_run_floor(job))


def run_mix(job: MixJob) -> dict[str, dict[str, Any]]:
    return asyncio.run(_run_mix(job))
