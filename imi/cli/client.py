"""The HTTP side of the thin client commands: one httpx client for a running iMi.

It knows the base URL, the key, the timeout and the REST envelope. Every failure becomes
:class:`ClientFailure` with the message the user sees; :func:`reporting` turns it into that
message on stderr and exit code 1. Nothing here imports the server stack (FastAPI,
SQLAlchemy, uvicorn): client commands start fast.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

import httpx
import typer

from imi.version import imi_version

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_TIMEOUT = 30.0
API_PREFIX = "/api/v1"
# The server's page size bound (imi.models_base.MAX_PAGE_SIZE), checked again by the server.
MAX_PAGE = 500

Url = Annotated[
    str,
    typer.Option(
        "--url",
        envvar="IMI_URL",
        show_envvar=True,
        metavar="URL",
        help="Base URL of a running iMi (`imi serve`).",
    ),
]
Key = Annotated[
    str | None,
    typer.Option(
        "--key",
        envvar="IMI_API_KEY",
        show_envvar=True,
        metavar="KEY",
        help="API key (or JWT), sent as 'Authorization: Bearer <key>'.",
        show_default=False,
    ),
]
Timeout = Annotated[
    float,
    typer.Option(
        "--timeout",
        envvar="IMI_TIMEOUT",
        show_envvar=True,
        min=0.1,
        max=3600,
        metavar="SECONDS",
        help="Seconds to wait for the server (connecting, and each read).",
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print the server's JSON data instead.")]
Limit = Annotated[
    int, typer.Option("--limit", min=1, max=MAX_PAGE, help="Items per page.", metavar="N")
]
Offset = Annotated[int, typer.Option("--offset", min=0, help="Items to skip.", metavar="N")]
Every = Annotated[bool, typer.Option("--all", help="Follow the pages: every item.")]


class ClientFailure(Exception):
    """A call that did not succeed: ``message`` is what the user reads."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


def uuid_arg(value: str, what: str) -> str:
    """``value`` when it is a UUID; else a usage error (exit 2) that names what was expected."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a {what} id (a UUID)") from None


def json_object(text: str | None, option: str) -> dict[str, Any] | None:
    """``--metadata '{"k": "v"}'`` as a dict; anything but a JSON object is a usage error."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise typer.BadParameter(f"not JSON: {exc}", param_hint=option) from None
    if not isinstance(value, dict):
        raise typer.BadParameter("must be a JSON object", param_hint=option)
    return value


def segment(value: str) -> str:
    """``value`` safe as one path segment (a ticket key, an agent id)."""
    return quote(value, safe="")


def _base_url(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise typer.BadParameter(
            f"{url!r} is not an http(s) URL, e.g. {DEFAULT_URL}", param_hint="'--url' / IMI_URL"
        )
    base = url.strip().rstrip("/")
    # Accept the API's own address too (what the REST tour calls $API).
    return base.removesuffix(API_PREFIX)


class Client:
    """Calls ``/api/v1`` of one iMi; each method answers the envelope's ``data``."""

    def __init__(self, url: str, key: str | None, timeout: float) -> None:
        self.url = _base_url(url)
        headers = {"User-Agent": f"imi-cli/{imi_version()}", "Accept": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        # The environment's proxy and CA settings (HTTPS_PROXY, NO_PROXY, SSL_CERT_FILE) apply.
        self.http = httpx.Client(base_url=self.url + API_PREFIX, headers=headers, timeout=timeout)
        self.timeout = timeout

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send one request; a failure to reach the server is a :class:`ClientFailure`."""
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.ConnectError:
            raise ClientFailure(
                f"no iMi server answers at {self.url} (start one with `imi serve`, or set "
                "--url/IMI_URL)"
            ) from None
        except httpx.TimeoutException:
            raise ClientFailure(
                f"iMi at {self.url} did not answer within {self.timeout:g} s "
                "(raise --timeout/IMI_TIMEOUT)"
            ) from None
        except httpx.TransportError as exc:
            raise ClientFailure(f"talking to iMi at {self.url} failed: {exc}") from None
        return response

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """The ``data`` of a successful answer (``None`` for 204)."""
        return self.body(self.request(method, path, **kwargs)).get("data")

    def body(self, response: httpx.Response) -> dict[str, Any]:
        """The whole success envelope; an error envelope becomes :class:`ClientFailure`."""
        if response.status_code == 204:
            return {"success": True, "data": None}
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or "success" not in body:
            raise ClientFailure(
                f"{self.url} answered {response.status_code} without iMi's JSON envelope: is "
                "it an iMi server?",
                status=response.status_code,
            )
        if response.is_success and body["success"] is True:
            return body
        error: dict[str, Any] = _object(body.get("error"))
        code = str(error.get("code") or f"HTTP_{response.status_code}")
        message = str(error.get("message") or response.reason_phrase)
        field = _object(error.get("details")).get("field")
        where = f" (field: {field})" if field else ""
        hint = ""
        if response.status_code == 401:
            hint = "; pass a key with --key or IMI_API_KEY (see `imi keys create`)"
        raise ClientFailure(
            f"{code}: {message}{where}{hint}", status=response.status_code, code=code
        )

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, params=_params(params))

    def post(self, path: str, payload: dict[str, Any]) -> Any:
        return self.call("POST", path, json=payload)

    def patch(self, path: str, payload: dict[str, Any]) -> Any:
        return self.call("PATCH", path, json=payload)

    def pages(
        self, path: str, *, limit: int, offset: int, every: bool, **params: Any
    ) -> tuple[list[Any], dict[str, Any]]:
        """A list endpoint's items: one page of ``limit`` from ``offset``, or with ``every``
        all of them from ``offset`` on (``limit`` is then the page size). Also the last
        ``pagination`` object (``total``, ``limit``, ``offset``)."""
        items: list[Any] = []
        while True:
            query = _params({**params, "limit": limit, "offset": offset})
            body = self.body(self.request("GET", path, params=query))
            page = body.get("data") or []
            window = body.get("pagination") or {"total": len(page), "limit": limit, "offset": 0}
            items.extend(page)
            offset += len(page)
            if not every or not page or offset >= int(window.get("total", 0)):
                return items, window


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _params(params: dict[str, Any]) -> list[tuple[str, str]]:
    """Query parameters without the unset ones; lists repeat their name; booleans as JSON."""
    pairs: list[tuple[str, str]] = []
    for name, value in params.items():
        values: Iterable[Any] = value if isinstance(value, list | tuple) else [value]
        for item in values:
            if item is None:
                continue
            pairs.append((name, str(item).lower() if isinstance(item, bool) else str(item)))
    return pairs


@contextmanager
def connect(url: str, key: str | None, timeout: float) -> Iterator[Client]:
    """A :class:`Client`; a :class:`ClientFailure` inside ends the command with exit 1 and
    its message on stderr."""
    client = Client(url, key, timeout)
    try:
        yield client
    except ClientFailure as failure:
        typer.echo(f"error: {failure.message}", err=True)
        raise typer.Exit(1) from None
    finally:
        client.close()
