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

from benchmarks.config import AMBITION, CONCURRENT_AGENTS, ISSUE_TARGETS, TARGETS, IssueTarget


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
        if row.get("worker_restarts"):
            errors += f" ({row['worker_restarts']} worker restarts)"
        lines.append(
            f"| {row['label']}{errors} | {row['concurrency']} | {_ms(row.get('p50_ms'))} | "
            f"{_ms(row.get('p95_ms'))} | {_ms(row.get('p99_ms'))} | {_rate(row.get('rps'))} | "
            f"{ratio} | {target} | {result} | {_pct(row.get('server_cpu_pct'))} |"
        )
    return head + "\n".join(lines) + "\n"


def _find(
    results: list[dict[str, Any]], key: str, concurrency: str, workers: bool
) -> dict[str, Any] | None:
    """The row of ``key`` at ``concurrency`` ("burst": any burst), with or without --workers."""
    for row in results:
        if row["key"] != key or bool(row.get("workers")) != workers:
            continue
        c = str(row["concurrency"])
        if c == concurrency or (concurrency == "burst" and c.startswith("burst")):
            return row
    return None


def _number(value: Any) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)


def _judge(
    target: IssueTarget, results: list[dict[str, Any]], floors: dict[str, dict[str, Any]]
) -> tuple[float | None, str, str]:
    """(value, measured, detail) of one issue target; value None when it was not measured."""
    row = _find(results, target.key, target.concurrency, target.workers)
    if row is None:
        why = "not measured"
        if target.workers:
            why += " (needs `--workers N`, N > 1, and c=50)"
        elif target.peer:
            why += " (needs the PostGraphile peer)"
        return None, "—", why
    errors = f"; {row['errors']} errors" if row.get("errors") else ""
    if row.get("worker_restarts"):
        errors += f"; {row['worker_restarts']} worker restarts"
    workers = f"`--workers {row['workers']}`: " if row.get("workers") else ""
    c = str(row["concurrency"])
    if target.measure in ("p50_vs_floor", "rps_vs_floor"):
        floor = floors.get(f"{row.get('floor')}@{c}")
        if floor is None:
            return None, "—", f"no floor at c={c}"
        if target.measure == "p50_vs_floor":
            mine, base = _number(row.get("p50_ms")), _number(floor.get("p50_ms"))
            if mine is None or not base:
                return None, "—", "no p50"
            value = mine / base
            detail = f"{workers}p50 {_ms(mine)} ms / floor {_ms(base)} ms{errors}"
            return value, f"{value:.1f}x", detail
        mine, base = _number(row.get("rps")), _number(floor.get("rps"))
        if mine is None or not base:
            return None, "—", "no throughput"
        value = mine / base
        detail = f"{workers}{_rate(mine)} req/s / floor {_rate(base)} req/s{errors}"
        return value, f"{100 * value:.0f}%", detail
    if target.measure == "p50_vs_peer":
        peer = _find(results, target.peer or "", c, False)
        if peer is None:
            return None, "—", "not measured (no PostGraphile peer row)"
        mine, base = _number(row.get("p50_ms")), _number(peer.get("p50_ms"))
        if mine is None or not base:
            return None, "—", "no p50"
        ratio = mine / base
        detail = f"p50 {_ms(mine)} ms / PostGraphile {_ms(base)} ms{errors}"
        return ratio, f"{ratio:.1f}x", detail
    figure = _number(row.get(target.measure))
    if figure is None:
        return None, "—", f"no {target.measure}"
    if target.measure == "rps":
        return figure, f"{_rate(figure)} msg/s", f"{c}{errors}"
    return figure, f"{_ms(figure)} ms", f"{workers}c={c}{errors}"


def issue_targets(
    results: list[dict[str, Any]], floors: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """One row per target of issue 14, with pass/miss as the issue states the target."""
    rows = []
    for target in ISSUE_TARGETS:
        value, measured, detail = _judge(target, results, floors)
        if value is None:
            result = "—"
        elif target.at_least:
            result = "pass" if value >= target.limit else "**miss**"
        else:
            result = "pass" if value <= target.limit else "**miss**"
        rows.append(
            {
                "path": target.path,
                "now": target.now,
                "target": target.goal,
                "measured": measured,
                "value": None if value is None else round(value, 4),
                "detail": detail,
                "result": result,
            }
        )
    return rows


def issue_table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| Issue 14 target | before (issue) | target | measured | from | result |\n"
        "|---|---|---|---|---|---|\n"
    )
    lines = [
        f"| {r['path']} | {r['now']} | {r['target']} | {r['measured']} | {r['detail']} | "
        f"{r['result']} |"
        for r in rows
    ]
    met = sum(1 for r in rows if r["result"] == "pass")
    judged = sum(1 for r in rows if r["result"] != "—")
    return head + "\n".join(lines) + f"\n\nIssue 14 targets met: {met} of {judged} measured.\n"


def peer_table(doc: dict[str, Any]) -> str:
    """iMi next to PostGraphile 4 on the same reads, and the check that they return as much."""
    info = doc.get("peers", {}).get("postgraphile")
    if not info:
        return ""
    if "skipped" in info:
        return f"PostGraphile peer rows skipped: {info['skipped']}.\n"
    results = doc["results"]
    floors = doc["floors"]
    head = (
        "| Query | c | iMi p50 ms | PostGraphile p50 ms | iMi p95 ms | PostGraphile p95 ms "
        "| iMi req/s | PostGraphile req/s | iMi / PostGraphile (p50) | PostGraphile vs floor "
        "(p50) |\n|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for peer in results:
        if not peer.get("peer_of"):
            continue
        c = str(peer["concurrency"])
        mine = _find(results, peer["peer_of"], c, False) or {}
        floor = floors.get(f"{peer.get('floor')}@{c}") or {}
        ratio = vs_floor = "—"
        if mine.get("p50_ms") and peer.get("p50_ms"):
            ratio = f"{mine['p50_ms'] / peer['p50_ms']:.1f}x"
        if floor.get("p50_ms") and peer.get("p50_ms"):
            vs_floor = f"{peer['p50_ms'] / floor['p50_ms']:.1f}x"
        errors = f" ({peer['errors']} errors)" if peer.get("errors") else ""
        lines.append(
            f"| {mine.get('label', peer['label'])}{errors} | {c} | {_ms(mine.get('p50_ms'))} | "
            f"{_ms(peer.get('p50_ms'))} | {_ms(mine.get('p95_ms'))} | {_ms(peer.get('p95_ms'))} | "
            f"{_rate(mine.get('rps'))} | {_rate(peer.get('rps'))} | {ratio} | {vs_floor} |"
        )
    notes = [f"PostGraphile {info.get('version', '?')}: `{info.get('command', '')}`."]
    if "check_error" in info:
        notes.append(f"**The same-data check failed**: {info['check_error']}.")
    for name, check in info.get("check", {}).items():
        what = "the dashboard"
        if name != "dashboard":
            what = f"the trace of {check['tickets']} tickets"
        imi_counts = ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in check["imi"].items())
        if check["same"]:
            verdict_text = f"the same nodes from both ({imi_counts})"
        else:
            pg_counts = ", ".join(
                f"{v:,} {k.replace('_', ' ')}" for k, v in check["postgraphile"].items()
            )
            verdict_text = f"**different**: iMi {imi_counts}; PostGraphile {pg_counts}"
        order = ""
        if "same_order" in check:
            order = "; same order" if check["same_order"] else "; **different order**"
        notes.append(f"Counted in {what}: {verdict_text}{order}.")
    return head + "\n".join(lines) + "\n\n" + " ".join(notes) + "\n"


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


def http_floor_table(doc: dict[str, Any]) -> str:
    """iMi next to the HTTP floor (the same requests, a bare Starlette + asyncpg app) and the
    raw-SQL floor: what iMi's own layers cost, apart from what any Python HTTP service pays."""
    http_floors = doc.get("http_floors") or {}
    if not http_floors:
        return ""
    # The single-process rows: the HTTP floor is one process too.
    by_key = {(r["key"], str(r["concurrency"])): r for r in doc["results"] if not r.get("workers")}
    head = (
        "| Operation | c | iMi p50 ms | HTTP floor p50 ms | raw floor p50 ms | iMi / HTTP floor "
        "| HTTP floor / raw floor | iMi req/s | HTTP floor req/s |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for key_c, floor in http_floors.items():
        key, c = key_c.split("@")
        row = by_key.get((key, c))
        if row is None:
            continue
        raw = doc["floors"].get(f"{row.get('floor')}@{c}", {})
        imi_p50, http_p50, raw_p50 = row["p50_ms"], floor["p50_ms"], raw.get("p50_ms")
        ratio = f"{imi_p50 / http_p50:.1f}x" if http_p50 else "—"
        http_ratio = f"{http_p50 / raw_p50:.1f}x" if raw_p50 else "—"
        lines.append(
            f"| {row['label']} | {c} | {_ms(imi_p50)} | {_ms(http_p50)} | {_ms(raw_p50)} | "
            f"{ratio} | {http_ratio} | {_rate(row['rps'])} | {_rate(floor['rps'])} |"
        )
    return head + "\n".join(lines) + "\n"


def _background_note(m: dict[str, Any]) -> list[str]:
    busy = m.get("background_load_pct")
    if busy is None:
        return []
    if busy > 10:
        return [f"**Warning:** the machine was {busy:.0f}% busy before the run started.", ""]
    return [f"Machine idle before the run ({busy:.0f}% busy).", ""]


def _run_notes(doc: dict[str, Any]) -> list[str]:
    """Phases that failed (their rows are missing) and how long the servers took to start."""
    notes = []
    for phase, error in doc.get("failures", {}).items():
        notes += [f"**The {phase} phase failed** (its rows are missing): {error}", ""]
    starts = doc.get("server_start_s", {})
    if starts:
        text = ", ".join(f"`{name}` {seconds:g} s" for name, seconds in starts.items())
        notes += [f"Servers healthy (broker connected) after: {text}.", ""]
    return notes


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
        *_run_notes(doc),
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
        http_floor_table(doc),
        issue_table(doc.get("issue_targets") or issue_targets(doc["results"], doc["floors"])),
        peer_table(doc),
        "c = concurrent clients (closed loop); `burst N` = N messages or events at once. "
        "Latency is client-side, per request. vs floor = iMi p50 / raw-SQL p50 at the same "
        "concurrency. HTTP floor = the same requests answered by a bare Starlette + asyncpg app "
        "on uvicorn (`benchmarks/http_floor.py`: iMi's paths and statements, orjson; no "
        "authentication, limits or validation). Server CPU = the iMi process (with "
        "`--workers N`: all of its workers), in % "
        "of one core (each process runs one event loop). Rows marked `--workers N` ran against "
        "`imi serve --workers N` after the others, on the same dataset. Rows marked `peer` are "
        "the same reads served by PostGraphile 4 on the same database, right after iMi's rows, "
        "with the same load generator (server CPU: its Node process). "
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
