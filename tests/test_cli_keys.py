"""``imi keys create|list|revoke`` against the test database, as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

IMI = str(Path(sys.executable).with_name("imi"))
DEADLINE = 120  # seconds: tolerant of a loaded machine


def imi(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "IMI_DATABASE_URL": database_url, "IMI_LOG_LEVEL": "WARNING"}
    return subprocess.run(
        [IMI, "keys", *args], capture_output=True, text=True, env=env, timeout=DEADLINE
    )


async def test_create_list_revoke(database_url: str, engine: AsyncEngine) -> None:
    created = imi(database_url, "create", "--name", "ci", "--scope", "imi:read", "--expires", "30d")
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("imi_")
    async with engine.connect() as conn:
        stored = (await conn.execute(text("SELECT name, scope, secret_hash FROM api_keys"))).one()
    assert stored[:2] == ("ci", "imi:read") and secret not in stored[2]

    as_json = imi(database_url, "create", "--name", "agent", "--scope", "imi:write", "--json")
    key: dict[str, Any] = json.loads(as_json.stdout)
    assert key["scope"] == "imi:write" and key["secret"].startswith(f"imi_{key['prefix']}_")

    listed = json.loads(imi(database_url, "list", "--json").stdout)
    assert {k["name"] for k in listed} == {"ci", "agent"}
    assert all("secret" not in k and k["active"] for k in listed)
    assert secret not in imi(database_url, "list").stdout

    revoked = imi(database_url, "revoke", key["id"])
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    after = {k["name"]: k["active"] for k in json.loads(imi(database_url, "list", "--json").stdout)}
    assert after == {"ci": True, "agent": False}


async def test_bad_input_exits_non_zero_with_the_reason(
    database_url: str, engine: AsyncEngine
) -> None:
    for args, words in (
        (("create", "--name", "x", "--scope", "root"), "Invalid scope"),
        (("create", "--name", "x", "--scope", "imi:read", "--project", "nope"), "UUID"),
        (
            ("create", "--name", "x", "--scope", "imi:read", "--project", str(uuid.uuid4())),
            "not found",
        ),
        (("create", "--name", "x", "--scope", "imi:read", "--expires", "soon"), "expires"),
        (("revoke", str(uuid.uuid4())), "not found"),
        (("revoke", "nope"), "UUID"),
    ):
        result = imi(database_url, *args)
        assert result.returncode != 0, args
        assert words in result.stderr, (args, result.stderr)
