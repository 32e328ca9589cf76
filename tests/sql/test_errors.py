"""Bad input: each SQL function refuses what its REST call refuses, with the matching error
(VALIDATION_ERROR 400 <-> SQLSTATE 22023, NOT_FOUND 404 <-> P0002, CONFLICT 409 <-> 23505 for
a duplicate or 55000 for a finished or deactivated target), the field named, nothing written."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest

from tests.api.conftest import API, error, ok
from tests.sql.support import last_event_id

STATUS = {"VALIDATION_ERROR": 400, "NOT_FOUND": 404, "CONFLICT": 409}
ORIGIN = "git@github.com:acme/errors.git"
DEEP: Any = 1
for _ in range(40):
    DEEP = {"a": DEEP}


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str
    body: dict[str, Any]
    sql: str
    args: tuple[Any, ...]
    code: str
    sqlstate: str
    field: str


def _register(body: dict[str, Any], code: str, sqlstate: str, field: str, name: str) -> Case:
    full = {"remote_origin": ORIGIN, **body}
    args = (
        full.get("name"),
        full["remote_origin"],
        full.get("default_branch", "main"),
        full.get("trunk_path"),
        json.dumps(full.get("metadata", {})),
    )
    sql = "SELECT register_project($1, $2, $3, $4, $5::jsonb)"
    return Case(name, "POST", "/projects/register", full, sql, args, code, sqlstate, field)


WORKTREE = {"type": "feat", "name": "feat-b", "branch_name": "feat/b", "path": "/srv/b"}


def _worktree(
    project: str, body: dict[str, Any], code: str, sqlstate: str, field: str, name: str
) -> Case:
    full = {**WORKTREE, **body}
    args = (project, full["type"], full["name"], full["branch_name"], full["path"])
    sql = "SELECT register_worktree($1::uuid, $2, $3, $4, $5)"
    path = f"/projects/{project}/worktrees"
    return Case(name, "POST", path, full, sql, args, code, sqlstate, field)


def _git(
    worktree: str, body: dict[str, Any], code: str, sqlstate: str, field: str, name: str
) -> Case:
    sql = (
        "SELECT update_worktree_git_state($1::uuid, p_uncommitted_count => $2,"
        " p_last_commit_hash => $3)"
    )
    args = (worktree, body.get("uncommitted_count"), body.get("last_commit_hash"))
    path = f"/worktrees/{worktree}/git-state"
    return Case(name, "PATCH", path, body, sql, args, code, sqlstate, field)


ACTIVITY = {"agent_id": "agent-1", "activity_type": "modified", "description": "did it"}


def _activity(
    worktree: str, body: dict[str, Any], code: str, sqlstate: str, field: str, name: str
) -> Case:
    full = {**ACTIVITY, "worktree_id": worktree, **body}
    sql = "SELECT log_activity($1, $2::uuid, $3, $4, $5, $6::jsonb)"
    args = (
        full["agent_id"],
        full["worktree_id"],
        full["activity_type"],
        full["description"],
        full.get("file_path"),
        json.dumps(full.get("metadata", {})),
    )
    return Case(name, "POST", "/activities", full, sql, args, code, sqlstate, field)


V, N, C = "VALIDATION_ERROR", "NOT_FOUND", "CONFLICT"
CASES = [
    _register({"remote_origin": ""}, V, "22023", "remote_origin", "empty origin"),
    _register({"remote_origin": "ftp://h/a/b"}, V, "22023", "remote_origin", "bad scheme"),
    _register(
        {"remote_origin": "git@github.com:a/" + "b" * 2000},
        V,
        "22023",
        "remote_origin",
        "origin too long",
    ),
    _register({"name": "  "}, V, "22023", "name", "blank name"),
    _register({"name": "n" * 256}, V, "22023", "name", "name too long"),
    _register({"default_branch": ""}, V, "22023", "default_branch", "empty branch"),
    _register({"trunk_path": "/" + "t" * 1024}, V, "22023", "trunk_path", "trunk too long"),
    _register({"metadata": DEEP}, V, "22023", "metadata", "metadata too deep"),
    _worktree("{X}", {}, N, "P0002", "project_id", "unknown project"),
    _worktree("{D}", {}, C, "55000", "project_id", "deactivated project"),
    _worktree("{P}", {"type": "nope"}, V, "22023", "type", "bad type"),
    _worktree("{P}", {"branch_name": "feat/a..b"}, V, "22023", "branch_name", "bad branch"),
    _worktree("{P}", {"branch_name": "-x"}, V, "22023", "branch_name", "dash branch"),
    _worktree("{P}", {"path": "rel/path"}, V, "22023", "path", "relative path"),
    _worktree("{P}", {"path": "/a/../b"}, V, "22023", "path", "dotdot path"),
    _worktree("{P}", {"name": "a/b"}, V, "22023", "name", "slash name"),
    _worktree("{P}", {"name": ".."}, V, "22023", "name", "dotdot name"),
    _worktree("{P}", {"branch_name": "feat/a"}, C, "23505", "branch_name", "same branch"),
    _worktree("{P}", {"name": "feat-a"}, C, "23505", "name", "same name"),
    _git("{X}", {"uncommitted_count": 1}, N, "P0002", "work_item_id", "unknown worktree"),
    _git("{M}", {"uncommitted_count": 1}, C, "55000", "work_item_id", "merged worktree"),
    _git(
        "{W}",
        {"uncommitted_count": -1},
        V,
        "22023",
        "uncommitted_files_count",
        "negative count",
    ),
    _git("{W}", {"last_commit_hash": "h" * 256}, V, "22023", "last_commit_hash", "long hash"),
    _activity("{X}", {}, N, "P0002", "work_item_id", "activity on nothing"),
    _activity("{W}", {"activity_type": "nope"}, V, "22023", "activity_type", "bad type"),
    _activity("{W}", {"description": ""}, V, "22023", "description", "empty description"),
    _activity("{W}", {"agent_id": "  "}, V, "22023", "agent_id", "blank agent"),
    _activity("{W}", {"file_path": "f" * 1025}, V, "22023", "file_path", "long file path"),
    _activity("{W}", {"metadata": DEEP}, V, "22023", "metadata", "deep metadata"),
]


async def _fixtures(client: httpx.AsyncClient) -> dict[str, str]:
    """P: a project with worktree W (feat/a, feat-a) and merged M; D: a deactivated project."""
    project = ok(await client.post(f"{API}/projects", json={"remote_origin": ORIGIN}), 201)
    p = str(project["id"])  # type: ignore[index]
    gone = {"remote_origin": "git@github.com:acme/gone.git"}
    d = str(ok(await client.post(f"{API}/projects", json=gone), 201)["id"])  # type: ignore[index]
    assert (await client.delete(f"{API}/projects/{d}")).status_code == 204
    ids = {"P": p, "D": d, "X": str(uuid.uuid4())}
    for key, branch in (("W", "feat/a"), ("M", "fix/m")):
        body = {**WORKTREE, "name": "", "branch_name": branch}
        data = ok(await client.post(f"{API}/projects/{p}/worktrees", json=body), 201)
        ids[key] = str(data["id"])  # type: ignore[index]
    ok(await client.post(f"{API}/worktrees/{ids['M']}/merge", json={}))
    return ids


def _fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        for key, found in ids.items():
            value = value.replace("{" + key + "}", found)
        return value
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


COUNTS = (
    "SELECT (SELECT count(*) FROM projects WHERE active), (SELECT count(*) FROM work_items),"
    " (SELECT count(*) FROM activities), (SELECT count(*) FROM tickets)"
)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_bad_input_is_refused_alike(
    client: httpx.AsyncClient, db: asyncpg.Connection, case: Case
) -> None:
    ids = await _fixtures(client)
    mark = await last_event_id(db)
    before = tuple(await db.fetchrow(COUNTS))
    response = await client.request(
        case.method, API + _fill(case.path, ids), json=_fill(case.body, ids)
    )
    error(response, STATUS[case.code], case.code)
    with pytest.raises(asyncpg.PostgresError) as raised:
        await db.fetchval(case.sql, *(_fill(arg, ids) for arg in case.args))
    exc = raised.value
    assert exc.sqlstate == case.sqlstate, exc
    assert exc.column_name == case.field, exc
    assert json.loads(exc.detail or "{}") == {"code": case.code, "field": case.field}
    assert await last_event_id(db) == mark  # neither side wrote an event
    assert tuple(await db.fetchrow(COUNTS)) == before
