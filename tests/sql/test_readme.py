"""The README's SQL examples run as written."""

from __future__ import annotations

from pathlib import Path

import asyncpg

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
SECTION = README.split("## SQL functions and views", 1)[1].split("\n## ", 1)[0]


def _block(start: str, end: str) -> str:
    return SECTION.split(start, 1)[1].split(end, 1)[0]


async def test_the_psql_example_runs_and_answers_as_shown(db: asyncpg.Connection) -> None:
    await db.execute(_block("<<'SQL'\n", "\nSQL\n"))
    rows = await db.fetch("SELECT * FROM get_inflight_work()")
    assert [
        (r["worktree_name"], r["status"], r["uncommitted_count"], r["ahead"]) for r in rows
    ] == [("feat-user-auth", "uncommitted", 5, 3)]
    assert await db.fetchval("SELECT count(*) FROM projects") == 1  # registered once
    keys = [r["routing_key"] for r in await db.fetch("SELECT routing_key FROM events ORDER BY id")]
    for key in keys:
        assert f"`{key}`" in SECTION
    views = "SELECT name" + _block("```sql\nSELECT name", "```")
    queries = [line for line in views.splitlines() if line.startswith("SELECT")]
    assert len(queries) == 3
    for query in queries:
        assert await db.fetch(query)
