"""The installed `imi` as a real process: output, exit codes, and a light import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.cli.conftest import TERMINAL, Live

IMI = str(Path(sys.executable).with_name("imi"))  # what `uv run imi` executes
SERVER_STACK = (
    "fastapi",
    "starlette",
    "sqlalchemy",
    "sqlmodel",
    "uvicorn",
    "strawberry",
    "alembic",
)


def _run(*args: str, url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMI_")}
    env.update(TERMINAL)
    if url is not None:
        env["IMI_URL"] = url
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)


def test_the_console_script_against_a_server(live: Live) -> None:
    done = _run(IMI, "projects", "register", "https://github.com/acme/app", "--json", url=live.url)
    assert done.returncode == 0, done.stderr
    project = json.loads(done.stdout)
    done = _run(IMI, "projects", "list", "--json", url=live.url)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == live.data("GET", "/projects") == [project]

    done = _run(IMI, "work", "start", project["id"], "feat/PROJ-5-x", url=live.url)
    assert done.returncode == 0, done.stderr
    done = _run(IMI, "trace", "ticket", "PROJ-5", url=live.url)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "ticket PROJ-5"
    assert lines[1].startswith("└── references: work feat/PROJ-5-x in app (feature, clean, active)")

    done = _run(IMI, "trace", "ticket", "PROJ-6", url=live.url)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.strip() == "error: NOT_FOUND: ticket PROJ-6 not found (field: entity_id)"
    done = _run(IMI, "projects", "get", "nope", url=live.url)
    assert done.returncode == 2 and "is not a project id" in done.stderr


def test_client_commands_do_not_import_the_server_stack(live: Live) -> None:
    script = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from imi.cli import app\n"
        f"result = CliRunner().invoke(app, ['projects', 'list', '--url', {live.url!r}])\n"
        "assert result.exit_code == 0, result.output\n"
        f"print(sorted(m for m in {SERVER_STACK!r} if m in sys.modules))\n"
    )
    done = _run(sys.executable, "-c", script)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_help_and_module_entry_points() -> None:
    done = _run(sys.executable, "-m", "imi.cli", "--help")
    assert done.returncode == 0, done.stderr
    for group in ("projects", "work", "link", "trace", "components", "activities", "stats", "mcp"):
        assert group in done.stdout
    done = _run(IMI, "mcp", "--help")
    assert done.returncode == 0 and "stdio" in done.stdout, done.stderr
    done = _run(IMI, "projects", "list", "--help")
    assert "IMI_URL" in done.stdout and "IMI_API_KEY" in done.stdout and "--json" in done.stdout


def test_piped_output_keeps_each_row_on_one_line(live: Live) -> None:
    """Without a terminal (and no COLUMNS) rows are not folded at rich's 80 columns: a pipe
    into grep sees whole rows."""
    origin = "https://github.com/acme/a-repository-with-a-rather-long-name-for-folding"
    live.data("POST", "/projects", json={"remote_origin": origin})
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMI_") and k != "COLUMNS"}
    env.update(IMI_URL=live.url, NO_COLOR="1")
    done = subprocess.run(
        [IMI, "projects", "list"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    (row,) = [line for line in done.stdout.splitlines() if "a-repository" in line]
    assert origin in row and len(row) > 120
