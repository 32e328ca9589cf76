"""Event measurements: consumption, relay publishing, commit-to-queue latency.

Two probes give exact timestamps without polling:
- ``CommitWatcher`` LISTENs on ``imi_events``: PostgreSQL notifies each inserted event row when
  its transaction commits, so the notification's arrival is the commit of the state change the
  event describes (a consumed message's effect, a REST write) to within a fraction of a ms;
- ``Tap`` is an exclusive queue bound to the exchange: a message's arrival is when the relay's
  publish reached RabbitMQ and was routed.
Runs inside the load generator's process, like the HTTP jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aio_pika
import asyncpg
import httpx
from aio_pika.abc import AbstractIncomingMessage

from benchmarks.fixtures import Fixtures, WorkTarget
from benchmarks.loadgen import clients
from benchmarks.stats import summarize
from imi.outbox.envelope import build_envelope

TIMEOUT = 120.0


@dataclass(frozen=True, slots=True)
class EventsJob:
    dsn: str
    amqp_url: str
    exchange: str
    base_url: str
    fixtures: Fixtures
    duration: float  # seconds of REST writes per commit-to-queue run
    burst: int  # messages / events per throughput run
    sequential: int  # messages / events per one-at-a-time run
    tag: str  # unique per run: correlation ids and routing keys carry it


@dataclass(slots=True)
class CommitWatcher:
    """When each event row committed, and what it carried."""

    dsn: str
    seen: list[tuple[int, float]] = field(default_factory=list)
    info: dict[int, tuple[str, str | None, float]] = field(default_factory=dict)
    by_correlation: dict[str, float] = field(default_factory=dict)
    waiters: dict[str, asyncio.Future[float]] = field(default_factory=dict)
    _pending: list[tuple[int, float]] = field(default_factory=list)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _progress: asyncio.Event = field(default_factory=asyncio.Event)
    _conns: list[Any] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        listen = await asyncpg.connect(self.dsn)
        query = await asyncpg.connect(self.dsn)
        self._conns = [listen, query]
        await listen.add_listener("imi_events", self._on_notify)
        self._task = asyncio.create_task(self._resolve(query))

    def _on_notify(self, conn: Any, pid: int, channel: str, payload: str) -> None:
        entry = (int(payload), time.perf_counter())
        self.seen.append(entry)
        self._pending.append(entry)
        self._wake.set()

    async def _resolve(self, conn: Any) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._pending = self._pending, []
            committed = dict(batch)
            rows = await conn.fetch(
                "SELECT id, event_id::text, correlation_id FROM events WHERE id = ANY($1)",
                list(committed),
            )
            for row in rows:
                at = committed[row["id"]]
                self.info[row["id"]] = (row["event_id"], row["correlation_id"], at)
                cid = row["correlation_id"]
                if cid is not None and cid not in self.by_correlation:
                    self.by_correlation[cid] = at
                    waiter = self.waiters.pop(cid, None)
                    if waiter is not None and not waiter.done():
                        waiter.set_result(at)
            self._progress.set()

    async def committed(self, correlation_id: str) -> float:
        """When the first event carrying ``correlation_id`` committed (waits for it)."""
        if correlation_id in self.by_correlation:
            return self.by_correlation[correlation_id]
        waiter = self.waiters.setdefault(correlation_id, asyncio.get_running_loop().create_future())
        return await asyncio.wait_for(asyncio.shield(waiter), TIMEOUT)

    async def settle(self) -> None:
        """Wait until every notification so far is resolved."""
        while self._pending or len(self.info) < len(self.seen):
            self._progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), 0.1)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for conn in self._conns:
            await conn.close()


@dataclass(slots=True)
class Tap:
    """An exclusive queue on the exchange: when each message arrived."""

    arrivals: dict[str, float] = field(default_factory=dict)  # message_id -> time
    correlations: dict[str, str] = field(default_factory=dict)  # message_id -> correlation
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self, channel: Any, exchange: Any, keys: list[str]) -> None:
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        for key in keys:
            await queue.bind(exchange, routing_key=key)
        await queue.consume(self._on_message, no_ack=True)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        at = time.perf_counter()
        if message.message_id:
            self.arrivals[message.message_id] = at
            self.correlations[message.message_id] = message.correlation_id or ""
        self._changed.set()

    async def wait_for(self, ids: set[str], within: float = TIMEOUT) -> None:
        deadline = time.perf_counter() + within
        while not ids.issubset(self.arrivals.keys()):
            self._changed.clear()
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                missing = len(ids - self.arrivals.keys())
                raise TimeoutError(f"{missing} of {len(ids)} messages never reached the tap")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.5))


def _row(
    key: str, label: str, concurrency: str, stats: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    return {"key": key, "label": label, "concurrency": concurrency, **stats, **extra}


def _difference_row(
    key: str, label: str, timings: dict[bool, list[float]], elapsed: float, *, note: str
) -> dict[str, Any]:
    """A c=1 row of the percentiles with events (``timings[True]``) minus those without."""
    with_stats = summarize(timings[True], elapsed)
    without_stats = summarize(timings[False], elapsed)
    difference = {
        p: round(with_stats[p] - without_stats[p], 3) for p in ("p50_ms", "p95_ms", "p99_ms")
    }
    return _row(
        key,
        label,
        "1",
        {**with_stats, **difference, "mean_ms": None, "max_ms": None},
        with_event_p50_ms=with_stats["p50_ms"],
        without_p50_ms=without_stats["p50_ms"],
        note=note,
    )


class EventBench:
    def __init__(self, job: EventsJob) -> None:
        self.job = job
        self.results: list[dict[str, Any]] = []

    async def run(self) -> list[dict[str, Any]]:
        job = self.job
        # First, while nothing of the benchmark listens for events (the commit watcher and the
        # tap would wake the load generator on every event and take CPU from the server).
        await self.write_overhead()
        await self.event_cost_same_write()
        watcher = CommitWatcher(job.dsn)
        await watcher.start()
        connection = await aio_pika.connect(job.amqp_url)
        try:
            publish_channel = await connection.channel(publisher_confirms=True)
            tap_channel = await connection.channel()
            await tap_channel.set_qos(prefetch_count=0)
            exchange = await publish_channel.get_exchange(job.exchange, ensure=True)
            tap_exchange = await tap_channel.get_exchange(job.exchange, ensure=True)
            tap = Tap()
            keys = ["imi.work.git_state_updated", f"bench.{job.tag}.#"]
            await tap.start(tap_channel, tap_exchange, keys)
            self.watcher, self.tap, self.exchange = watcher, tap, exchange
            await self.consumption("git.sync_completed", job.fixtures.sync_targets)
            await self.consumption("git.push", job.fixtures.push_targets)
            await self.relay()
            await self.commit_to_queue()
        finally:
            await connection.close()
            await watcher.stop()
        return self.results

    # --- what an event adds to a write ----------------------------------------------------------

    async def write_overhead(self) -> None:
        """Interleaved blocks: one client alternates ten git-state reports that change their work
        item (two events each, relayed meanwhile) with ten that change nothing (no event), so
        the drift of a busy machine hits both alike. Blocks, not single pairs: the relay's work
        after a write slows the request that follows it, which must be one of its own kind.
        The row is the percentiles with events minus those without."""
        job, fx = self.job, self.job.fixtures
        [client] = clients(job.base_url, 1)
        salt = random.randrange(1, 1_000_000) * 1000  # values never sent before: each changes
        timings: dict[bool, list[float]] = {True: [], False: []}
        try:
            started = time.perf_counter()
            n = 0
            while n < 400 or time.perf_counter() - started < job.duration:
                with_event = (n // 10) % 2 == 0
                if with_event:
                    item, body = (
                        fx.rest_git_state[n % len(fx.rest_git_state)],
                        {"ahead_of_trunk": salt + n},
                    )
                else:
                    item, body = fx.rest_git_noop[n % len(fx.rest_git_noop)], {}
                t0 = time.perf_counter()
                response = await client.patch(f"/api/v1/work/{item}/git-state", json=body)
                elapsed_one = time.perf_counter() - t0
                response.raise_for_status()
                if n >= 40:  # the first blocks warm up
                    timings[with_event].append(elapsed_one)
                n += 1
            elapsed = time.perf_counter() - started
        finally:
            await client.aclose()
        self.results.append(
            _difference_row(
                "event.write_overhead_paired",
                "event adds to a write (interleaved: git-state with event - without)",
                timings,
                elapsed,
                note="blocks of ten with events and ten without on one client, alternating",
            )
        )

    async def event_cost_same_write(self) -> None:
        """What writing its events adds to the very same write: iMi's own git-state service
        (UPDATE, its events, COMMIT) in blocks of ten, alternating with blocks where ``emit``
        records nothing, on one connection pool in this process. The paired HTTP row above
        compares a changing write with a request that changes nothing (no UPDATE, no commit
        to flush), so it charges the write itself to the event; this one holds the write
        equal. The row is the percentiles with events minus those without."""
        from imi import outbox
        from imi.db import create_engine, session_factory, unit_of_work
        from imi.work import service
        from imi.work.models import GitState

        async def nothing(*_: Any, **__: Any) -> list[uuid.UUID]:
            return []

        fx = self.job.fixtures
        engine = create_engine(self.job.dsn)
        sessions = session_factory(engine)
        salt = random.randrange(1, 1_000_000) * 1000 + 500
        timings: dict[bool, list[float]] = {True: [], False: []}
        try:
            for n in range(800):
                with_event = (n // 10) % 2 == 0
                setattr(service, "emit", outbox.emit if with_event else nothing)  # noqa: B010
                item = uuid.UUID(fx.rest_git_state[n % len(fx.rest_git_state)])
                t0 = time.perf_counter()
                async with unit_of_work(sessions) as session:
                    await service.update_git_state(
                        session, GitState(ahead_of_trunk=salt + n), work_item_id=item
                    )
                if n >= 40:
                    timings[with_event].append(time.perf_counter() - t0)
        finally:
            setattr(service, "emit", outbox.emit)  # noqa: B010
            await engine.dispose()
        elapsed = sum(timings[True]) + sum(timings[False])
        self.results.append(
            _difference_row(
                "event.write_cost_same_write",
                "event adds to the same write (git-state service with its events - without)",
                timings,
                elapsed,
                note="in process: the same UPDATE and COMMIT, emit() on or off, blocks of ten",
            )
        )

    # --- consumed messages -----------------------------------------------------------------

    def _message(self, routing_key: str, target: WorkTarget, n: int) -> tuple[bytes, str]:
        sha = uuid.uuid4().hex + uuid.uuid4().hex[:8]
        now = datetime.now(UTC).isoformat()
        if routing_key == "git.sync_completed":
            body: dict[str, Any] = {
                "worktree_path": target.worktree_path,
                "has_uncommitted": False,
                "uncommitted_count": 0,
                "ahead": n % 9 + 1,
                "behind": 0,
                "last_commit_hash": sha,
                "last_sync_at": now,
            }
        else:
            body = {
                "repository": target.remote,
                "ref": f"refs/heads/{target.branch}",
                "after": sha,
                "ahead": n % 9 + 1,
                "behind": 0,
                "pushed_at": now,
            }
        return json.dumps(body).encode(), f"bench-{self.job.tag}-{routing_key}-{n}"

    async def _publish(self, routing_key: str, body: bytes, cid: str) -> None:
        await self.exchange.publish(
            aio_pika.Message(
                body,
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=str(uuid.uuid4()),
                correlation_id=cid,
            ),
            routing_key=routing_key,
        )

    async def consumption(self, routing_key: str, targets: list[WorkTarget]) -> None:
        job = self.job
        n_seq = min(job.sequential, len(targets) // 3)
        sequential, burst = targets[:n_seq], targets[n_seq : n_seq + job.burst]
        label = f"consume {routing_key} -> committed"

        latencies = []
        started = time.perf_counter()
        for n, target in enumerate(sequential):
            body, cid = self._message(routing_key, target, n)
            t0 = time.perf_counter()
            await self._publish(routing_key, body, cid)
            latencies.append(await self.watcher.committed(cid) - t0)
        stats = summarize(latencies, time.perf_counter() - started)
        key = f"event.consume.{routing_key}"
        self.results.append(_row(key, label, "1", stats))

        sent: dict[str, float] = {}
        semaphore = asyncio.Semaphore(50)

        async def send(n: int, target: WorkTarget) -> None:
            body, cid = self._message(routing_key, target, n)
            async with semaphore:
                sent[cid] = time.perf_counter()
                await self._publish(routing_key, body, cid)

        started = time.perf_counter()
        await asyncio.gather(*(send(n_seq + i, t) for i, t in enumerate(burst)))
        published = time.perf_counter() - started
        commits = {cid: await self.watcher.committed(cid) for cid in sent}
        last = max(commits.values())
        latencies = [commits[cid] - at for cid, at in sent.items()]
        stats = summarize(latencies, last - started)
        self.results.append(
            _row(
                key,
                label,
                f"burst {len(burst)}",
                stats,
                publish_seconds=round(published, 3),
                note="rps = messages consumed and committed per second; latency includes "
                "the wait in the queue behind the rest of the burst",
            )
        )

    # --- the relay ---------------------------------------------------------------------------

    async def _enqueue(self, conn: Any, count: int, *, one_subject: bool, kind: str) -> list[str]:
        """Insert ``count`` outbox rows in one transaction; returns their event ids."""
        rows: list[tuple[Any, ...]] = []
        ids: list[str] = []
        subject = str(uuid.uuid4())
        for _ in range(count):
            event_id = uuid.uuid4()
            routing_key = f"bench.{self.job.tag}.{kind}"
            envelope = build_envelope(
                event_type=routing_key,
                payload={"bench": True, "n": len(ids)},
                event_id=event_id,
                correlation_id=None,
            )
            rows.append(
                (
                    event_id,
                    routing_key,
                    routing_key,
                    "bench",
                    subject if one_subject else str(uuid.uuid4()),
                    json.dumps(envelope),
                )
            )
            ids.append(str(event_id))
        await conn.copy_records_to_table(
            "events",
            records=rows,
            columns=[
                "event_id",
                "event_type",
                "routing_key",
                "subject_type",
                "subject_id",
                "envelope",
            ],
        )
        return ids

    async def _published_in_db(self, conn: Any, ids: list[str]) -> float:
        while True:
            left = await conn.fetchval(
                "SELECT count(*) FROM events WHERE event_id = ANY($1::uuid[]) "
                "AND published_at IS NULL",
                ids,
            )
            if left == 0:
                return time.perf_counter()
            await asyncio.sleep(0.02)

    async def relay(self) -> None:
        job = self.job
        conn = await asyncpg.connect(job.dsn)
        try:
            latencies = []
            started = time.perf_counter()
            for _ in range(job.sequential):
                ids = await self._enqueue(conn, 1, one_subject=False, kind="one")
                committed = time.perf_counter()
                await self.tap.wait_for(set(ids))
                latencies.append(self.tap.arrivals[ids[0]] - committed)
            stats = summarize(latencies, time.perf_counter() - started)
            label = "relay: outbox row -> tap queue"
            self.results.append(_row("event.relay", label, "1", stats))

            for one_subject in (False, True):
                count = job.burst * 5 if not one_subject else job.burst
                ids = await self._enqueue(conn, count, one_subject=one_subject, kind="burst")
                started = time.perf_counter()
                db_task = asyncio.create_task(self._published_in_db(conn, ids))
                await self.tap.wait_for(set(ids))
                in_db = await db_task
                last = max(self.tap.arrivals[i] for i in ids)
                stats = summarize([self.tap.arrivals[i] - started for i in ids], last - started)
                subjects = "one subject (strict order)" if one_subject else "distinct subjects"
                self.results.append(
                    _row(
                        "event.relay" if not one_subject else "event.relay_one_subject",
                        f"relay publish with confirms, {subjects}",
                        f"burst {count}",
                        stats,
                        published_at_all_set_s=round(in_db - started, 3),
                        note="rps = events published (received on the tap) per second",
                    )
                )
        finally:
            await conn.close()

    # --- commit to queue -----------------------------------------------------------------------

    async def commit_to_queue(self) -> None:
        job = self.job
        for concurrency in (1, 50):
            prefix = f"c2q-{job.tag}-c{concurrency}-"
            writers = clients(job.base_url, concurrency)
            counter = itertools.count()
            deadline = time.perf_counter() + job.duration
            try:
                await asyncio.gather(
                    *(
                        self._writer(client, prefix, concurrency * 1_000_000, deadline, counter, i)
                        for i, client in enumerate(writers)
                    )
                )
            finally:
                for client in writers:
                    await client.aclose()
            await self._settle_tap(prefix)
            await self.watcher.settle()
            commits = {
                event_id: at
                for event_id, cid, at in self.watcher.info.values()
                if cid and cid.startswith(prefix)
            }
            arrivals = {
                mid: at
                for mid, at in self.tap.arrivals.items()
                if self.tap.correlations.get(mid, "").startswith(prefix)
            }
            latencies = [arrivals[e] - commits[e] for e in arrivals if e in commits]
            stats = summarize(latencies, job.duration)
            self.results.append(
                _row(
                    "event.commit_to_queue",
                    "commit -> message on a tap queue (REST git-state)",
                    str(concurrency),
                    stats,
                    note="rps = events delivered per second while writing",
                )
            )

    async def _writer(
        self,
        client: httpx.AsyncClient,
        prefix: str,
        base: int,
        deadline: float,
        counter: Iterator[int],
        index: int,
    ) -> None:
        """REST git-state writes, each with its own correlation id, until the deadline."""
        items = self.job.fixtures.commit_to_queue
        while time.perf_counter() < deadline:
            n = next(counter)
            item = items[(index * 7919 + n) % len(items)]
            response = await client.patch(
                f"/api/v1/work/{item}/git-state",
                json={"ahead_of_trunk": base + n + 1},
                headers={"X-Correlation-ID": f"{prefix}{n}"},
            )
            response.raise_for_status()

    async def _settle_tap(self, prefix: str) -> None:
        """Wait until the tap has seen no new message of ``prefix`` for a moment."""
        count = -1
        while True:
            now = sum(1 for c in self.tap.correlations.values() if c.startswith(prefix))
            if now == count:
                return
            count = now
            await asyncio.sleep(0.5)


def run_events(job: EventsJob) -> list[dict[str, Any]]:
    return asyncio.run(EventBench(job).run())
