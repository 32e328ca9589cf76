"""How the client fails: no server, a silent one, a foreign one, keys refused or missing."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import Live, ThreadedServer, failed, ok

IMI = str(Path(sys.executable).with_name("imi"))


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when this returns


def test_no_server_answers(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    manifest = tmp_path / "components.toml"
    manifest.write_text("[components]\n")
    upload = ("components", "import", str(manifest), "--project", str(uuid.uuid4()))
    for command in (
        ("projects", "list"),
        ("trace", "ticket", "PROJ-1"),
        ("stats", "--json"),
        ("work", "start", str(uuid.uuid4()), "main"),
        upload,
    ):
        err = failed(url, *command)
        assert err.strip() == (
            f"error: no iMi server answers at {url} (start one with `imi serve`, or set "
            "--url/IMI_URL)"
        )


def test_a_silent_server_times_out() -> None:
    with socket.socket() as sock:  # accepts connections (the backlog) and never answers
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        err = failed(url, "projects", "list", "--timeout", "0.5")
        assert err.strip() == (
            f"error: iMi at {url} did not answer within 0.5 s (raise --timeout/IMI_TIMEOUT)"
        )
        assert "within 0.3 s" in failed(url, "stats", IMI_TIMEOUT="0.3")


@pytest.fixture
def foreign() -> Iterator[str]:
    """An HTTP server that is not iMi (HTML 404s, a JSON body without the envelope)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            json_body = self.path.startswith("/json")
            body = b'{"hello": 1}' if json_body else b"<html>not here</html>"
            self.send_response(200 if json_body else 404)
            self.send_header("Content-Type", "application/json" if json_body else "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_server_that_is_not_imi(foreign: str) -> None:
    err = failed(foreign, "projects", "list")
    assert err.strip() == (
        f"error: {foreign} answered 404 without iMi's JSON envelope: is it an iMi server?"
    )
    assert "answered 200 without iMi's JSON envelope" in failed(f"{foreign}/json", "stats")


def test_bad_urls_are_usage_errors() -> None:
    for url in ("ftp://example.com", "127.0.0.1:8080", "http://"):
        assert "is not an http(s) URL" in failed(url, "projects", "list", code=2)


def test_the_url_may_name_the_api_itself(live: Live) -> None:
    assert ok(f"{live.url}/api/v1/", "projects", "list", "--json").json() == []
    assert ok(live, "projects", "list", "--json", "--url", f"{live.url}/").json() == []


def _key(database_url: str, scope: str) -> str:
    """A key made with `imi keys create` on the test database (a real subprocess)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMI_")}
    env.update(IMI_DATABASE_URL=database_url, IMI_LOG_FORMAT="json")
    done = subprocess.run(
        [IMI, "keys", "create", "--name", f"cli-{scope}", "--scope", scope, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    secret: str = json.loads(done.stdout)["secret"]
    return secret


def test_auth_required(database_url: str, engine: Any) -> None:
    server = ThreadedServer(auth="required")
    live = server.start(database_url)
    try:
        reader, writer = _key(database_url, "imi:read"), _key(database_url, "imi:write")

        err = failed(live, "projects", "list")
        assert err.startswith("error: UNAUTHORIZED: ")
        assert "pass a key with --key or IMI_API_KEY" in err
        assert failed(live, "projects", "list", key="imi_00000000_wrong").startswith(
            "error: UNAUTHORIZED: "
        )
        assert failed(live, "stats", "--key", "not-a-key").startswith("error: UNAUTHORIZED: ")

        assert ok(live, "projects", "list", "--json", key=reader).json() == []
        origin = "https://github.com/acme/app"
        err = failed(live, "projects", "register", origin, key=reader)
        assert err.startswith("error: FORBIDDEN: ")
        created = ok(live, "projects", "register", origin, "--json", "--key", writer).json()
        assert ok(live, "projects", "get", created["id"], "--json", key=reader).json() == created
    finally:
        server.stop()


def test_an_upload_cut_short_says_how_far_it_got(tmp_path: Path) -> None:
    """A peer that reads the start of the request and hangs up mid-body."""
    manifest = tmp_path / "big.toml"
    manifest.write_bytes(b"#" * 4_000_000)  # more than the socket buffers hold
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)

        def hang_up() -> None:
            conn, _ = listener.accept()
            conn.recv(1000)
            conn.close()

        thread = threading.Thread(target=hang_up, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        err = failed(url, "components", "import", str(manifest), "--project", str(uuid.uuid4()))
        thread.join(30)
    assert err.startswith("error: the server stopped reading big.toml (4000000 bytes) after "), err
