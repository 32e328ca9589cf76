"""`imi ... --help` says each option's default and environment variable; they apply as shown."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from imi import cli
from imi.cli import server
from imi.settings import Settings

runner = CliRunner()
WIDE = {"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}


def _help(*args: str) -> str:
    result = runner.invoke(cli.app, [*args, "--help"], env=WIDE)
    assert result.exit_code == 0, result.output
    return result.output


def test_serve_help_shows_defaults_and_environment_variables() -> None:
    text = _help("serve")
    for expected in (
        "[default: 127.0.0.1]",
        "[env var: IMI_HOST]",
        "[default: 8080]",
        "[env var: IMI_PORT]",
        "[env var: IMI_MIGRATE_ON_START]",
        "[default: migrate]",
        "[env var: IMI_WORKERS]",
    ):
        assert expected in text, (expected, text)
    assert "<str>" not in text and "<bool>" not in text and "<int" not in text


def test_db_upgrade_help_shows_its_default() -> None:
    text = _help("db", "upgrade")
    assert "[default: head]" in text
    assert "<str>" not in text


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[Settings]:
    """`imi serve` with the database and uvicorn replaced: the settings it would serve with."""
    import imi.runtime

    seen: list[Settings] = []

    @contextmanager
    def database(settings: Settings, **_: Any) -> Iterator[str]:
        yield "postgresql://imi@127.0.0.1:1/imi"

    def run(settings: Settings, url: str) -> bool:
        seen.append(settings)
        return True

    monkeypatch.setattr(imi.runtime, "database", database)
    monkeypatch.setattr(server, "_run_uvicorn", run)
    monkeypatch.setattr(server, "configure_logging", lambda settings: None)  # keep the tests' own
    for name in ("IMI_HOST", "IMI_PORT", "IMI_MIGRATE_ON_START", "IMI_LOG_FORMAT"):
        monkeypatch.delenv(name, raising=False)
    return seen


def test_options_beat_environment_which_beats_dot_env(
    served: list[Settings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("IMI_HOST=10.1.2.3\nIMI_PORT=9001\n")

    result = runner.invoke(cli.app, ["serve"], env={"IMI_PORT": "9002"})
    assert result.exit_code == 0, result.output
    assert (served[-1].host, served[-1].port) == ("10.1.2.3", 9002)  # .env, then environment
    assert served[-1].migrate_on_start is True

    result = runner.invoke(
        cli.app, ["serve", "--port", "9003", "--no-migrate"], env={"IMI_PORT": "9002"}
    )
    assert result.exit_code == 0, result.output
    assert (served[-1].host, served[-1].port) == ("10.1.2.3", 9003)
    assert served[-1].migrate_on_start is False


def test_a_bad_environment_value_names_the_variable(served: list[Settings]) -> None:
    result = runner.invoke(cli.app, ["serve"], env={"IMI_PORT": "eighty", **WIDE})
    assert result.exit_code == 2
    assert "IMI_PORT" in result.output
    assert served == []


def test_workers_come_from_the_option_or_the_environment(served: list[Settings]) -> None:
    assert runner.invoke(cli.app, ["serve"]).exit_code == 0
    assert served[-1].workers is None  # decided by server.worker_count
    assert runner.invoke(cli.app, ["serve"], env={"IMI_WORKERS": "0"}).exit_code == 0
    assert served[-1].workers == 0  # one per core, counted when the workers start
    result = runner.invoke(cli.app, ["serve", "--workers", "3"], env={"IMI_WORKERS": "0"})
    assert result.exit_code == 0, result.output
    assert served[-1].workers == 3
    assert runner.invoke(cli.app, ["serve", "--workers", "-1"]).exit_code == 2


def test_worker_count_defaults_to_one_per_core_in_production_and_one_embedded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 6)
    production = "postgresql://db.internal/imi"
    assert server.worker_count(Settings(_env_file=None, database_url=None)) == 1
    assert server.worker_count(Settings(_env_file=None, database_url=production)) == 6
    assert server.worker_count(Settings(_env_file=None, database_url=production, workers=2)) == 2
    assert server.worker_count(Settings(_env_file=None, database_url=None, workers=0)) == 6
    assert server.worker_count(Settings(_env_file=None, database_url=None, workers=3)) == 3


def test_idle_connections_outlive_a_load_balancers_idle_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import uvicorn

    # uvicorn's own default (5 s) is below the 60 s many load balancers keep idle connections.
    assert server.uvicorn_options(Settings(_env_file=None))["timeout_keep_alive"] == 75
    monkeypatch.setenv("IMI_KEEP_ALIVE_SECONDS", "120")
    options = server.uvicorn_options(Settings(_env_file=None))
    assert uvicorn.Config("imi.app:create_app_from_env", **options).timeout_keep_alive == 120
    monkeypatch.setenv("IMI_KEEP_ALIVE_SECONDS", "0")
    with pytest.raises(ValueError):
        Settings(_env_file=None)
