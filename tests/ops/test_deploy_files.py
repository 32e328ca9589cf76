"""The deploy files cannot run here (no Docker engine), so they are checked against the code they
drive, so they do not rot: ``compose.yaml`` has the services, health checks and dependency
conditions the README promises, sets only real ``IMI_*`` settings (with valid values) and runs
only real CLI commands; the ``Dockerfile`` is multi-stage, runs as a non-root user, checks a
health path the app serves, and copies everything the package needs at run time."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml

from imi.app import routers
from imi.cli import app as cli_app
from imi.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
REPLICAS = ("imi-1", "imi-2")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert isinstance(data, dict) and isinstance(data.get("services"), dict)
    return data


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) pairs, continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text()
    joined = re.sub(r"\\\n", " ", text)
    pairs = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, arguments = line.partition(" ")
            pairs.append((instruction.upper(), arguments.strip()))
    return pairs


def _command(words: list[str]) -> Any:
    """The CLI command ``words`` name (its options parsed, not run); fails if it does not exist.
    (Typer bundles its own click: commands are duck-typed, groups have ``commands``.)"""
    assert words[0] == "imi", words
    command: Any = typer.main.get_command(cli_app)
    rest = words[1:]
    while hasattr(command, "commands") and rest and not rest[0].startswith("-"):
        sub = command.commands.get(rest[0])
        assert sub is not None, f"no command `{' '.join(words)}`"
        command, rest = sub, rest[1:]
    assert not hasattr(command, "commands"), f"`{' '.join(words)}` names a group"
    command.make_context(command.name, list(rest))  # unknown options or bad values raise
    return command


def _health_path(test: list[str] | str) -> str:
    # The path after the host and port (the Dockerfile's port is an expression).
    line = " ".join(test) if isinstance(test, list) else test
    found = re.search(r"https?://.*?(/[a-z][\w/-]*)", line)
    assert found, test
    return found.group(1)


def test_compose_has_the_stack_with_health_checks(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", "rabbitmq", "migrate", *REPLICAS}
    assert "management" in services["rabbitmq"]["image"]  # the management plugin
    for name in ("postgres", "rabbitmq", *REPLICAS):
        check = services[name]["healthcheck"]
        assert check["test"] and not check.get("disable"), name
        assert {"interval", "timeout", "retries"} <= set(check), name
    assert services["migrate"]["healthcheck"] == {"disable": True}  # one-shot: it exits
    assert services["migrate"]["restart"] == "no"
    assert "pgdata" in compose["volumes"]


def test_compose_start_order_waits_on_health_and_the_migration(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in REPLICAS:
        assert services[name]["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "rabbitmq": {"condition": "service_healthy"},
            "migrate": {"condition": "service_completed_successfully"},
        }
    # Each replica reachable on its own host port, both serving the container's 8080.
    ports = [services[name]["ports"] for name in REPLICAS]
    assert [p[0].split(":")[1] for p in ports] == ["8080", "8080"]
    assert len({p[0].split(":")[0] for p in ports}) == 2


def test_compose_sets_only_real_settings_with_valid_values(compose: dict[str, Any]) -> None:
    fields = Settings.model_fields
    for name, service in compose["services"].items():
        env = service.get("environment") or {}
        imi_vars = {k: v for k, v in env.items() if k.startswith("IMI_")}
        if name in ("migrate", *REPLICAS):
            assert "IMI_DATABASE_URL" in imi_vars, name
        for key in imi_vars:
            assert key.removeprefix("IMI_").lower() in fields, f"{name}: {key} is no setting"
        values = {k.removeprefix("IMI_").lower(): str(v) for k, v in imi_vars.items()}
        Settings(_env_file=None, **values)  # type: ignore[arg-type]  # invalid values raise
    for name in REPLICAS:
        env = compose["services"][name]["environment"]
        assert env["IMI_MIGRATE_ON_START"] == "false"  # the migrate service did it, once
        assert env["IMI_DATABASE_URL"].startswith("postgresql://")
        assert "@postgres:5432/" in env["IMI_DATABASE_URL"]
        assert "@rabbitmq:5672/" in env["IMI_RABBITMQ_URL"]


def test_compose_commands_exist(compose: dict[str, Any], dockerfile: list[tuple[str, str]]) -> None:
    assert compose["services"]["migrate"]["command"] == ["imi", "db", "upgrade"]
    assert _command(compose["services"]["migrate"]["command"]).name == "upgrade"
    # The replicas run the image's CMD.
    [cmd] = [args for instruction, args in dockerfile if instruction == "CMD"]
    words = yaml.safe_load(cmd)  # the exec form is a JSON (so YAML) list
    assert words[:2] == ["imi", "serve"] and "0.0.0.0" in words
    assert _command(words).name == "serve"
    with pytest.raises(Exception, match="No such option"):  # the check itself can fail
        _command(["imi", "serve", "--no-such-option"])
    with pytest.raises(AssertionError):
        _command(["imi", "db", "downgrade-everything"])


def test_the_health_paths_exist_in_the_app(
    compose: dict[str, Any], dockerfile: list[tuple[str, str]]
) -> None:
    # Every router the app mounts, with its prefix (``imi.app.routers``: the one place).
    paths = {
        prefix + getattr(route, "path", "")
        for prefix, router in routers(Settings(_env_file=None))
        for route in router.routes
    }
    [docker_check] = [args for instruction, args in dockerfile if instruction == "HEALTHCHECK"]
    assert "CMD" in docker_check and "--timeout=" in docker_check
    checked = [_health_path(docker_check)]
    checked += [_health_path(compose["services"][n]["healthcheck"]["test"]) for n in REPLICAS]
    assert checked == ["/health"] * 3
    assert "/health" in paths


def test_dockerfile_is_multi_stage_non_root_and_ships_what_the_package_needs(
    dockerfile: list[tuple[str, str]],
) -> None:
    stages = [args for instruction, args in dockerfile if instruction == "FROM"]
    assert len(stages) >= 2, stages
    assert stages[0].endswith(" AS build") and stages[-1].endswith(" AS runtime")
    final_from = max(i for i, (ins, _) in enumerate(dockerfile) if ins == "FROM")
    final = dockerfile[final_from:]
    users = [args for instruction, args in final if instruction == "USER"]
    assert users and users[-1] not in {"root", "0", "0:0"}
    assert any(ins == "RUN" and "useradd" in args and users[-1] in args for ins, args in final)
    # The runtime stage copies the built app from the build stage, and no uv.
    assert ("COPY", "--from=build /app /app") in final
    assert not any("astral-sh/uv" in args for _, args in final)
    copied = " ".join(args for ins, args in dockerfile[:final_from] if ins == "COPY")
    for needed in ("pyproject.toml", "uv.lock", "alembic.ini", "migrations", "imi"):
        assert re.search(rf"(^|\s){re.escape(needed)}(\s|$)", copied), needed
    syncs = [args for ins, args in dockerfile if ins == "RUN" and "uv sync" in args]
    assert syncs and all("--locked" in s and "--no-dev" in s for s in syncs)
    env = " ".join(args for ins, args in final if ins == "ENV")
    for key in re.findall(r"\b(IMI_\w+)=", env):
        assert key.removeprefix("IMI_").lower() in Settings.model_fields, key
    # What the image needs is not excluded from the build context.
    ignored = (ROOT / ".dockerignore").read_text().split()
    for needed in ("pyproject.toml", "uv.lock", "README.md", "alembic.ini", "migrations", "imi"):
        assert needed not in ignored, needed
    assert shlex.split(syncs[-1])[:2] == ["--mount=type=cache,target=/root/.cache/uv", "uv"]
