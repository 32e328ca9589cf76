"""The dashboard page (/ui) over HTTP: served with a strict CSP, every asset from the package,
no URL to any other host in anything it loads. The browser test is test_dashboard_browser.py.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from imi.app import create_app
from imi.pages import STATIC_DIR
from imi.settings import Settings

UNUSED_DATABASE = "postgresql://imi@127.0.0.1:1/imi"  # the page needs no database
DASHBOARD_DIR = STATIC_DIR / "dashboard"
# XML namespaces are names, never fetched: the only absolute URL an asset may hold.
NAMESPACES = {"http://www.w3.org/2000/svg"}


def make_app(**overrides: Any) -> FastAPI:
    settings = Settings(_env_file=None, rabbitmq_url=None, **overrides)  # type: ignore[call-arg]
    return create_app(settings, UNUSED_DATABASE)


@pytest.fixture(scope="module")
def app() -> FastAPI:
    return make_app()


async def _client(app: FastAPI, root_path: str = "") -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, root_path=root_path)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://imi.test") as client,
    ):
        yield client


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(app):
        yield client


def _csp(response: httpx.Response) -> dict[str, str]:
    header = response.headers["content-security-policy"]
    return {
        part.split()[0]: " ".join(part.split()[1:])
        for part in (p.strip() for p in header.split(";"))
        if part
    }


async def test_dashboard_is_served_with_a_strict_csp(client: httpx.AsyncClient) -> None:
    response = await client.get("/ui", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    csp = _csp(response)
    assert csp["default-src"] == "'none'"
    for directive in ("script-src", "style-src", "connect-src"):
        assert csp[directive] == "'self'", directive  # no inline code, no other host
    assert csp["frame-ancestors"] == "'none'"
    assert csp["base-uri"] == "'none'"
    assert "unsafe" not in response.headers["content-security-policy"]
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"
    html = response.text
    # What the CSP would block must not be there: inline scripts, styles, handlers.
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert "<style" not in html
    assert not re.search(r"\s(style|on[a-z]+)\s*=", html)
    assert 'content=""' in html  # the API root the scripts use: the app's own, no prefix


async def test_every_asset_is_served_from_the_package(client: httpx.AsyncClient) -> None:
    html = (await client.get("/ui")).text
    references = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    assets = [url for url in references if url.startswith("/static/")]
    assert "/static/dashboard/app.js" in assets
    assert "/static/dashboard/dashboard.css" in assets
    for url in references:
        assert url.startswith("/"), url  # same origin only
    # The module graph: app.js imports the others, each must be served as JavaScript.
    pending, seen = ["/static/dashboard/app.js"], set()
    while pending:
        url = pending.pop()
        if url in seen:
            continue
        seen.add(url)
        response = await client.get(url)
        assert response.status_code == 200, url
        assert "javascript" in response.headers["content-type"], url
        for module in re.findall(r"""from\s+["'](\./[^"']+)["']""", response.text):
            pending.append("/static/dashboard/" + module.removeprefix("./"))
    shipped = {f"/static/dashboard/{p.name}" for p in DASHBOARD_DIR.glob("*.js")}
    assert seen == shipped  # every module is used, none is missing
    css = await client.get("/static/dashboard/dashboard.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")


def test_no_asset_names_another_host() -> None:
    files = [DASHBOARD_DIR.parent.parent / "pages" / "dashboard.html"]
    files += [p for p in DASHBOARD_DIR.iterdir() if p.suffix in {".js", ".css", ".html"}]
    assert len(files) >= 7
    for path in files:
        text = path.read_text(encoding="utf-8")
        urls = set(re.findall(r"""(?:https?:|wss?:)?//[A-Za-z0-9.-]+\.[a-z]{2,}[^\s"'`)]*""", text))
        assert urls <= NAMESPACES, (path.name, urls - NAMESPACES)
        assert "sourceMappingURL" not in text, path.name
        assert "@import" not in text, path.name
        # The key lives in sessionStorage (api.js says why), never in localStorage.
        assert not re.search(r"localStorage\s*\.", text), path.name


async def test_the_page_follows_the_proxy_prefix(app: FastAPI) -> None:
    async for client in _client(app, root_path="/imi"):
        html = (await client.get("/ui")).text
        assert '<meta name="imi-root" content="/imi" />' in html
        assert 'src="/imi/static/dashboard/app.js"' in html
        assert 'href="/imi/"' in html


async def test_landing_page_links_the_dashboard(client: httpx.AsyncClient) -> None:
    html = (await client.get("/", headers={"accept": "text/html"})).text
    assert '<li id="dashboard"><a href="/ui">Dashboard</a>' in html


async def test_the_page_is_open_like_the_docs_and_closed_with_them() -> None:
    # IMI_AUTH=required: the shell (no data in it) is served; the data needs the key.
    async for client in _client(make_app(auth="required")):
        assert (await client.get("/ui")).status_code == 200
    # IMI_DOCS_PUBLIC=false: the page needs a read key like every other page.
    async for client in _client(make_app(auth="required", docs_public=False)):
        response = await client.get("/ui")
        assert response.status_code == 401
        body = response.json()
        assert body["success"] is False
        assert body["error"]["code"] == "UNAUTHORIZED"
        assert "Traceback" not in response.text


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
async def test_the_page_only_answers_get(client: httpx.AsyncClient, method: str) -> None:
    response = await client.request(method, "/ui")
    assert response.status_code == 405
    assert "Traceback" not in response.text


async def test_unknown_dashboard_asset_is_404(client: httpx.AsyncClient) -> None:
    for url in ("/static/dashboard/nope.js", "/static/dashboard/../../settings.py"):
        assert (await client.get(url)).status_code == 404, url


def _page_operations() -> dict[str, str]:
    """Every GraphQL document the page's modules send (`export const X = \\`...\\``), with the
    `${FRAGMENT}` constants they interpolate filled in."""
    constants: dict[str, str] = {}
    for path in sorted(DASHBOARD_DIR.glob("*.js")):
        text = path.read_text(encoding="utf-8")
        for name, quoted in re.findall(r"""const (\w+) = (`[^`]*`|"[^"]*");""", text):
            constants[name] = quoted[1:-1]
    for _ in range(3):  # fragments inside fragments
        for name, body in constants.items():
            constants[name] = re.sub(
                r"\$\{(\w+)\}", lambda m: constants.get(m.group(1), m.group(0)), body
            )
    return {
        name: body
        for name, body in constants.items()
        if body.lstrip().startswith(("query ", "subscription "))
    }


def test_every_query_the_page_sends_is_valid_against_the_schema() -> None:
    from graphql import parse, validate

    from imi.graphql.schema import build_schema

    schema = build_schema(Settings(_env_file=None))._schema  # type: ignore[call-arg]
    operations = _page_operations()
    assert set(operations) >= {
        "BOARD_QUERY",
        "STALE_QUERY",
        "LIVE_SUBSCRIPTION",
        "TRACE_QUERY",
        "METRICS_QUERY",
    }
    # Every one, the insight fields (staleWork, deliveryMetrics) included. Against an older
    # server without them the page falls back on "Cannot query field" (idle time only; metrics
    # "not available").
    for name, document in operations.items():
        errors = validate(schema, parse(document))
        assert errors == [], (name, [e.message for e in errors])
