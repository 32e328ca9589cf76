"""The HTML pages a person opens: the landing page, Swagger UI, ReDoc and GraphiQL.

Every script, stylesheet and font comes from ``imi/static`` (vendored, pinned builds; see
``imi/static/README.md``), served at ``/static``: nothing is fetched from a CDN, so the pages
work offline and in closed networks.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
STATIC_PATH = "/static"
_HERE = Path(__file__).resolve().parent

# What GraphiQL opens on: iMi's own data, valid against the schema (a test checks).
EXAMPLE_QUERY = """\
# Welcome to iMi's GraphQL API.
# Run this query with Ctrl-Enter (or the play button);
# Ctrl-Space completes fields; the book icon opens the docs.
#
# Active projects, their work in flight, and the tickets
# and pull requests of each branch:
query ProjectsInFlight {
  projects(first: 10, filter: {active: true}) {
    totalCount
    nodes {
      name
      remoteOrigin
      counts { active uncommitted unmerged }
      workItems(first: 10, filter: {active: true}) {
        totalCount
        nodes {
          branchName
          status
          ownerId
          aheadOfTrunk
          tickets { kind ticket { planeTicketId title } }
          pullRequests { number state url }
        }
      }
    }
  }
}
"""


@cache
def _template(name: str) -> str:
    return (_HERE / name).read_text(encoding="utf-8")


def _root(request: Request) -> str:
    """The path prefix the app is served under (behind a proxy), without a trailing slash."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def static_url(request: Request) -> str:
    """Where the vendored assets are, as seen by the browser."""
    return _root(request) + STATIC_PATH


def graphiql_html(request: Request) -> str:
    return (
        _template("graphiql.html")
        .replace("{static}", static_url(request))
        .replace("{example_query}", EXAMPLE_QUERY)
    )


def landing_html(request: Request, version: str) -> str:
    return (
        _template("landing.html")
        .replace("{static}", static_url(request))
        .replace("{root}", _root(request))
        .replace("{version}", version)
    )


# The dashboard loads only its own files and talks only to this origin (GraphQL over HTTP and
# its WebSocket): no inline script or style, no frames, no other host. 'self' covers ws(s)://.
DASHBOARD_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def dashboard_html(request: Request, version: str) -> str:
    return (
        _template("dashboard.html")
        .replace("{static}", static_url(request))
        .replace("{root}", _root(request))
        .replace("{version}", version)
    )


def pages_router(title: str, version: str) -> APIRouter:
    """``/``, ``/ui`` (the dashboard), ``/docs`` (Swagger UI), ``/docs/oauth2-redirect`` and
    ``/redoc``."""
    router = APIRouter(include_in_schema=False)

    @router.get("/", response_class=HTMLResponse)
    async def landing(request: Request) -> HTMLResponse:
        return HTMLResponse(landing_html(request, version))

    @router.get("/ui", response_class=HTMLResponse)
    async def dashboard(request: Request) -> HTMLResponse:
        return HTMLResponse(dashboard_html(request, version), headers=DASHBOARD_HEADERS)

    @router.get("/docs", response_class=HTMLResponse)
    async def swagger_ui(request: Request) -> HTMLResponse:
        static = static_url(request)
        return get_swagger_ui_html(
            openapi_url=_root(request) + "/openapi.json",
            title=f"{title} - Swagger UI",
            swagger_js_url=f"{static}/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url=f"{static}/swagger-ui/swagger-ui.css",
            swagger_favicon_url=f"{static}/favicon.svg",
            oauth2_redirect_url=_root(request) + "/docs/oauth2-redirect",
            # No badge from validator.swagger.io: nothing leaves the machine.
            swagger_ui_parameters={"validatorUrl": None},
        )

    @router.get("/docs/oauth2-redirect", response_class=HTMLResponse)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @router.get("/redoc", response_class=HTMLResponse)
    async def redoc(request: Request) -> HTMLResponse:
        static = static_url(request)
        return get_redoc_html(
            openapi_url=_root(request) + "/openapi.json",
            title=f"{title} - ReDoc",
            redoc_js_url=f"{static}/redoc/redoc.standalone.js",
            redoc_favicon_url=f"{static}/favicon.svg",
            with_google_fonts=False,
        )

    return router


def mount_static(app: FastAPI) -> None:
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="static")
