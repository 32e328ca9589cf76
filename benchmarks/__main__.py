"""``uv run python -m benchmarks``: dataset, server, load, floor, events, report.

1. (re)create the benchmark database, migrate it and fill it (``benchmarks.dataset``);
2. start ``imi serve`` against it and RabbitMQ (``benchmarks.server``), with an exchange and a
   queue prefix unique to the run;
3. in a separate, spawned process, drive every operation at each concurrency, its raw-SQL floor
   right after it, the same reads served by PostGraphile 4 (a peer, when Node is there), then the
   event measurements (``benchmarks.loadgen``, ``benchmarks.postgraphile``, ``benchmarks.events``);
4. write ``<out>/<run id>.json`` and ``.md`` and ``benchmarks/RESULTS.md`` (``benchmarks.report``);
5. stop the server, delete the run's exchange and queues, drop the database (unless --keep-db).

Figures only: nothing here asserts on a timing.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import multiprocessing
import os
import sys
import time
import uuid
from collections.abc import Coroutine
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from benchmarks import dataset, postgraphile, report
from benchmarks.config import ADMIN_DSN, AMQP_URL, CONCURRENT_AGENTS, DATABASE_NAME, SCALES
from benchmarks.events import EventsJob, run_events
from benchmarks.fixtures import Fixtures, sample
from benchmarks.http_floor import OPERATIONS as HTTP_FLOOR_OPERATIONS
from benchmarks.http_floor import HttpFloor
from benchmarks.loadgen import Budget, FloorJob, HttpJob, MixJob, run_floor, run_http, run_mix
from benchmarks.operations import AGENT_MIX, BY_KEY, OPERATIONS, PEER_OF, PEER_OPERATIONS, Operation
from benchmarks.profiling import Sampler
from benchmarks.server import (
    CpuMeter,
    Server,
    background_load,
    cleanup_broker,
    machine_busy_seconds,
)

HERE = Path(__file__).resolve().parent
WORKERS_START_TIMEOUT = 180.0
# iMi's pool: IMI_DB_POOL_SIZE (10) + IMI_DB_MAX_OVERFLOW (20); the floor gets as many.
FLOOR_POOL = 30
# Measured again at c=50 against `imi serve --workers N`: the cheap reads (issue 14's throughput
# target) and the heaviest one.
MULTI_WORKER_OPERATIONS = ("rest.project_by_id", "rest.project_by_origin", "graphql.dashboard")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmark iMi against the PRD targets and a raw-SQL floor.",
    )
    parser.add_argument("--scale", choices=sorted(SCALES), default="default")
    parser.add_argument(
        "--duration", type=float, default=8.0, help="seconds measured per operation and level"
    )
    parser.add_argument("--warmup", type=float, default=1.0, help="unrecorded seconds before")
    parser.add_argument("--max-requests", type=int, default=50_000, help="per operation and level")
    parser.add_argument(
        "--concurrency", default="1,50", help="comma-separated client counts (default 1,50)"
    )
    parser.add_argument("--out", type=Path, default=HERE / "results", help="results directory")
    parser.add_argument("--only", default="", help="comma-separated operation keys (prefixes)")
    parser.add_argument("--skip-events", action="store_true", help="no event measurements")
    parser.add_argument("--agents", type=int, default=50, help="agents in the mixed run (0: none)")
    parser.add_argument(
        "--agent-interval", type=float, default=1.0, help="mean think time of an agent, s"
    )
    parser.add_argument("--burst", type=int, default=1_000, help="messages per event burst")
    parser.add_argument("--admin-dsn", default=ADMIN_DSN, help="PostgreSQL server to use")
    parser.add_argument("--database", default=DATABASE_NAME, help="benchmark database name")
    parser.add_argument("--amqp-url", default=AMQP_URL)
    parser.add_argument("--keep-db", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--reuse-db", action="store_true", help="skip generation if the database already exists"
    )
    parser.add_argument(
        "--profile",
        default="",
        help="comma-separated operation keys to sample with py-spy (needs --group bench)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        # As production serves (README, Workers): one worker per core; at least two.
        default=max(2, os.cpu_count() or 1),
        help="also measure project by id / by origin and the dashboard at c=50 against `imi "
        "serve --workers N` (default: one per core, as production, at least 2; 0: skip)",
    )
    parser.add_argument(
        "--postgraphile",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="measure PostGraphile 4 (npm, cached outside the repo) on the dashboard and trace "
        "as a peer (skipped with a note without node/npm)",
    )
    parser.add_argument("--no-results-md", action="store_true", help="leave RESULTS.md alone")
    return parser.parse_args(argv)


def database_url(admin_dsn: str, name: str) -> str:
    base, _, _ = admin_dsn.rpartition("/")
    return f"{base}/{name}"


async def database_exists(admin_dsn: str, name: str) -> bool:
    conn = await asyncpg.connect(admin_dsn)
    try:
        return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
    finally:
        await conn.close()


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def line(row: dict[str, Any]) -> str:
    extra = f", {row['errors']} errors: {row.get('first_error', '')}" if row.get("errors") else ""
    return (
        f"p50 {row['p50_ms']:.2f}  p95 {row['p95_ms']:.2f}  p99 {row['p99_ms']:.2f} ms  "
        f"{row['rps']:,.0f}/s  n={row['requests']}{extra}"
    )


class Runner:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.tag = uuid.uuid4().hex[:8]
        self.dsn = database_url(args.admin_dsn, args.database)
        self.exchange = f"imi.bench.{self.tag}.events"
        self.prefix = f"bench-{self.tag}-"
        self.levels = [int(c) for c in args.concurrency.split(",") if c.strip()]
        self.results: list[dict[str, Any]] = []
        self.floors: dict[str, dict[str, Any]] = {}
        # The same requests answered by a bare Starlette + asyncpg app (op key@c -> figures).
        self.http_floors: dict[str, dict[str, Any]] = {}
        self.http_floor: HttpFloor | None = None
        self.profiles: dict[str, str] = {}
        self.peers: dict[str, Any] = {}
        self.failures: dict[str, str] = {}
        self.starts: dict[str, float] = {}  # server -> seconds until healthy
        self.seq = 0

    def selected(self, op: Operation) -> bool:
        only = [p for p in self.args.only.split(",") if p]
        return not only or any(op.key.startswith(p) for p in only)

    async def dataset(self) -> dict[str, Any]:
        scale = SCALES[self.args.scale]
        if self.args.reuse_db and await database_exists(self.args.admin_dsn, self.args.database):
            log(f"reusing database {self.args.database}")
            return {"scale": scale.name, "reused": True, **await self._counts()}
        log(f"generating the {scale.name} dataset into {self.args.database}")
        await dataset.recreate_database(self.args.admin_dsn, self.args.database)
        result = await dataset.load(self.dsn, scale)
        log(f"dataset ready in {result.total_seconds:.1f} s: {result.rows}")
        return asdict(result)

    async def _counts(self) -> dict[str, Any]:
        conn = await asyncpg.connect(self.dsn)
        try:
            rows = {}
            for table in dataset.PHASES[0] + dataset.PHASES[1] + dataset.PHASES[2]:
                rows[table] = await conn.fetchval(f"SELECT count(*) FROM {table}")
        finally:
            await conn.close()
        zero = {"build_seconds": 0.0, "copy_seconds": 0.0, "analyze_seconds": 0.0}
        return {"rows": rows, "total_seconds": 0.0, **zero}

    async def run(self) -> Path:
        started_at = datetime.now(UTC).isoformat(timespec="seconds")
        dataset_report = await self.dataset()
        fixtures = await sample(self.dsn)
        machine = await report.machine(self.dsn, self.args.amqp_url)
        machine["background_load_pct"] = await asyncio.to_thread(background_load)
        if machine["background_load_pct"] > 10:
            log(
                f"warning: the machine is {machine['background_load_pct']:.0f}% busy before "
                "the run; other work will skew the figures"
            )
        log(f"machine: {report.machine_line(machine)}")
        out = self.args.out
        server = Server(
            self.dsn, self.args.amqp_url, self.exchange, self.prefix, out / f"{self.run_id}.log"
        )
        context = multiprocessing.get_context("spawn")
        pool = concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context)
        try:
            server.start()
            self.starts["imi serve"] = round(server.started_in, 1)
            log(f"imi serve pid {server.pid} on {server.base_url}")
            await self._phase("http floor", self.start_http_floor())
            await self.http(server, pool, fixtures)
            if self.http_floor is not None:
                self.http_floor.stop()
            # A phase that fails is reported; the figures of the others are kept.
            await self._phase("postgraphile", self.postgraphile(server, pool, fixtures))
            if self.args.agents and not self.args.only:
                await self._phase("mix", self.mix(server, pool, fixtures))
            if not self.args.skip_events:
                await self._phase("events", self.events(server, pool, fixtures))
            server.stop()
            if self.args.workers > 1:
                await self._phase("workers", self.multi_worker(pool, fixtures))
        finally:
            pool.shutdown(cancel_futures=True)
            server.stop()
            if self.http_floor is not None:
                self.http_floor.stop()
            await cleanup_broker(self.args.amqp_url, self.exchange, self.prefix)
            if not self.args.keep_db:
                await dataset.drop_database(self.args.admin_dsn, self.args.database)
        results = self.results + report.derived(self.results)
        doc: dict[str, Any] = {
            "run_id": self.run_id,
            "started_at": started_at,
            "command": "python -m benchmarks " + " ".join(sys.argv[1:]),
            "options": {
                "scale": self.args.scale,
                "duration": self.args.duration,
                "warmup": self.args.warmup,
                "max_requests": self.args.max_requests,
                "concurrency": self.levels,
                "burst": self.args.burst,
                "agents": self.args.agents,
                "agent_interval": self.args.agent_interval,
                "workers": self.args.workers,
                "postgraphile": self.args.postgraphile,
            },
            "machine": machine,
            "dataset": dataset_report,
            "fixtures": {
                "big_project_id": fixtures.big_project_id,
                "big_project_in_flight": fixtures.big_project_in_flight,
            },
            "results": results,
            "floors": self.floors,
            "http_floors": self.http_floors,
            "profiles": self.profiles,
            "peers": self.peers,
            "failures": self.failures,
            "server_start_s": self.starts,
        }
        doc["issue_targets"] = report.issue_targets(results, self.floors)
        json_path, md_path = report.write(out, doc)
        if not self.args.no_results_md:
            (HERE / "RESULTS.md").write_text("# Benchmark results\n\n" + report.markdown(doc))
        log(f"wrote {json_path} and {md_path}")
        print()
        print(report.markdown(doc))
        return json_path

    async def _phase(self, name: str, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except Exception as exc:
            self.failures[name] = f"{type(exc).__name__}: {exc}"[:500]
            log(f"the {name} phase failed, the run goes on: {self.failures[name]}")

    async def _wait_outbox(self, server: Server, within: float = 120.0) -> None:
        """Let the relay publish what the last write benchmark queued before going on."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            backlog = (await asyncio.to_thread(server.health)).get("outbox", {}).get("backlog")
            if not backlog:
                return
            await asyncio.sleep(0.5)

    async def _job(self, server: CpuMeter, pool: Any, fn: Any, job: Any) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        wall, cpu, busy = time.perf_counter(), server.cpu_seconds(), machine_busy_seconds()
        result: dict[str, Any] = await loop.run_in_executor(pool, fn, job)
        wall = time.perf_counter() - wall
        result["server_cpu_pct"] = round(100 * (server.cpu_seconds() - cpu) / wall, 1)
        # Of one core for the server; of the whole machine (every core) for "machine".
        cores = os.cpu_count() or 1
        result["machine_cpu_pct"] = round(100 * (machine_busy_seconds() - busy) / (wall * cores), 1)
        return result

    async def _floor(
        self, server: CpuMeter, pool: Any, fx: Fixtures, op: Operation, budget: Budget
    ) -> None:
        """The operation's raw-SQL floor at the budget's concurrency, once per run."""
        key = f"{op.floor}@{budget.concurrency}"
        if not op.floor or key in self.floors:
            return
        floor_job = FloorJob(op.floor, self.dsn, fx, budget, FLOOR_POOL)
        floor = await self._job(server, pool, run_floor, floor_job)
        self.floors[key] = floor
        log(f"{'  floor ' + op.floor:28} c={budget.concurrency:<3} {line(floor)}")

    async def start_http_floor(self) -> None:
        floor = HttpFloor(self.dsn, self.args.out / f"{self.run_id}-http-floor.log")
        await asyncio.to_thread(floor.start)
        self.http_floor = floor
        log(f"HTTP floor (Starlette + asyncpg) on {floor.base_url}")

    async def _http_floor(self, pool: Any, fx: Fixtures, op: Operation, budget: Budget) -> None:
        """The operation served by the HTTP floor at the budget's concurrency."""
        if self.http_floor is None or op.key not in HTTP_FLOOR_OPERATIONS:
            return
        self.seq += 10_000_000
        job = HttpJob(op.key, self.http_floor.base_url, fx, budget, self.seq)
        result = await self._job(self.http_floor, pool, run_http, job)
        self.http_floors[f"{op.key}@{budget.concurrency}"] = result
        log(f"{'  HTTP floor':28} c={budget.concurrency:<3} {line(result)}")

    async def http(self, server: Server, pool: Any, fx: Fixtures) -> None:
        args = self.args
        profile = {p for p in args.profile.split(",") if p}
        for op in OPERATIONS:
            if not self.selected(op):
                continue
            for level in self.levels:
                budget = Budget(level, args.duration, args.max_requests, args.warmup)
                self.seq += 10_000_000
                job = HttpJob(op.key, server.base_url, fx, budget, self.seq)
                result = await self._job(server, pool, run_http, job)
                row = {
                    "key": op.key,
                    "label": op.label,
                    "concurrency": str(level),
                    "floor": op.floor,
                    **result,
                }
                self.results.append(row)
                log(f"{op.key:28} c={level:<3} {line(row)}")
                if op.write:
                    await self._wait_outbox(server)
                await self._floor(server, pool, fx, op, budget)
                await self._http_floor(pool, fx, op, budget)
            if op.key in profile:
                await self.profile(server, pool, fx, op)

    async def postgraphile(self, imi: Server, pool: Any, fx: Fixtures) -> None:
        """The dashboard and the trace served by PostGraphile 4 on the same database."""
        # With iMi's operation (--only graphql.dashboard) or on their own (--only peer.).
        ops = [
            op
            for op in PEER_OPERATIONS
            if self.selected(op) or self.selected(BY_KEY[PEER_OF[op.key]])
        ]
        if not ops:
            return
        if not self.args.postgraphile:
            self.peers["postgraphile"] = {"skipped": "--no-postgraphile"}
            return
        installed = await asyncio.to_thread(postgraphile.install)
        if isinstance(installed, str):
            log(f"PostGraphile peer rows skipped: {installed}")
            self.peers["postgraphile"] = {"skipped": installed}
            return
        peer = postgraphile.PostGraphile(
            installed, self.dsn, self.args.out / f"{self.run_id}-postgraphile.log"
        )
        info: dict[str, Any] = {
            "version": installed.version,
            "command": "postgraphile -c <dsn> --schema public " + " ".join(postgraphile.FLAGS),
        }
        self.peers["postgraphile"] = info
        try:
            try:
                await asyncio.to_thread(peer.start)
            except Exception as exc:
                log(f"PostGraphile peer rows skipped: {exc}")
                info["skipped"] = str(exc)
                return
            log(f"PostGraphile {installed.version} pid {peer.pid} on {peer.base_url}")
            try:
                info["check"] = await postgraphile.verify(imi.base_url, peer.base_url, fx)
            except Exception as exc:
                # Measured all the same, with the failed check in the report.
                log(f"PostGraphile: the same-data check failed: {exc}")
                info["check_error"] = str(exc)[:500]
            for name, check in info.get("check", {}).items():
                same = "same" if check["same"] else "DIFFERENT"
                log(
                    f"  {name}: iMi {postgraphile.counts_line(check['imi'])}; PostGraphile "
                    f"{postgraphile.counts_line(check['postgraphile'])} ({same})"
                )
            for op in ops:
                for level in self.levels:
                    args = self.args
                    budget = Budget(level, args.duration, args.max_requests, args.warmup)
                    self.seq += 10_000_000
                    job = HttpJob(op.key, peer.base_url, fx, budget, self.seq)
                    result = await self._job(peer, pool, run_http, job)
                    row = {
                        "key": op.key,
                        "label": op.label,
                        "concurrency": str(level),
                        "floor": op.floor,
                        "peer_of": PEER_OF[op.key],
                        **result,
                    }
                    self.results.append(row)
                    log(f"{op.key:28} c={level:<3} {line(row)}")
                    await self._floor(peer, pool, fx, op, budget)
        finally:
            await asyncio.to_thread(peer.stop)

    async def multi_worker(self, pool: Any, fx: Fixtures) -> None:
        """The c=50 reads again against ``imi serve --workers N`` (a server of its own)."""
        ops = [BY_KEY[key] for key in MULTI_WORKER_OPERATIONS if self.selected(BY_KEY[key])]
        if not ops:
            return
        workers = self.args.workers
        server = Server(
            self.dsn,
            self.args.amqp_url,
            self.exchange,
            self.prefix,
            self.args.out / f"{self.run_id}-workers{workers}.log",
            workers=workers,
        )
        try:
            # N workers start slower than one (each imports the app; on a loaded machine uvicorn's
            # health check may restart a worker still starting): a longer wait, and its time.
            server.start(timeout=WORKERS_START_TIMEOUT)
            log(
                f"imi serve --workers {workers} pid {server.pid} on {server.base_url}, "
                f"healthy after {server.started_in:.1f} s"
            )
            self.starts[f"imi serve --workers {workers}"] = round(server.started_in, 1)
            level = CONCURRENT_AGENTS
            for op in ops:
                budget = Budget(level, self.args.duration, self.args.max_requests, self.args.warmup)
                self.seq += 10_000_000
                job = HttpJob(op.key, server.base_url, fx, budget, self.seq)
                before = server.child_pids()
                result = await self._job(server, pool, run_http, job)
                # uvicorn replaces a worker that misses its health check (5 s): on a loaded
                # machine that happens mid-measurement, and the row measures fewer workers.
                restarts = len(server.child_pids() - before)
                if restarts:
                    result["worker_restarts"] = restarts
                    log(f"  {restarts} worker(s) of imi serve replaced during the measurement")
                row = {
                    "key": op.key,
                    "label": f"{op.label}, `--workers {workers}`",
                    "concurrency": str(level),
                    "floor": op.floor,
                    "workers": workers,
                    **result,
                }
                self.results.append(row)
                log(f"{op.key:28} c={level:<3} workers={workers} {line(row)}")
        finally:
            server.stop()

    async def mix(self, server: Server, pool: Any, fx: Fixtures) -> None:
        args = self.args
        self.seq += 10_000_000
        job = MixJob(
            server.base_url,
            fx,
            args.agents,
            args.agent_interval,
            max(2.5 * args.duration, 10.0),
            AGENT_MIX,
            self.seq,
        )
        loop = asyncio.get_running_loop()
        wall, cpu = time.perf_counter(), server.cpu_seconds()
        results: dict[str, dict[str, Any]] = await loop.run_in_executor(pool, run_mix, job)
        server_cpu = round(100 * (server.cpu_seconds() - cpu) / (time.perf_counter() - wall), 1)
        for key, stats in results.items():
            row = {
                "key": f"mix.{key}",
                "label": f"{args.agents} agents mix: {BY_KEY[key].label}",
                "concurrency": f"{args.agents} agents",
                "floor": None,
                "server_cpu_pct": server_cpu,
                "agent_interval_s": args.agent_interval,
                **stats,
            }
            self.results.append(row)
            log(f"{row['key']:28} {row['concurrency']:<10} {line(row)}")
        await self._wait_outbox(server)

    async def profile(self, server: Server, pool: Any, fx: Fixtures, op: Operation) -> None:
        level = max(self.levels)
        budget = Budget(level, self.args.duration, self.args.max_requests, 0.5)
        self.seq += 10_000_000
        path = self.args.out / f"{self.run_id}-profile-{op.key}-c{level}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        sampler = Sampler(server.pid, self.args.duration, path)
        job = HttpJob(op.key, server.base_url, fx, budget, self.seq)
        await self._job(server, pool, run_http, job)
        summary = await asyncio.to_thread(sampler.finish)
        self.profiles[f"{op.key}@{level}"] = summary
        path.with_suffix(".summary.txt").write_text(summary + "\n")
        log(f"profile of {op.key} at c={level}: {path.with_suffix('.summary.txt')}")
        if op.write:
            await self._wait_outbox(server)

    async def events(self, server: Server, pool: Any, fx: Fixtures) -> None:
        await self._wait_outbox(server)
        job = EventsJob(
            dsn=self.dsn,
            amqp_url=self.args.amqp_url,
            exchange=self.exchange,
            base_url=server.base_url,
            fixtures=fx,
            duration=min(self.args.duration, 5.0),
            burst=self.args.burst,
            sequential=200,
            tag=self.tag,
        )
        loop = asyncio.get_running_loop()
        rows: list[dict[str, Any]] = await loop.run_in_executor(pool, run_events, job)
        for row in rows:
            self.results.append(row)
            log(f"{row['key']:28} {row['concurrency']:<10} {line(row)}")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    asyncio.run(Runner(args).run())


if __name__ == "__main__":
    main()
