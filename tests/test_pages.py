"""The pages a person opens (/, /graphql, /docs, /redoc, /asyncapi) and the OpenAPI document.

Everything here is served without a database: the pages load their assets from ``/static``.
The browser test (tests/test_pages_browser.py) checks that they really render offline.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from graphql import parse, validate

from imi.app import create_app
from imi.pages import EXAMPLE_QUERY, STATIC_DIR
from imi.settings import Settings

# Nothing connects to it: the pages and the OpenAPI document need no database.
UNUSED_DATABASE = "postgresql://imi@127.0.0.1:1/imi"
PAGES = ["/", "/graphql", "/docs", "/redoc", "/asyncapi"]


@pytest.fixture(scope="module")
def app() -> FastAPI:
    return create_app(Settings(_env_file=None, rabbitmq_url=None), UNUSED_DATABASE)  # type: ignore[call-arg]


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://imi.test") as client,
    ):
        yield client


async def _page(client: httpx.AsyncClient, path: str) -> str:
    response = await client.get(path, headers={"accept": "text/html"})
    assert response.status_code == 200, (path, response.text[:300])
    assert response.headers["content-type"].startswith("text/html")
    return response.text


def _references(html: str) -> list[str]:
    return re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)


@pytest.mark.parametrize("path", PAGES)
async def test_page_loads_every_asset_from_the_package(
    client: httpx.AsyncClient, path: str
) -> None:
    html = await _page(client, path)
    assert "unpkg.com" not in html
    assert "jsdelivr" not in html
    assert "googleapis" not in html
    references = _references(html)
    assert references, path
    for url in references:
        assert url.startswith("/"), (path, url)  # same origin: nothing leaves the machine
        if url.startswith("/static/"):
            asset = await client.get(url)
            assert asset.status_code == 200, url
            assert asset.content, url


async def test_landing_page_links_every_surface(client: httpx.AsyncClient) -> None:
    html = await _page(client, "/")
    links = set(_references(html))
    assert {"/graphql", "/docs", "/redoc", "/asyncapi", "/health", "/openapi.json"} <= links
    assert 'id="dashboard"' in html  # the spot the dashboard will take


async def test_pages_honour_the_proxy_prefix(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app, root_path="/imi")
    async with httpx.AsyncClient(transport=transport, base_url="http://imi.test") as client:
        for path in ("/", "/docs", "/redoc", "/asyncapi"):
            html = await _page(client, path)
            assert all(url.startswith("/imi/") for url in _references(html)), path


async def test_graphiql_opens_on_an_imi_query(client: httpx.AsyncClient) -> None:
    from imi.graphql.schema import schema

    html = await _page(client, "/graphql")
    assert "query ProjectsInFlight" in html
    assert "Welcome to GraphiQL" not in html  # not Strawberry's stock comment
    assert validate(schema._schema, parse(EXAMPLE_QUERY)) == []


def test_every_vendored_asset_is_recorded_with_its_licence() -> None:
    readme = (STATIC_DIR / "README.md").read_text()
    assets = [
        path.relative_to(STATIC_DIR).as_posix()
        for path in STATIC_DIR.rglob("*")
        if path.is_file() and path.parent.name != "licenses" and path.name != "README.md"
    ]
    assert assets
    assert [asset for asset in assets if f"`{asset}`" not in readme] == []
    for licence in re.findall(r"\((licenses/[^)]+)\)", readme):
        assert (STATIC_DIR / licence).is_file(), licence
    maps = [path.name for path in STATIC_DIR.rglob("*.map")]
    assert maps == []


# OpenAPI -------------------------------------------------------------------------------------


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def test_graphql_is_not_a_rest_operation(app: FastAPI) -> None:
    document = app.openapi()
    assert [path for path in document["paths"] if path.startswith("/graphql")] == []
    summaries = [op.get("summary", "") for _, _, op in _operations(document)]
    assert not [s for s in summaries if s.startswith("Handle Http")]


def test_operation_ids_are_short_unique_and_named_after_the_route(app: FastAPI) -> None:
    operations = _operations(app.openapi())
    ids = [operation["operationId"] for _, _, operation in operations]
    assert len(ids) > 30
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    for operation_id in ids:
        assert re.fullmatch(r"[a-z][A-Za-z0-9]*", operation_id), operation_id
        assert "api_v1" not in operation_id and not operation_id.endswith(("Get", "Post"))
    assert "registerProject" in ids


def test_a_generated_python_client_builds(
    app: FastAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """openapi-python-client turns the document into a client with one function per operation."""
    import json

    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps(app.openapi()))
    config = tmp_path / "config.json"
    # The manifest import takes the document itself (TOML or YAML), which the generator
    # models as bytes once told so; no post hooks, so the output does not depend on PATH.
    binary = "application/octet-stream"
    config.write_text(
        json.dumps(
            {
                "post_hooks": [],
                "content_type_overrides": {
                    "application/toml": binary,
                    "application/yaml": binary,
                    "text/plain": binary,
                },
            }
        )
    )
    package = "imi_generated_client"
    generator = Path(sys.executable).parent / "openapi-python-client"
    result = subprocess.run(
        [
            str(generator),
            "generate",
            "--path",
            str(spec),
            "--output-path",
            str(tmp_path / package),
            "--meta",
            "none",
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1"},
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Warning" not in output and "WARNING" not in output, output

    modules = {path.stem for path in (tmp_path / package / "api").rglob("*.py")}
    expected = {
        re.sub(r"(?<!^)(?=[A-Z])", "_", operation["operationId"]).lower()
        for _, _, operation in _operations(app.openapi())
    }
    assert expected - modules == set()

    monkeypatch.syspath_prepend(str(tmp_path))
    generated = importlib.import_module(f"{package}.api.projects.register_project")
    assert callable(generated.sync_detailed) and callable(generated.asyncio)
    for path in (tmp_path / package).rglob("*.py"):
        module = ".".join(path.relative_to(tmp_path).with_suffix("").parts)
        importlib.import_module(module.removesuffix(".__init__"))
