"""`/components` through HTTP: CRUD, relationships, the dependency graph, manifest import."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from tests.api.conftest import API, error, ok

MANIFEST = """
[components]
bloodbank = { path = "bloodbank", kind = "submodule", enabled = true }
hookd     = { path = "hookd", kind = "local", enabled = true }
iMi       = { path = "iMi", kind = "submodule", enabled = true }
HeyMa     = { path = "HeyMa", kind = "submodule", enabled = false }
"""
NAMES = ["bloodbank", "hookd", "iMi", "HeyMa"]
MANIFEST_YAML = """
components:
  bloodbank: {path: bloodbank, kind: submodule, enabled: true}
  hookd: {path: hookd, kind: local, enabled: true}
  iMi: {path: iMi, kind: submodule, enabled: true}
  HeyMa: {path: HeyMa, kind: submodule, enabled: false}
"""
TOML = {"content-type": "application/toml"}


def _dict(value: object) -> dict[str, Any]:
    assert isinstance(value, dict)
    return value


def _list(value: object) -> list[Any]:
    assert isinstance(value, list)
    return value


@pytest.fixture
async def project_id(client: httpx.AsyncClient) -> str:
    body = {"remote_origin": "git@github.com:acme/33god.git"}
    return str(_dict(ok(await client.post(f"{API}/projects", json=body), 201))["id"])


async def _component(
    client: httpx.AsyncClient, project_id: str, name: str, **fields: Any
) -> dict[str, Any]:
    body = {"project_id": project_id, "name": name, **fields}
    return _dict(ok(await client.post(f"{API}/components", json=body), 201))


# --- create, get, update, list -------------------------------------------------------------


async def test_register_and_get(client: httpx.AsyncClient, project_id: str) -> None:
    created = await _component(
        client,
        project_id,
        "bloodbank",
        path="bloodbank",
        kind="submodule",
        enabled=False,
        metadata={"language": "python"},
        linked_project_id=project_id,
    )
    assert (created["name"], created["path"], created["kind"], created["enabled"]) == (
        "bloodbank",
        "bloodbank",
        "submodule",
        False,
    )
    assert created["project_id"] == created["parent_project_id"] == project_id
    assert created["linked_project_id"] == project_id
    assert created["id"] == created["component_id"]
    assert created["metadata"] == {"language": "python"}
    fetched = _dict(ok(await client.get(f"{API}/components/{created['id']}")))
    assert fetched == created


async def test_defaults(client: httpx.AsyncClient, project_id: str) -> None:
    created = await _component(client, project_id, "hookd")
    assert (created["kind"], created["enabled"], created["path"]) == ("local", True, None)


async def test_duplicate_name_is_a_conflict(client: httpx.AsyncClient, project_id: str) -> None:
    await _component(client, project_id, "iMi")
    body = {"project_id": project_id, "name": "iMi"}
    err = error(await client.post(f"{API}/components", json=body), 409, "CONFLICT")
    assert _dict(err["details"])["field"] == "name"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"name": "x"}, 422, "project_id"),
        ({"project_id": "nope", "name": "x"}, 422, "project_id"),
        ({"project_id": "PROJECT"}, 422, "name"),
        ({"project_id": "PROJECT", "name": "  "}, 400, "name"),
        ({"project_id": "PROJECT", "name": "x", "kind": "library"}, 422, "kind"),
        ({"project_id": "PROJECT", "name": "x", "enabled": "maybe"}, 422, "enabled"),
        ({"project_id": "PROJECT", "name": "x", "metadata": "tags"}, 422, "metadata"),
    ],
)
async def test_register_rejects_bad_input(
    client: httpx.AsyncClient, project_id: str, body: dict[str, Any], status: int, field: str
) -> None:
    body = {k: project_id if v == "PROJECT" else v for k, v in body.items()}
    err = error(await client.post(f"{API}/components", json=body), status, "VALIDATION_ERROR")
    assert _dict(err["details"])["field"] == field


@pytest.mark.parametrize("field", ["project_id", "linked_project_id"])
async def test_register_with_unknown_project_is_404(
    client: httpx.AsyncClient, project_id: str, field: str
) -> None:
    body = {"project_id": project_id, "name": "x", field: str(uuid.uuid4())}
    err = error(await client.post(f"{API}/components", json=body), 404, "NOT_FOUND")
    assert _dict(err["details"])["field"] == field


@pytest.mark.parametrize("component_id", [str(uuid.uuid4()), "not-a-uuid", "1"])
async def test_unknown_or_malformed_component_is_404(
    client: httpx.AsyncClient, component_id: str
) -> None:
    base = f"{API}/components/{component_id}"
    error(await client.get(base), 404, "NOT_FOUND")
    error(await client.patch(base, json={"enabled": False}), 404, "NOT_FOUND")
    error(await client.get(f"{base}/relationships"), 404, "NOT_FOUND")
    error(await client.get(f"{base}/graph"), 404, "NOT_FOUND")


async def test_patch_changes_only_the_fields_sent(
    client: httpx.AsyncClient, project_id: str
) -> None:
    created = await _component(
        client, project_id, "iMi", path="iMi", kind="submodule", metadata={"a": 1, "b": 2}
    )
    url = f"{API}/components/{created['id']}"
    disabled = _dict(ok(await client.patch(url, json={"enabled": False})))
    assert (disabled["enabled"], disabled["path"], disabled["kind"]) == (False, "iMi", "submodule")

    merged = _dict(ok(await client.patch(url, json={"metadata": {"b": None, "c": 3}})))
    assert merged["metadata"] == {"a": 1, "c": 3}

    cleared = _dict(ok(await client.patch(url, json={"path": None})))
    assert (cleared["path"], cleared["enabled"], cleared["name"]) == (None, False, "iMi")

    renamed = _dict(ok(await client.patch(url, json={"name": "imi", "kind": "external"})))
    assert (renamed["name"], renamed["kind"]) == ("imi", "external")
    unchanged = _dict(ok(await client.patch(url, json={})))
    assert unchanged == renamed


async def test_patch_errors(client: httpx.AsyncClient, project_id: str) -> None:
    await _component(client, project_id, "taken")
    mine = await _component(client, project_id, "mine")
    url = f"{API}/components/{mine['id']}"
    err = error(await client.patch(url, json={"name": "taken"}), 409, "CONFLICT")
    assert _dict(err["details"])["field"] == "name"
    err = error(await client.patch(url, json={"name": " "}), 400, "VALIDATION_ERROR")
    assert _dict(err["details"])["field"] == "name"
    err = error(await client.patch(url, json={"kind": "nope"}), 422, "VALIDATION_ERROR")
    assert _dict(err["details"])["field"] == "kind"
    missing = {"linked_project_id": str(uuid.uuid4())}
    err = error(await client.patch(url, json=missing), 404, "NOT_FOUND")
    assert _dict(err["details"])["field"] == "linked_project_id"
    response = await client.patch(url, content=b"[", headers={"content-type": "application/json"})
    error(response, 400, "VALIDATION_ERROR")


async def test_list_filters_and_pages(client: httpx.AsyncClient, project_id: str) -> None:
    other = _dict(
        ok(await client.post(f"{API}/projects", json={"remote_origin": "git@h.com:o/r"}), 201)
    )
    await _component(client, project_id, "a", kind="submodule", metadata={"team": "core"})
    await _component(client, project_id, "b", kind="local", enabled=False)
    await _component(client, project_id, "c", kind="submodule", metadata={"team": "web"})
    await _component(client, other["id"], "d")

    async def names(**params: Any) -> list[str]:
        response = await client.get(f"{API}/components", params=params)
        return [c["name"] for c in _list(ok(response))]

    assert await names() == ["a", "b", "c", "d"]
    assert await names(project_id=project_id) == ["a", "b", "c"]
    assert await names(kind="submodule") == ["a", "c"]
    assert await names(enabled="false") == ["b"]
    assert await names(metadata=json.dumps({"team": "core"})) == ["a"]

    response = await client.get(f"{API}/components", params={"limit": 2, "offset": 1})
    body = response.json()
    assert [c["name"] for c in body["data"]] == ["b", "c"]
    assert body["pagination"] == {"total": 4, "limit": 2, "offset": 1}


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"metadata": "not json"}, 400, "metadata"),
        ({"metadata": "[1, 2]"}, 400, "metadata"),
        ({"kind": "library"}, 422, "kind"),
        ({"project_id": "nope"}, 422, "project_id"),
        ({"enabled": "maybe"}, 422, "enabled"),
        ({"limit": 0}, 422, "limit"),
        ({"limit": 501}, 422, "limit"),
        ({"offset": -1}, 422, "offset"),
        ({"offset": 2**64}, 422, "offset"),
    ],
)
async def test_list_rejects_bad_filters(
    client: httpx.AsyncClient, params: dict[str, Any], status: int, field: str
) -> None:
    response = await client.get(f"{API}/components", params=params)
    err = error(response, status, "VALIDATION_ERROR")
    assert _dict(err["details"])["field"] == field


# --- relationships and graph ---------------------------------------------------------------


async def _relate(
    client: httpx.AsyncClient, a: dict[str, Any], b: dict[str, Any], kind: str = "depends_on"
) -> httpx.Response:
    body = {"from_component_id": a["id"], "to_component_id": b["id"], "relation_type": kind}
    return await client.post(f"{API}/components/relationships", json=body)


async def test_relationships(client: httpx.AsyncClient, project_id: str) -> None:
    a, b, c = [await _component(client, project_id, n) for n in ("a", "b", "c")]
    created = _dict(ok(await _relate(client, a, b), 201))
    assert (created["from_component_id"], created["to_component_id"]) == (a["id"], b["id"])
    assert created["relation_type"] == "depends_on"
    assert created["id"] == created["relationship_id"]
    again = _dict(ok(await _relate(client, a, b), 200))
    assert again["id"] == created["id"]
    ok(await _relate(client, c, a, "produces_events_for"), 201)

    rels = _list(ok(await client.get(f"{API}/components/{a['id']}/relationships")))
    assert [(r["from_component_id"], r["to_component_id"], r["relation_type"]) for r in rels] == [
        (a["id"], b["id"], "depends_on"),
        (c["id"], a["id"], "produces_events_for"),
    ]
    assert _list(ok(await client.get(f"{API}/components/{b['id']}/relationships"))) == [created]


async def test_relationship_errors(client: httpx.AsyncClient, project_id: str) -> None:
    a = await _component(client, project_id, "a")
    err = error(await _relate(client, a, a), 400, "VALIDATION_ERROR")
    assert _dict(err["details"])["field"] == "to_component_id"
    err = error(await _relate(client, a, a, "blocks"), 422, "VALIDATION_ERROR")
    assert _dict(err["details"])["field"] == "relation_type"
    ghost = {"id": str(uuid.uuid4())}
    err = error(await _relate(client, ghost, a), 404, "NOT_FOUND")
    assert _dict(err["details"])["field"] == "from_component_id"
    err = error(await _relate(client, a, ghost), 404, "NOT_FOUND")
    assert _dict(err["details"])["field"] == "to_component_id"
    body = {"from_component_id": "x", "to_component_id": a["id"]}
    err = error(
        await client.post(f"{API}/components/relationships", json=body), 422, "VALIDATION_ERROR"
    )
    assert _dict(err["details"])["field"] == "from_component_id"


async def test_dependency_graph(client: httpx.AsyncClient, project_id: str) -> None:
    a, b, c, d = [await _component(client, project_id, n) for n in ("a", "b", "c", "d")]
    for src, dst in ((a, b), (b, c), (c, a)):  # a cycle: a -> b -> c -> a
        ok(await _relate(client, src, dst), 201)
    ok(await _relate(client, d, a, "consumes_events_from"), 201)

    async def graph(component: dict[str, Any], **params: Any) -> dict[str, Any]:
        url = f"{API}/components/{component['id']}/graph"
        return _dict(ok(await client.get(url, params=params)))

    near = await graph(a, depth=1)
    assert (near["root"], near["direction"], near["depth"]) == (a["id"], "dependencies", 1)
    assert [(n["name"], n["distance"]) for n in near["nodes"]] == [("a", 0), ("b", 1)]
    assert [(e["from_component_id"], e["to_component_id"]) for e in near["edges"]] == [
        (a["id"], b["id"])
    ]

    full = await graph(a)
    assert [(n["name"], n["distance"]) for n in full["nodes"]] == [("a", 0), ("b", 1), ("c", 2)]
    assert len(full["edges"]) == 3  # the edge closing the cycle too

    dependents = await graph(a, direction="dependents", depth=1)
    assert [n["name"] for n in dependents["nodes"]] == ["a", "c", "d"]
    only = await graph(a, direction="dependents", depth=1, relation_types="consumes_events_from")
    assert [n["name"] for n in only["nodes"]] == ["a", "d"]


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"direction": "sideways"}, 400, "direction"),
        ({"depth": 0}, 400, "depth"),
        ({"depth": 21}, 400, "depth"),
        ({"depth": "deep"}, 422, "depth"),
        ({"relation_types": "blocks"}, 400, "relation_types"),
    ],
)
async def test_graph_rejects_bad_parameters(
    client: httpx.AsyncClient, project_id: str, params: dict[str, Any], status: int, field: str
) -> None:
    a = await _component(client, project_id, "a")
    response = await client.get(f"{API}/components/{a['id']}/graph", params=params)
    err = error(response, status, "VALIDATION_ERROR")
    assert _dict(err["details"])["field"] == field


# --- manifest import -----------------------------------------------------------------------


async def _import(
    client: httpx.AsyncClient, project_id: str, body: str | bytes, **params: str
) -> httpx.Response:
    headers = TOML if "content_type" not in params else {"content-type": params.pop("content_type")}
    return await client.post(
        f"{API}/components/import",
        params={"project_id": project_id, **params},
        content=body,
        headers=headers,
    )


async def test_import_twice(client: httpx.AsyncClient, project_id: str) -> None:
    first = _dict(ok(await _import(client, project_id, MANIFEST)))
    assert (first["created"], first["updated"], first["unchanged"]) == (NAMES, [], [])
    assert [c["name"] for c in first["components"]] == NAMES
    heyma = first["components"][3]
    assert (heyma["kind"], heyma["enabled"], heyma["project_id"]) == (
        "submodule",
        False,
        project_id,
    )

    second = _dict(ok(await _import(client, project_id, MANIFEST)))
    assert (second["created"], second["updated"], second["unchanged"]) == ([], [], NAMES)
    assert second["components"] == first["components"]

    listed = _list(ok(await client.get(f"{API}/components", params={"project_id": project_id})))
    assert sorted(c["name"] for c in listed) == sorted(NAMES)


async def test_import_updates_changed_entries(client: httpx.AsyncClient, project_id: str) -> None:
    ok(await _import(client, project_id, MANIFEST))
    changed = MANIFEST.replace(
        'HeyMa     = { path = "HeyMa", kind = "submodule", enabled = false }',
        'HeyMa     = { path = "HeyMa", kind = "submodule", enabled = true }',
    )
    report = _dict(ok(await _import(client, project_id, changed, content_type="text/plain")))
    assert (report["created"], report["updated"]) == ([], ["HeyMa"])
    assert report["unchanged"] == ["bloodbank", "hookd", "iMi"]


@pytest.mark.parametrize(
    ("content_type", "params"),
    [("application/yaml", {}), ("text/x-yaml", {}), ("text/plain", {"format": "yaml"})],
)
async def test_import_yaml(
    client: httpx.AsyncClient, project_id: str, content_type: str, params: dict[str, str]
) -> None:
    response = await _import(client, project_id, MANIFEST_YAML, content_type=content_type, **params)
    assert _dict(ok(response))["created"] == NAMES
    # The TOML form of the same manifest is the same components.
    assert _dict(ok(await _import(client, project_id, MANIFEST)))["unchanged"] == NAMES


async def test_malformed_toml_reports_line_and_column(
    client: httpx.AsyncClient, project_id: str
) -> None:
    body = '[components]\nbloodbank = { path = "bloodbank", kind = }\n'
    err = error(await _import(client, project_id, body), 400, "VALIDATION_ERROR")
    details = _dict(err["details"])
    assert details["field"] == "body"
    assert (details["line"], details["column"]) == (2, 42)
    assert "invalid TOML" in str(err["message"])


async def test_malformed_yaml_reports_line(client: httpx.AsyncClient, project_id: str) -> None:
    body = "components:\n  a: {path: a\n  b: [\n"
    err = error(
        await _import(client, project_id, body, content_type="application/yaml"),
        400,
        "VALIDATION_ERROR",
    )
    assert "line" in _dict(err["details"])


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ("[other]\nx = 1\n", "components"),
        ('[components]\na = { kind = "library" }\n', "kind"),
        ('[components]\na = "just a string"\n', None),
    ],
)
async def test_invalid_manifest_documents(
    client: httpx.AsyncClient, project_id: str, body: str, key: str | None
) -> None:
    err = error(await _import(client, project_id, body), 400, "VALIDATION_ERROR")
    details = _dict(err["details"])
    assert details["field"] == "body"
    assert details.get("key") == key


@pytest.mark.parametrize(
    "entry",
    [
        'a = { path = "a", weight = nan }',
        'a = { path = "a", weight = inf }',
        'a = { path = "a\\u0000b" }',
        '"a\\u0000" = { path = "a" }',
        'a = { path = "a", tags = ["x", "\\u0000"] }',
    ],
)
async def test_unstorable_values_are_rejected(
    client: httpx.AsyncClient, project_id: str, entry: str
) -> None:
    err = error(
        await _import(client, project_id, f"[components]\n{entry}\n"), 400, "VALIDATION_ERROR"
    )
    assert _dict(err["details"])["field"] == "body"


async def test_import_errors(client: httpx.AsyncClient, project_id: str) -> None:
    err = error(await _import(client, str(uuid.uuid4()), MANIFEST), 404, "NOT_FOUND")
    assert _dict(err["details"])["field"] == "project_id"
    for bad in ("nope", ""):
        err = error(await _import(client, bad, MANIFEST), 422, "VALIDATION_ERROR")
        assert _dict(err["details"])["field"] == "project_id"
    response = await client.post(f"{API}/components/import", content=MANIFEST, headers=TOML)
    err = error(response, 422, "VALIDATION_ERROR")
    assert _dict(err["details"])["field"] == "project_id"
    err = error(
        await _import(client, project_id, MANIFEST, content_type="application/json"),
        400,
        "VALIDATION_ERROR",
    )
    assert _dict(err["details"])["field"] == "content-type"
    err = error(await _import(client, project_id, b"\xff\xfe"), 400, "VALIDATION_ERROR")
    assert _dict(err["details"])["field"] == "body"
    err = error(await _import(client, project_id, MANIFEST, format="ini"), 422, "VALIDATION_ERROR")
    assert _dict(err["details"])["field"] == "format"


async def test_openapi_documents_the_toml_body(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    operation = schema["paths"]["/api/v1/components/import"]["post"]
    content = operation["requestBody"]["content"]
    assert "[components]" in content["application/toml"]["example"]
    assert "application/yaml" in content
    assert {"400", "404"} <= set(operation["responses"])
