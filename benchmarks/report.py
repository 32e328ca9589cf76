"""The machine description, the markdown tables and the JSON file."""

from __future__ import annotations

import json
import math
import os
import platform
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import psutil

from benchmarks.config import AMBITION, CONCURRENT_AGENTS, TARGETS


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


async def machine(dsn: str, amqp_url: str) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        pg_version = await conn.fetchval("SHOW server_version")
    finally:
        await conn.close()
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        transport = connection.transport
        props: dict[str, Any] = dict(transport.connection.server_properties) if transport else {}
        product, version = props.get("product", "RabbitMQ"), props.get("version", "?")
        rabbit = " ".join(
            v.decode() if isinstance(v, bytes) else str(v) for v in (product, version)
        )
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "postgresql": str(pg_version).split(" ")[0],
        "rabbitmq": rabbit,
    }


def machine_line(m: dict[str, Any]) -> str:
    return (
        f"{m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, {m['os']}, "
        f"Python {m['python']}, PostgreSQL {m['postgresql']}, {m['rabbitmq']}; "
        "server, PostgreSQL, RabbitMQ and load generator share the machine"
    )


def _ms(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}%"


def verdict(key: str, row: dict[str, Any]) -> tuple[str, str]:
    """(target label, pass/miss with headroom) for a row."""
    target = TARGETS.get(key.removeprefix("mix."))
    if target is None:
        return "—", "—"
    value = row.get(target.metric)
    if value is None or math.isnan(value):
        return target.label, "—"
    if value <= 0:
        return target.label, "pass"
    headroom = target.limit / value
    if value < target.limit:
        goal = f", {AMBITION:.0f}x goal met" if headroom >= AMBITION else ""
        return target.label, f"pass ({headroom:.1f}x{goal})"
    return target.label, f"**miss** ({value / target.limit:.1f}x over)"


def derived(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows computed from others: what the event adds to a write; the 50-agent check."""
    by = {(r["key"], r["concurrency"]): r for r in results}
    rows = []
    # At concurrency 1 only: under saturation the difference is queueing noise.
    for c in ("1",):
        with_event, without = by.get(("rest.git_state", c)), by.get(("rest.git_state_noop", c))
        if with_event and without:
            rows.append(
                {
                    "key": "event.write_overhead",
                    "label": "event publishing adds (git-state with event - without)",
                    "concurrency": c,
                    **{
                        p: round(with_event[p] - without[p], 3)
                        for p in ("p50_ms", "p95_ms", "p99_ms")
                    },
                    "rps": None,
                    "errors": 0,
                }
            )
    c50 = [
        r
        for r in results
        if r["concurrency"] in (str(CONCURRENT_AGENTS), f"{CONCURRENT_AGENTS} agents")
        and r["key"].startswith(("rest.", "graphql.", "mix."))
    ]
    if c50:
        errors = sum(int(r.get("errors", 0)) for r in c50)
        requests = sum(int(r.get("requests", 0)) for r in c50)
        mix = [verdict(r["key"], r)[1] for r in c50 if r["key"].startswith("mix.")]
        judged = [v for v in mix if v != "—"]
        met = sum(1 for v in judged if v.startswith("pass"))
        targets = f", mix targets met {met}/{len(judged)}" if judged else ""
        ok = errors == 0 and met == len(judged)
        rows.append(
            {
                "key": "agents.concurrent",
                "label": f"{CONCURRENT_AGENTS} concurrent agents (c={CONCURRENT_AGENTS} and mix)",
                "concurrency": str(CONCURRENT_AGENTS),
                "requests": requests,
                "errors": errors,
                "verdict": (
                    f"{'pass' if ok else '**miss**'} ({requests:,} requests, {errors} errors"
                    f"{targets})"
                ),
            }
        )
    return rows


def table(results: list[dict[str, Any]], floors: dict[tuple[str, str], dict[str, Any]]) -> str:
    head = (
        "| Operation | c | p50 ms | p95 ms | p99 ms | req/s | vs floor (p50) | PRD target "
        "| result | server CPU |\n|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for row in results:
        if row["key"] == "agents.concurrent":
            target, result = "50+ concurrent agents", row["verdict"]
            lines.append(
                f"| {row['label']} | {row['concurrency']} | | | | | | {target} | {result} | |"
            )
            continue
        floor = floors.get((row.get("floor") or "", row["concurrency"]))
        ratio = "—"
        if floor and floor.get("p50_ms"):
            ratio = f"{row['p50_ms'] / floor['p50_ms']:.1f}x"
        target, result = verdict(row["key"], row)
        errors = f" ({row['errors']} errors)" if row.get("errors") else ""
        lines.append(
            f"| {row['label']}{errors} | {row['concurrency']} | {_ms(row.get('p50_ms'))} | "
            f"{_ms(row.get('p95_ms'))} | {_ms(row.get('p99_ms'))} | {_rate(row.get('rps'))} | "
            f"{ratio} | {target} | {result} | {_pct(row.get('server_cpu_pct'))} |"
        )
    return head + "\n".join(lines) + "\n"


def floor_table(floors: dict[tuple[str, str], dict[str, Any]]) -> str:
    head = (
        "| Raw asyncpg floor | c | p50 ms | p95 ms | p99 ms | req/s |\n|---|---|---|---|---|---|\n"
    )
    lines = [
        f"| {name} | {c} | {_ms(r['p50_ms'])} | {_ms(r['p95_ms'])} | {_ms(r['p99_ms'])} | "
        f"{_rate(r['rps'])} |"
        for (name, c), r in floors.items()
    ]
    return head + "\n".join(lines) + "\n"


def _background_note(m: dict[str, Any]) -> list[str]:
    busy = m.get("background_load_pct")
    if busy is None:
        return []
    if busy > 10:
        return [f"**Warning:** the machine was {busy:.0f}% busy before the run started.", ""]
    return [f"Machine idle before the run ({busy:.0f}% busy).", ""]


def markdown(doc: dict[str, Any]) -> str:
    ds = doc["dataset"]
    rows = ds["rows"]
    lines = [
        f"Run `{doc['run_id']}` ({doc['started_at']}), scale `{ds['scale']}`, "
        f"{doc['options']['duration']:g} s per operation and concurrency (+ warm-up).",
        "",
        f"Machine: {machine_line(doc['machine'])}.",
        "",
        *_background_note(doc["machine"]),
        f"Dataset: {rows['projects']:,} projects, {rows['work_items']:,} work items, "
        f"{rows['tickets']:,} tickets / {rows['ticket_links']:,} links, "
        f"{rows['pull_requests']:,} PRs, {rows['deployments']:,} deployments / "
        f"{rows['deployment_work_items']:,} shipped work items, {rows['components']:,} "
        f"components / {rows['component_relationships']:,} relationships, "
        f"{rows['activities']:,} activities; generated in {ds['total_seconds']:.1f} s "
        f"(build {ds['build_seconds']:.1f} s, COPY {ds['copy_seconds']:.1f} s, "
        f"VACUUM ANALYZE {ds['analyze_seconds']:.1f} s). Biggest project: "
        f"{doc['fixtures']['big_project_in_flight']:,} work items in flight.",
        "",
        table(doc["results"], {tuple(k.split("@")): v for k, v in doc["floors"].items()}),
        floor_table({tuple(k.split("@")): v for k, v in doc["floors"].items()}),
        "c = concurrent clients (closed loop); `burst N` = N messages or events at once. "
        "Latency is client-side, per request. vs floor = iMi p50 / raw-SQL p50 at the same "
        "concurrency. Server CPU = the iMi process (with `--workers N`: all of its workers), in % "
        "of one core (each process runs one event loop). Rows marked `--workers N` ran against "
        "`imi serve --workers N` after the others, on the same dataset. "
        "Events: `consume` latency runs from publish to the commit of the "
        "message's effect (LISTEN on the events table's NOTIFY); relay and commit-to-queue "
        "latency run from the commit to the message's arrival on a tap queue bound to the "
        "exchange.",
        "",
        "Reading the c=50 rows: 50 clients with no think time keep the one server process "
        "saturated, so latency is the queue (latency ≈ 50 / throughput); even the raw-SQL floor "
        "is past 10 ms p95 there. The `agents mix` rows are the realistic 50-agent load: 50 "
        "agents, each sending a request about once a second (think time exponential, mean "
        f"{doc['options'].get('agent_interval', 1.0):g} s; lookups, git-state reports, in-flight "
        "lists, traces, new work). Their latency is higher than at c=1 though the server is "
        "mostly idle: on this VM every wake-up of an idle process costs time, and each request "
        "crosses processes once per SQL round trip.",
        "",
    ]
    return "\n".join(lines)


def write(out_dir: Path, doc: dict[str, Any]) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = doc["run_id"]
    json_path = out_dir / f"{stamp}.json"
    md_path = out_dir / f"{stamp}.md"
    json_path.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    md_path.write_text(markdown(doc))
    return json_path, md_path
