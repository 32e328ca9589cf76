"""The dashboard (/ui) in a real browser: Debian's Chromium driven by Playwright, against a live
iMi (uvicorn, real PostgreSQL) with seeded links, the network beyond the server blocked.

It shows the seeded work in flight, draws a ticket's trace, shows the metrics section, follows
REST writes live through the GraphQL subscription (no reload), runs the API key flow under
IMI_AUTH=required, and logs no console error. Screenshots go to ``IMI_SCREENSHOT_DIR`` or
``test-artifacts/dashboard/`` (git-ignored); ``IMI_UPDATE_DOCS_SCREENSHOT=1`` also rewrites
``docs/dashboard.png`` for the README.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imi.app import create_app
from imi.auth.keys import create_key, revoke_key
from imi.auth.models import Scope
from tests.graphql.conftest import settings
from tests.graphql.seed_links import LinkGraph, seed_link_graph
from tests.graphql.test_subscriptions import LiveServer, serving
from tests.test_pages_browser import CHROMIUM, CHROMIUM_ARGS, Watch

REPO = Path(__file__).resolve().parent.parent
TIMEOUT_MS = 30_000  # a bound on failure only; each wait returns as soon as it holds
# Every expect() waits as long as the page does (its default, 5 s, is short on a loaded machine).
expect.set_options(timeout=TIMEOUT_MS)
Sessions = async_sessionmaker[AsyncSession]


def _screenshots() -> Path:
    directory = Path(os.environ.get("IMI_SCREENSHOT_DIR") or REPO / "test-artifacts" / "dashboard")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            await browser.close()


async def _open(browser: Browser, live: LiveServer) -> tuple[BrowserContext, Page, Watch]:
    context = await browser.new_context(viewport={"width": 1280, "height": 860})
    watch = Watch(live.http_url)
    await context.route("**/*", watch.route)
    await context.route_web_socket("**/*", watch.route_ws)
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.on("console", watch.console)
    page.on("pageerror", watch.page_error)
    response = await page.goto(live.http_url + "/ui", wait_until="load")
    assert response is not None and response.status == 200
    return context, page, watch


def _card(page: Page, branch: str) -> Any:
    return page.locator(f'.card[data-branch="{branch}"]')


async def _rest(live: LiveServer, method: str, path: str, body: dict[str, Any]) -> Any:
    async with httpx.AsyncClient(base_url=live.http_url + "/api/v1", timeout=30) as client:
        response = await client.request(method, path, json=body)
    assert response.status_code in (200, 201), response.text
    return response.json()["data"]


async def test_board_trace_metrics_and_live_updates(
    browser: Browser, database_url: str, sessions: Sessions
) -> None:
    graph: LinkGraph = await seed_link_graph(sessions)
    async with sessions() as session, session.begin():  # fix/c: idle for three days
        await session.execute(
            text(
                "UPDATE work_items SET last_activity_at = now() - interval '3 days' WHERE id = :id"
            ),
            {"id": graph.w3.id},
        )
    shots = _screenshots()
    async with serving(create_app(settings(), database_url)) as (live, _):
        context, page, watch = await _open(browser, live)
        try:
            # The board: the seeded work in flight, grouped by project, with its links.
            for branch in ("feat/a", "feat/b", "fix/c"):
                await expect(_card(page, branch)).to_be_visible()
            await expect(page.locator('.group[data-group="app"] h3')).to_contain_text("3")
            await expect(_card(page, "feat/a")).to_contain_text("agent-1")
            await expect(_card(page, "feat/a")).to_contain_text("PROJ-1")
            await expect(_card(page, "feat/a")).to_contain_text("#1 merged")
            await expect(page.locator("#live")).to_have_text("live")
            assert await page.locator("#auth").is_hidden()  # loopback, local-open: no key
            await expect(page.locator("#error")).to_be_hidden()
            # Staleness: three days idle is stale (by staleWork where the server has it).
            await expect(_card(page, "fix/c")).to_have_class(re.compile(r"\bstale\b"))
            await expect(_card(page, "fix/c").locator(".badge.stale")).to_contain_text("IDLE")
            await expect(_card(page, "fix/c")).to_contain_text("idle 3d")
            await expect(_card(page, "feat/a")).to_have_class(re.compile(r"\bfresh\b"))
            await page.check("#f-stale")
            await expect(page.locator(".card")).to_have_count(1)
            await page.uncheck("#f-stale")

            # Filters and grouping.
            await page.select_option("#f-agent", "agent-2")
            await expect(page.locator(".card")).to_have_count(1)
            await expect(_card(page, "fix/c")).to_be_visible()
            await page.select_option("#f-agent", "")
            await page.select_option("#group", "agent")
            await expect(page.locator('.group[data-group="agent-1"] .card')).to_have_count(2)
            await page.fill("#f-text", "PROJ-2")
            await expect(page.locator(".card")).to_have_count(2)  # feat/b and fix/c
            await page.fill("#f-text", "no-such-thing")
            await expect(page.locator("#board")).to_contain_text("No work matches")
            await page.fill("#f-text", "")
            await page.select_option("#group", "project")

            # The trace of a seeded ticket, drawn as SVG: the same nodes and edges as the API.
            await page.select_option("#trace-type", "TICKET")
            await page.fill("#trace-id", "PROJ-1")
            await page.click('#trace-form button[type="submit"]')
            svg = page.locator("svg.trace-graph")
            await expect(svg).to_be_visible()
            async with httpx.AsyncClient(timeout=30) as client:
                answer = await client.post(
                    live.http_url + "/graphql",
                    json={
                        "query": 'query { trace(entityType: TICKET, entityId: "PROJ-1") '
                        "{ nodes { id } edges { from } } }"
                    },
                )
            expected = answer.json()["data"]["trace"]
            await expect(svg.locator("g.node")).to_have_count(len(expected["nodes"]))
            await expect(svg.locator("path.edge")).to_have_count(len(expected["edges"]))
            for label in ("PROJ-1", "feat/a", "feat/b", "#1", "deploy-1"):
                await expect(svg).to_contain_text(label)
            await expect(svg.locator("g.node.root")).to_contain_text("PROJ-1")
            # Clicking a branch on the board traces it.
            await _card(page, "fix/c").locator("button.branch").click()
            await expect(svg).to_contain_text("PROJ-2")
            await expect(page.locator("#trace-type")).to_have_value("BRANCH")
            # An id that names nothing.
            await page.fill("#trace-id", "NOPE-404")
            await page.select_option("#trace-type", "TICKET")
            await page.click('#trace-form button[type="submit"]')
            await expect(page.locator("#trace")).to_contain_text("Nothing found")

            # Delivery metrics (deliveryMetrics, issue 18): five figures and two charts.
            state = page.locator("#metrics [data-state]")
            await expect(state).to_have_count(1)
            await expect(state).to_have_attribute("data-state", "available")
            await expect(page.locator("#metrics svg.chart")).to_have_count(2)
            await expect(page.locator("#metrics .tile").nth(2)).to_contain_text("production: 1")
            # One project's metrics (the board's project filter, a global id).
            await page.select_option("#f-project", label="app")
            await page.select_option("#m-days", "7")
            await expect(state).to_have_attribute("data-state", "available")
            await expect(page.locator("#metrics .tile").nth(2)).to_contain_text("staging: 1")
            await page.select_option("#f-project", "")

            # Live: REST writes reach the open page through the subscription, no reload.
            await page.evaluate("window.__sameDocument = true")
            started = await _rest(
                live,
                "POST",
                "/work",
                {
                    "project_id": str(graph.project.id),
                    "branch_name": "feat/live",
                    "owner_id": "agent-3",
                },
            )
            await expect(_card(page, "feat/live")).to_be_visible()
            await expect(_card(page, "feat/live")).to_contain_text("agent-3")
            await _rest(
                live,
                "PATCH",
                f"/work/{graph.w1.id}/git-state",
                {"has_uncommitted_changes": True, "uncommitted_files_count": 3},
            )
            await expect(_card(page, "feat/a")).to_contain_text("3 uncommitted")
            await expect(_card(page, "feat/a").locator(".status")).to_have_text("UNCOMMITTED")
            await _rest(live, "POST", f"/work/{started['id']}/complete", {})
            await expect(_card(page, "feat/live")).to_have_count(0)
            assert await page.evaluate("window.__sameDocument") is True  # never reloaded
            await page.locator("#trace-id").fill("PROJ-1")
            await page.click('#trace-form button[type="submit"]')
            await expect(page.locator("svg.trace-graph")).to_be_visible()
            await expect(page.locator("#error")).to_be_hidden()
            await page.wait_for_load_state("networkidle")
        finally:
            await page.screenshot(path=str(shots / "dashboard.png"), full_page=True)
            if os.environ.get("IMI_UPDATE_DOCS_SCREENSHOT") == "1":
                await page.screenshot(path=str(REPO / "docs" / "dashboard.png"), full_page=False)
            await context.close()
    print(f"screenshots in {shots}")
    assert watch.blocked == []
    assert watch.errors == []


async def test_key_flow_with_auth_required(
    browser: Browser, database_url: str, sessions: Sessions
) -> None:
    graph = await seed_link_graph(sessions)
    async with sessions() as session, session.begin():
        created = await create_key(session, name="dashboard", scope=Scope.READ)
    shots = _screenshots()
    async with serving(create_app(settings(auth="required"), database_url)) as (live, _):
        context, page, watch = await _open(browser, live)
        try:
            # No key: the page asks for one and shows nothing else.
            await expect(page.locator("#auth")).to_be_visible()
            await expect(page.locator("#auth-error")).to_contain_text("asks for an API key")
            assert await page.locator("#content").is_hidden()
            await expect(page.locator("#forget-key")).to_be_hidden()
            # A wrong key: refused, with the server's reason.
            await page.fill("#key-input", "imi_00000000_not-a-real-key")
            await page.click('#auth-form button[type="submit"]')
            await expect(page.locator("#auth-error")).to_contain_text("refused (401")
            await page.screenshot(path=str(shots / "dashboard-key.png"))
            # The right key: data over HTTP and live updates over the WebSocket.
            await page.fill("#key-input", created.secret)
            await page.click('#auth-form button[type="submit"]')
            await expect(_card(page, "feat/a")).to_be_visible()
            await expect(page.locator("#live")).to_have_text("live")
            await expect(page.locator("#forget-key")).to_be_visible()
            stored = await page.evaluate(
                "[sessionStorage.getItem('imi.dashboard.apiKey'), localStorage.length]"
            )
            assert stored == [created.secret, 0]
            async with httpx.AsyncClient(timeout=30) as client:
                response = await client.patch(
                    f"{live.http_url}/api/v1/work/{graph.w2.id}/git-state",
                    json={"ahead_of_trunk": 4},
                    headers={"authorization": f"Bearer {created.secret}"},
                )
            assert response.status_code == 403  # a read key may not write: the test's own check
            # The key revoked while the page is open: the live feed ends, the page says why.
            async with sessions() as session, session.begin():
                await revoke_key(session, created.key.id)
            # The server re-checks a live socket's key within its check interval: allow 30 s
            # on a loaded machine (5 s, Playwright's default, failed once in CI).
            await expect(page.locator("#auth")).to_be_visible(timeout=30_000)
            await expect(page.locator("#auth-error")).to_contain_text("refused", timeout=30_000)
            await expect(page.locator("#live")).to_have_text("refused", timeout=30_000)
            # Forget the key: gone from storage, the page asks again.
            await page.click("#forget-key")
            await expect(page.locator("#auth")).to_be_visible()
            await expect(page.locator("#auth-error")).to_contain_text("asks for an API key")
            assert await page.evaluate("sessionStorage.getItem('imi.dashboard.apiKey')") is None
        finally:
            await page.screenshot(path=str(shots / "dashboard-forgotten.png"))
            await context.close()
    assert watch.blocked == []
    # The only console errors allowed: the browser's own line for each refused request.
    unexpected = [e for e in watch.errors if "status of 401" not in e]
    assert unexpected == []
