import uuid

import httpx

from tests.api.conftest import API, error, ok

ORIGIN = "git@github.com:delorenj/my-awesome-app.git"


async def register(client: httpx.AsyncClient, origin: str = ORIGIN, **fields: object) -> dict:
    response = await client.post(f"{API}/projects", json={"remote_origin": origin, **fields})
    assert response.status_code in (200, 201), response.text
    return dict(response.json()["data"])


async def test_register_201_then_200_with_both_id_names(client: httpx.AsyncClient) -> None:
    body = {
        "name": "my-awesome-app",
        "remote_origin": ORIGIN,
        "trunk_path": "/code/app/trunk-main",
        "metadata": {"language": "rust"},
    }
    created = ok(await client.post(f"{API}/projects/register", json=body), 201)
    assert isinstance(created, dict)
    assert created["id"] == created["project_id"]
    assert created["worktree_counts"] == {
        "active": 0,
        "in_flight": 0,
        "uncommitted": 0,
        "unmerged": 0,
    }
    again = ok(
        await client.post(
            f"{API}/projects", json={"remote_origin": "https://github.com/delorenj/my-awesome-app"}
        ),
        200,
    )
    assert isinstance(again, dict) and again["id"] == created["id"]


async def test_register_validation_errors(client: httpx.AsyncClient) -> None:
    err = error(
        await client.post(f"{API}/projects", json={"remote_origin": "nope"}),
        400,
        "VALIDATION_ERROR",
    )
    assert err["details"]["field"] == "remote_origin"  # type: ignore[index]
    err = error(await client.post(f"{API}/projects", json={"name": "x"}), 422, "VALIDATION_ERROR")
    assert err["details"]["field"] == "remote_origin"  # type: ignore[index]
    err = error(
        await client.post(f"{API}/projects", json={"remote_origin": ORIGIN, "metadata": "x"}),
        422,
        "VALIDATION_ERROR",
    )
    assert err["details"]["field"] == "metadata"  # type: ignore[index]


async def test_malformed_json_and_unknown_routes_use_the_envelope(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        f"{API}/projects",
        content=b'{"remote_origin": ',
        headers={"content-type": "application/json"},
    )
    err = error(response, 400, "VALIDATION_ERROR")
    assert err["message"] == "Malformed JSON body"
    error(await client.get(f"{API}/nothing-here"), 404, "NOT_FOUND")
    error(await client.put(f"{API}/projects"), 405, "VALIDATION_ERROR")


async def test_get_by_id_origin_and_404s(client: httpx.AsyncClient) -> None:
    project = await register(client)
    got = ok(await client.get(f"{API}/projects/{project['id']}"))
    assert isinstance(got, dict) and got["name"] == "my-awesome-app"
    by_origin = ok(
        await client.get(
            f"{API}/projects",
            params={"remote_origin": "ssh://git@github.com/delorenj/my-awesome-app.git"},
        )
    )
    assert isinstance(by_origin, dict) and by_origin["id"] == project["id"]
    error(await client.get(f"{API}/projects/{uuid.uuid4()}"), 404, "NOT_FOUND")
    error(await client.get(f"{API}/projects/not-a-uuid"), 404, "NOT_FOUND")
    error(
        await client.get(
            f"{API}/projects", params={"remote_origin": "git@github.com:x/unknown.git"}
        ),
        404,
        "NOT_FOUND",
    )
    error(
        await client.get(f"{API}/projects", params={"remote_origin": "junk"}),
        400,
        "VALIDATION_ERROR",
    )


async def test_list_paginates_and_filters(client: httpx.AsyncClient) -> None:
    for i in range(3):
        await register(
            client, f"git@github.com:acme/p{i}.git", metadata={"team": "core" if i else "web"}
        )
    response = await client.get(f"{API}/projects", params={"limit": 2, "offset": 0})
    body = response.json()
    assert response.status_code == 200 and body["success"] is True
    assert [p["name"] for p in body["data"]] == ["p0", "p1"]
    assert body["pagination"] == {"total": 3, "limit": 2, "offset": 0}
    core = (await client.get(f"{API}/projects", params={"metadata": '{"team": "core"}'})).json()
    assert [p["name"] for p in core["data"]] == ["p1", "p2"]
    err = error(
        await client.get(f"{API}/projects", params={"metadata": "[1]"}), 400, "VALIDATION_ERROR"
    )
    assert err["details"]["field"] == "metadata"  # type: ignore[index]
    err = error(await client.get(f"{API}/projects", params={"limit": 501}), 422, "VALIDATION_ERROR")
    assert err["details"]["field"] == "limit"  # type: ignore[index]
    error(await client.get(f"{API}/projects", params={"active": "maybe"}), 422, "VALIDATION_ERROR")


async def test_search_v2_and_v3(client: httpx.AsyncClient) -> None:
    await register(client)
    await register(client, "git@github.com:acme/unrelated.git")
    found = ok(await client.get(f"{API}/projects/search", params={"q": "awesome", "limit": 5}))
    assert isinstance(found, list) and found[0]["name"] == "my-awesome-app"
    assert 0 < found[0]["relevance"] <= 1 and found[0]["project_id"] == found[0]["id"]
    same = ok(await client.get(f"{API}/projects", params={"q": "awesome"}))
    assert isinstance(same, list) and [p["id"] for p in same] == [p["id"] for p in found]
    # A v2 path: malformed input is a 400 (002 section 6).
    error(await client.get(f"{API}/projects/search"), 400, "VALIDATION_ERROR")
    err = error(
        await client.get(f"{API}/projects/search", params={"q": " "}), 400, "VALIDATION_ERROR"
    )
    assert err["details"]["field"] == "q"  # type: ignore[index]


async def test_patch_and_delete(client: httpx.AsyncClient) -> None:
    project = await register(client, metadata={"language": "rust"})
    url = f"{API}/projects/{project['id']}"
    patched = ok(
        await client.patch(url, json={"description": "Updated", "metadata": {"team": "backend"}})
    )
    assert isinstance(patched, dict)
    assert patched["description"] == "Updated"
    assert patched["metadata"] == {"language": "rust", "team": "backend"}
    err = error(await client.patch(url, json={"name": ""}), 400, "VALIDATION_ERROR")
    assert err["details"]["field"] == "name"  # type: ignore[index]
    error(await client.patch(f"{API}/projects/{uuid.uuid4()}", json={}), 404, "NOT_FOUND")
    response = await client.delete(url)
    assert response.status_code == 204 and response.content == b""
    assert ok(await client.get(url))["active"] is False  # type: ignore[index]
    assert (await client.delete(url)).status_code == 204  # idempotent
    error(await client.delete(f"{API}/projects/zzz"), 404, "NOT_FOUND")


async def test_correlation_id_is_echoed_and_stored_on_events(
    client: httpx.AsyncClient, session: object
) -> None:
    from sqlalchemy import select

    from imi.outbox.models import Event

    response = await client.post(
        f"{API}/projects", json={"remote_origin": ORIGIN}, headers={"X-Correlation-ID": "req-42"}
    )
    assert response.headers["x-correlation-id"] == "req-42"
    generated = (await client.get(f"{API}/stats")).headers["x-correlation-id"]
    assert uuid.UUID(generated)
    [event] = (await session.execute(select(Event))).scalars()  # type: ignore[attr-defined]
    assert event.correlation_id == "req-42"
    assert event.envelope["metadata"]["correlation_id"] == "req-42"


async def test_openapi_and_docs_are_served(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert "/api/v1/projects/register" in spec["paths"]
    post = spec["paths"]["/api/v1/projects"]["post"]
    assert post["requestBody"]["content"]["application/json"]["examples"]
    assert (await client.get("/docs")).status_code == 200


async def test_values_the_database_refuses_are_a_400(client: httpx.AsyncClient) -> None:
    err = error(
        await client.get(f"{API}/work", params={"owner_id": "agent\x00x"}),
        400,
        "VALIDATION_ERROR",
    )
    assert "cannot be stored" in str(err["message"])
