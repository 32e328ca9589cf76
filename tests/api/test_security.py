"""Keys, scopes, project restriction and modes, over REST and GraphQL (issue 12).

The app runs with IMI_AUTH=required unless a test says otherwise, so a missing key is a 401
even from loopback; keys are created with the domain service, as `imi keys create` does."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from imi.app import create_app
from imi.auth.keys import create_key, revoke_key
from imi.auth.models import Scope
from imi.settings import Settings
from tests.api.conftest import API

Sessions = async_sessionmaker[AsyncSession]
JWT_SECRET = "test-secret-that-is-long-enough-for-hs256"


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"rabbitmq_url": None, "auth": "required", "jwt_secret": JWT_SECRET}
    return Settings(_env_file=None, **(values | overrides))  # type: ignore[call-arg]


ClientFactory = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def make_client(database_url: str, engine: AsyncEngine) -> AsyncIterator[ClientFactory]:
    opened: list[Any] = []

    async def make(
        *, client: tuple[str, int] = ("127.0.0.1", 5000), **overrides: Any
    ) -> httpx.AsyncClient:
        app = create_app(settings(**overrides), database_url)
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=client)
        http = httpx.AsyncClient(transport=transport, base_url="http://imi.test")
        opened.append((lifespan, http))
        return http

    yield make
    for lifespan, http in reversed(opened):
        await http.aclose()
        await lifespan.__aexit__(None, None, None)


@pytest.fixture
async def http(make_client: ClientFactory) -> httpx.AsyncClient:
    return await make_client()


async def new_key(
    sessions: Sessions,
    scope: Scope,
    projects: list[uuid.UUID] | None = None,
    expires_at: datetime | None = None,
) -> str:
    async with sessions() as session, session.begin():
        created = await create_key(
            session, name=f"test {scope}", scope=scope, project_ids=projects, expires_at=expires_at
        )
    return created.secret


def auth(secret: str) -> dict[str, str]:
    return {"authorization": f"Bearer {secret}"}


def rest_routes() -> list[tuple[str, str]]:
    """Every REST operation, from the OpenAPI document, path parameters filled in."""
    app = create_app(settings(), "postgresql://unused@127.0.0.1:1/unused")
    found = []
    for path, operations in app.openapi()["paths"].items():
        if path.startswith(API):
            concrete = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)
            found += [(method.upper(), concrete) for method in operations]
    return found


ROUTES = rest_routes()
WRITES = [(m, p) for m, p in ROUTES if m != "GET"]


async def test_every_rest_route_needs_a_key(http: httpx.AsyncClient) -> None:
    assert len(ROUTES) >= 39  # every operation of the OpenAPI document
    for method, path in ROUTES:
        response = await http.request(method, path)
        assert response.status_code == 401, (method, path, response.text)
        body = response.json()
        assert body["success"] is False and body["error"]["code"] == "UNAUTHORIZED"
        assert response.headers["www-authenticate"].startswith("Bearer")
    # Health and the pages stay open.
    assert (await http.get("/health")).status_code == 200
    assert (await http.get("/docs")).status_code == 200
    unknown = await http.get(f"{API}/projects", headers=auth("imi_deadbeef_nope"))
    assert unknown.status_code == 401
    malformed = await http.get(f"{API}/projects", headers={"authorization": "Basic abc"})
    assert malformed.status_code == 401


async def test_a_read_key_changes_nothing(http: httpx.AsyncClient, sessions: Sessions) -> None:
    reader = auth(await new_key(sessions, Scope.READ))
    for method, path in WRITES:
        response = await http.request(method, path, headers=reader, json={})
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["error"]["code"] == "FORBIDDEN"
    assert (await http.get(f"{API}/projects", headers=reader)).status_code == 200
    assert (await http.get(f"{API}/keys", headers=reader)).status_code == 403
    origin = "git@github.com:a/b.git"
    mutation = (
        f'mutation {{ registerProject(input: {{remoteOrigin: "{origin}"}}) {{ __typename }} }}'
    )
    graphql = await http.post("/graphql", json={"query": mutation}, headers=reader)
    [error] = graphql.json()["errors"]
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert (await http.get(f"{API}/projects", headers=reader)).json()["data"] == []
    query = await http.post(
        "/graphql", json={"query": "{ projects { totalCount } }"}, headers=reader
    )
    assert query.json() == {"data": {"projects": {"totalCount": 0}}}


async def test_write_and_admin_scopes(http: httpx.AsyncClient, sessions: Sessions) -> None:
    writer = auth(await new_key(sessions, Scope.WRITE))
    admin = auth(await new_key(sessions, Scope.ADMIN))
    created = await http.post(
        f"{API}/projects", json={"remote_origin": "git@github.com:acme/app.git"}, headers=writer
    )
    assert created.status_code == 201, created.text
    pid = created.json()["data"]["id"]
    # Deleting (deactivating) is admin: refused to a write key, allowed to an admin key.
    assert (await http.delete(f"{API}/projects/{pid}", headers=writer)).status_code == 403
    deactivate = f'mutation {{ deactivateProject(id: "{pid}") {{ __typename }} }}'
    refused = await http.post("/graphql", json={"query": deactivate}, headers=writer)
    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await http.delete(f"{API}/projects/{pid}", headers=admin)).status_code == 204


async def test_keys_over_rest_and_revocation(http: httpx.AsyncClient, sessions: Sessions) -> None:
    admin = auth(await new_key(sessions, Scope.ADMIN))
    made = await http.post(
        f"{API}/keys", json={"name": "dash", "scope": "imi:read", "expires": "1d"}, headers=admin
    )
    assert made.status_code == 201, made.text
    key = made.json()["data"]
    assert key["secret"].startswith(f"imi_{key['prefix']}_") and key["active"] is True
    reader = auth(key["secret"])
    assert (await http.get(f"{API}/projects", headers=reader)).status_code == 200
    listed = (await http.get(f"{API}/keys", headers=admin)).json()["data"]
    assert {k["id"] for k in listed} >= {key["id"]} and all("secret" not in k for k in listed)
    assert (await http.delete(f"{API}/keys/{key['id']}", headers=admin)).status_code == 204
    started = time.monotonic()
    assert (await http.get(f"{API}/projects", headers=reader)).status_code == 401
    assert time.monotonic() - started < 1.0
    assert (await http.delete(f"{API}/keys/{uuid.uuid4()}", headers=admin)).status_code == 404
    bad = await http.post(f"{API}/keys", json={"name": "x", "scope": "root"}, headers=admin)
    assert bad.status_code == 422 and bad.json()["error"]["details"]["field"] == "scope"


async def test_expired_key_is_refused(http: httpx.AsyncClient, sessions: Sessions) -> None:
    secret = await new_key(
        sessions, Scope.READ, expires_at=datetime.now(UTC) + timedelta(seconds=1)
    )
    assert (await http.get(f"{API}/projects", headers=auth(secret))).status_code == 200
    async with sessions() as session, session.begin():
        await session.execute(text("UPDATE api_keys SET expires_at = now() - interval '1 second'"))
    assert (await http.get(f"{API}/projects", headers=auth(secret))).status_code == 401


async def test_local_open_mode(make_client: ClientFactory) -> None:
    local = await make_client(auth="local-open")
    assert (await local.get(f"{API}/projects")).status_code == 200
    remote = await make_client(auth="local-open", client=("203.0.113.7", 4000))
    response = await remote.get(f"{API}/projects")
    assert response.status_code == 401
    # A key is checked even where none is needed.
    bad = await local.get(f"{API}/projects", headers=auth("imi_00000000_wrong"))
    assert bad.status_code == 401
    off = await make_client(auth="off", client=("203.0.113.7", 4000))
    assert (await off.get(f"{API}/projects")).status_code == 200


async def test_jwt_bearer_tokens(http: httpx.AsyncClient) -> None:
    def token(**claims: Any) -> dict[str, str]:
        body = {"sub": "ci", "exp": datetime.now(UTC) + timedelta(minutes=5), **claims}
        return auth(jwt.encode(body, JWT_SECRET, algorithm="HS256"))

    reader = token(scope="imi:read")
    assert (await http.get(f"{API}/projects", headers=reader)).status_code == 200
    write = await http.post(f"{API}/projects", json={"remote_origin": "x"}, headers=reader)
    assert write.status_code == 403
    writer = token(scope="openid imi:write")
    made = await http.post(
        f"{API}/projects", json={"remote_origin": "git@github.com:acme/jwt.git"}, headers=writer
    )
    assert made.status_code == 201
    for refused in (
        token(scope="imi:read", exp=datetime.now(UTC) - timedelta(seconds=5)),
        token(scope="profile"),
        auth(
            jwt.encode({"scope": "imi:read", "exp": 2**40}, "another-secret-of-quite-enough-length")
        ),
        auth("not.a.jwt"),
    ):
        assert (await http.get(f"{API}/projects", headers=refused)).status_code == 401


async def _two_projects(http: httpx.AsyncClient, admin: dict[str, str]) -> tuple[str, str]:
    ids = []
    for name in ("mine", "theirs"):
        created = await http.post(
            f"{API}/projects",
            json={"remote_origin": f"git@github.com:acme/{name}.git", "name": name},
            headers=admin,
        )
        pid = created.json()["data"]["id"]
        work = await http.post(
            f"{API}/work",
            json={"project_id": pid, "branch_name": f"feat/PROJ-{len(ids) + 1}-x", "owner_id": "a"},
            headers=admin,
        )
        assert work.status_code == 201, work.text
        ids.append(pid)
    return ids[0], ids[1]


async def test_a_project_scoped_key_sees_only_its_projects(
    http: httpx.AsyncClient, sessions: Sessions
) -> None:
    admin = auth(await new_key(sessions, Scope.ADMIN))
    mine, theirs = await _two_projects(http, admin)
    scoped = auth(await new_key(sessions, Scope.WRITE, [uuid.UUID(mine)]))

    listed = (await http.get(f"{API}/projects", headers=scoped)).json()
    assert [p["id"] for p in listed["data"]] == [mine] and listed["pagination"]["total"] == 1
    assert (await http.get(f"{API}/projects/{theirs}", headers=scoped)).status_code == 404
    work = (await http.get(f"{API}/work", headers=scoped)).json()["data"]
    assert {w["project_id"] for w in work} == {mine}
    inflight = (await http.get(f"{API}/inflight-work", headers=scoped)).json()["data"]
    assert {w["project_id"] for w in inflight} == {mine}
    stats = (await http.get(f"{API}/stats", headers=scoped)).json()["data"]
    assert stats["total_projects"] == 1 and stats["active_work_items"] == 1
    search = await http.get(f"{API}/projects/search", params={"q": "theirs"}, headers=scoped)
    assert search.json()["data"] == []
    trace = await http.get(f"{API}/trace/ticket/PROJ-2", headers=scoped)
    assert trace.status_code == 404
    assert (await http.get(f"{API}/trace/ticket/PROJ-1", headers=scoped)).status_code == 200
    # Changes to the other project are refused; to its own allowed.
    patch = await http.patch(f"{API}/projects/{theirs}", json={"description": "x"}, headers=scoped)
    assert patch.status_code == 404
    start = await http.post(
        f"{API}/work", json={"project_id": theirs, "branch_name": "feat/y"}, headers=scoped
    )
    assert start.status_code == 404
    ok = await http.patch(f"{API}/projects/{mine}", json={"description": "x"}, headers=scoped)
    assert ok.status_code == 200
    register = await http.post(
        f"{API}/projects", json={"remote_origin": "git@github.com:acme/new.git"}, headers=scoped
    )
    assert register.status_code == 403
    # GraphQL: filtered in lists and nested fields, null by id.
    query = f"""{{
      projects {{ totalCount nodes {{ uuid workItems {{ totalCount }} }} }}
      other: project(id: "{theirs}") {{ name }}
      workItems {{ totalCount }}
      ticket(planeTicketId: "PROJ-2") {{ planeTicketId }}
      stats {{ totalProjects }}
    }}"""
    data = (await http.post("/graphql", json={"query": query}, headers=scoped)).json()["data"]
    assert data["projects"]["totalCount"] == 1 and data["projects"]["nodes"][0]["uuid"] == mine
    assert data["other"] is None and data["ticket"] is None
    assert data["workItems"]["totalCount"] == 1 and data["stats"]["totalProjects"] == 1
    # The admin still sees both.
    assert (await http.get(f"{API}/stats", headers=admin)).json()["data"]["total_projects"] == 2


async def test_secrets_never_reach_logs_or_events(
    http: httpx.AsyncClient, sessions: Sessions, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = await new_key(sessions, Scope.WRITE)
    await http.post(
        f"{API}/projects", json={"remote_origin": "git@github.com:acme/s.git"}, headers=auth(secret)
    )
    await http.get(f"{API}/projects", headers=auth(secret + "x"))
    assert secret not in caplog.text
    async with sessions() as session:
        dump = await session.execute(text("SELECT string_agg(envelope::text, '') FROM events"))
        events = dump.scalar_one()
        hashes = (await session.execute(text("SELECT secret_hash FROM api_keys"))).scalars().all()
    assert events and secret not in events
    assert all(secret not in h for h in hashes)


async def test_the_read_only_role(sessions: Sessions) -> None:
    async with sessions() as session, session.begin():
        await session.execute(text("SET LOCAL ROLE imi_readonly"))
        assert (await session.execute(text("SELECT count(*) FROM projects"))).scalar_one() == 0
        with pytest.raises(Exception, match="permission denied"):
            async with session.begin_nested():
                await session.execute(
                    text(
                        "INSERT INTO projects (name, remote_origin, remote_origin_normalized) "
                        "VALUES ('x', 'y', 'z')"
                    )
                )
        with pytest.raises(Exception, match="permission denied"):
            async with session.begin_nested():
                await session.execute(text("SELECT * FROM api_keys"))


async def test_key_creation_validates(sessions: Sessions) -> None:
    from imi.errors import NotFound, ValidationFailed

    async with sessions() as session, session.begin():
        with pytest.raises(ValidationFailed):
            await create_key(session, name=" ", scope=Scope.READ)
        with pytest.raises(NotFound):
            await create_key(session, name="x", scope=Scope.READ, project_ids=[uuid.uuid4()])
        with pytest.raises(ValidationFailed):
            await create_key(
                session, name="x", scope=Scope.READ, expires_at=datetime.now(UTC) - timedelta(1)
            )
        with pytest.raises(NotFound):
            await revoke_key(session, uuid.uuid4())


async def test_rate_limit_per_key_then_recovery(
    make_client: ClientFactory, sessions: Sessions
) -> None:
    """002 section 8: a rate limit per API key; 429 with Retry-After in the v2 envelope."""
    http = await make_client(rate_limit_per_minute=120, rate_limit_burst=3)
    first = auth(await new_key(sessions, Scope.READ))
    second = auth(await new_key(sessions, Scope.READ))
    statuses = [(await http.get(f"{API}/projects", headers=first)).status_code for _ in range(5)]
    assert statuses[:3] == [200, 200, 200] and statuses[-1] == 429
    limited = await http.get(f"{API}/projects", headers=first)
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "RATE_LIMITED"
    retry = int(limited.headers["retry-after"])
    assert 1 <= retry <= 2
    # Another key has its own budget.
    assert (await http.get(f"{API}/projects", headers=second)).status_code == 200
    # One request's worth of time later (0.5 s at 120/minute), the key may go on.
    await asyncio.sleep(0.6)
    assert (await http.get(f"{API}/projects", headers=first)).status_code == 200


async def test_rs256_tokens_from_a_public_key_file(
    make_client: ClientFactory, tmp_path: Any
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    key_file = tmp_path / "jwt.pem"
    key_file.write_bytes(public_pem)
    http = await make_client(jwt_secret=None, jwt_public_key_file=key_file, jwt_audience="imi")
    claims = {"sub": "sso", "aud": "imi", "scope": "imi:read", "exp": 2**40}
    good = jwt.encode(claims, private, algorithm="RS256")
    assert (await http.get(f"{API}/projects", headers=auth(good))).status_code == 200
    wrong_audience = jwt.encode({**claims, "aud": "other"}, private, algorithm="RS256")
    assert (await http.get(f"{API}/projects", headers=auth(wrong_audience))).status_code == 401
    # HS256 is not configured on this server: refused even with a valid-looking token.
    hs = jwt.encode(claims, JWT_SECRET, algorithm="HS256")
    assert (await http.get(f"{API}/projects", headers=auth(hs))).status_code == 401


async def test_graphiql_and_introspection_can_be_switched_off(make_client: ClientFactory) -> None:
    http = await make_client(auth="off", graphql_ide=False, graphql_introspection=False)
    page = await http.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code != 200 or "graphiql" not in page.text.lower()
    introspection = await http.post("/graphql", json={"query": "{ __schema { types { name } } }"})
    assert "errors" in introspection.json()
    data = await http.post("/graphql", json={"query": "{ projects { totalCount } }"})
    assert data.json() == {"data": {"projects": {"totalCount": 0}}}


def test_serve_refuses_an_open_network_address() -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    imi = str(Path(sys.executable).with_name("imi"))
    env = {**os.environ, "IMI_AUTH": "off"}
    result = subprocess.run(
        [imi, "serve", "--host", "0.0.0.0", "--port", "1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 2
    assert "--force-open" in result.stderr


async def test_a_get_with_a_query_is_an_operation_not_the_graphiql_page(
    http: httpx.AsyncClient, sessions: Sessions
) -> None:
    """The page is open (IMI_DOCS_PUBLIC); a GET carrying a query runs it, so it needs a key."""
    html = {"accept": "text/html"}
    page = await http.get("/graphql", headers=html)
    assert page.status_code == 200 and "graphiql" in page.text.lower()
    query = {"query": "{ projects { totalCount nodes { remoteOrigin } } }"}
    assert (await http.get("/graphql", params=query, headers=html)).status_code == 401
    reader = await new_key(sessions, Scope.READ)
    answer = await http.get("/graphql", params=query, headers={**html, **auth(reader)})
    assert answer.json()["data"]["projects"]["totalCount"] == 0


async def test_admin_mutations_behind_nested_fragments_are_still_admin(
    http: httpx.AsyncClient, sessions: Sessions
) -> None:
    writer = auth(await new_key(sessions, Scope.WRITE))
    pid = (
        await http.post(
            f"{API}/projects", json={"remote_origin": "git@github.com:a/frag.git"}, headers=writer
        )
    ).json()["data"]["id"]
    chain = "\n".join(f"fragment F{i} on Mutation {{ ...F{i + 1} }}" for i in range(12))
    document = (
        "mutation { ...F0 }\n" + chain + "\nfragment F12 on Mutation "
        f'{{ deactivateProject(id: "{pid}") {{ __typename }} }}'
    )
    refused = await http.post("/graphql", json={"query": document}, headers=writer)
    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    project = await http.get(f"{API}/projects/{pid}", headers=writer)
    assert project.json()["data"]["active"] is True


async def test_key_management_over_graphql(http: httpx.AsyncClient, sessions: Sessions) -> None:
    admin = auth(await new_key(sessions, Scope.ADMIN))
    create = """mutation { createApiKey(input: {name: "gql", scope: "imi:read"}) {
      __typename ... on CreateApiKeyPayload { secret apiKey { id scope active } } } }"""
    made = (await http.post("/graphql", json={"query": create}, headers=admin)).json()["data"]
    payload = made["createApiKey"]
    assert payload["__typename"] == "CreateApiKeyPayload" and payload["secret"].startswith("imi_")
    key_id = payload["apiKey"]["id"]
    listed = await http.post("/graphql", json={"query": "{ apiKeys { id active } }"}, headers=admin)
    assert {"id": key_id, "active": True} in listed.json()["data"]["apiKeys"]
    fields = "__typename ... on RevokeApiKeyPayload { apiKey { active } }"
    revoke = f'mutation {{ revokeApiKey(id: "{key_id}") {{ {fields} }} }}'
    revoked = (await http.post("/graphql", json={"query": revoke}, headers=admin)).json()
    assert revoked["data"]["revokeApiKey"]["apiKey"]["active"] is False
    assert (await http.get(f"{API}/projects", headers=auth(payload["secret"]))).status_code == 401
    # A key restricted to projects manages no keys, whatever its scope.
    pid = (
        await http.post(
            f"{API}/projects", json={"remote_origin": "git@github.com:a/k.git"}, headers=admin
        )
    ).json()["data"]["id"]
    restricted = auth(await new_key(sessions, Scope.ADMIN, [uuid.UUID(pid)]))
    assert (await http.get(f"{API}/keys", headers=restricted)).status_code == 403
    refused = await http.post("/graphql", json={"query": create}, headers=restricted)
    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_a_retried_read_counts_once_against_the_rate_limit(
    make_client: ClientFactory, sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read that lost its database connection is retried once by the failure middleware:
    one request for the caller's budget, not two."""
    from imi.projects import queries

    http = await make_client(rate_limit_per_minute=1, rate_limit_burst=2)
    key = auth(await new_key(sessions, Scope.READ))
    project = uuid.uuid4()
    real = queries.project_by_id
    failed: list[bool] = []

    async def lose_the_first_connection(session: Any, project_id: uuid.UUID) -> Any:
        if not failed:
            failed.append(True)
            raise ConnectionResetError("connection lost")  # what a dropped backend raises
        return await real(session, project_id)

    monkeypatch.setattr(queries, "project_by_id", lose_the_first_connection)
    first = await http.get(f"{API}/projects/{project}", headers=key)
    assert failed and first.status_code == 404, first.text  # retried, answered
    second = await http.get(f"{API}/projects/{project}", headers=key)
    assert second.status_code == 404, second.text  # the burst of 2 had room for it
    third = await http.get(f"{API}/projects/{project}", headers=key)
    assert third.status_code == 429
