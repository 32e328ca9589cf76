"""The client commands against a real iMi: the whole app under uvicorn on a free port of
127.0.0.1, on the test database, in a thread with its own event loop (the CLI under test is
synchronous: it blocks the test's thread while the server answers from the other)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from click.testing import Result
from typer.testing import CliRunner

from imi.app import create_app
from imi.cli import app as imi_app
from tests.graphql.conftest import settings

# Bounds on failure only: a loaded CI machine is slow to start an app.
STARTED_WITHIN = 60.0
# Wide and plain, so table cells are whole and assertions read text, not escape codes.
TERMINAL = {"COLUMNS": "250", "NO_COLOR": "1", "TERM": "dumb"}


@dataclass
class Live:
    url: str

    @property
    def api(self) -> str:
        return f"{self.url}/api/v1"

    def rest(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The REST answer the CLI's output is compared with."""
        return httpx.request(method, f"{self.api}{path}", timeout=30, **kwargs)

    def data(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.rest(method, path, **kwargs)
        assert response.is_success, response.text
        return response.json()["data"]


class ThreadedServer:
    def __init__(self, **overrides: Any) -> None:
        self.overrides = overrides

    def start(self, database_url: str) -> Live:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        app = create_app(settings(**self.overrides), database_url)
        config = uvicorn.Config(app, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )
        self.thread.start()
        deadline = time.monotonic() + STARTED_WITHIN
        while not self.server.started:
            assert self.thread.is_alive(), "uvicorn did not start"
            assert time.monotonic() < deadline, "uvicorn did not start in time"
            time.sleep(0.02)
        self.live = Live(f"http://127.0.0.1:{self.sock.getsockname()[1]}")
        return self.live

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.sock.close()


@pytest.fixture(scope="module")
def live_server(database_url: str) -> Iterator[Live]:
    """One server per module (starting one costs seconds); each test still starts from an
    empty database through ``live``."""
    server = ThreadedServer()
    yield server.start(database_url)
    server.stop()


@pytest.fixture
def live(live_server: Live, engine: Any) -> Live:
    # `engine`: the tables are emptied before the test and its commits are real.
    return live_server


@dataclass
class Ran:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def run(live: Live | str, *args: str, key: str | None = None, **env: str) -> Ran:
    """``imi <args>`` in-process (CliRunner), pointed at ``live``."""
    url = live if isinstance(live, str) else live.url
    environment: dict[str, str | None] = {
        **TERMINAL,
        "IMI_URL": url,
        "IMI_API_KEY": key,  # None: unset, whatever the developer's shell has
        "IMI_TIMEOUT": None,
        **env,
    }
    result: Result = CliRunner().invoke(imi_app, list(args), env=environment)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Ran(result.exit_code, result.stdout, result.stderr)


def ok(live: Live | str, *args: str, **kwargs: Any) -> Ran:
    ran = run(live, *args, **kwargs)
    assert ran.exit_code == 0, (ran.stdout, ran.stderr)
    assert ran.stderr == "" or "showing" in ran.stderr, ran.stderr
    return ran


def failed(live: Live | str, *args: str, code: int = 1, **kwargs: Any) -> str:
    """The stderr of a command that must fail with ``code`` and print nothing on stdout."""
    ran = run(live, *args, **kwargs)
    assert ran.exit_code == code, (ran.exit_code, ran.stdout, ran.stderr)
    assert ran.stdout == "", ran.stdout
    return ran.stderr
