"""registerComponent, updateComponent, relateComponents, importComponents."""

from __future__ import annotations

import uuid
from typing import Any

from imi.graphql.ids import to_global_id
from tests.graphql.conftest import GraphQL
from tests.graphql.test_mutations_projects import mutation, register_project

COMPONENT_FIELDS = "id uuid parentProjectId name path kind enabled linkedProjectId metadata"

REGISTER = mutation(
    "registerComponent",
    "RegisterComponentInput",
    f"RegisterComponentPayload {{ component {{ {COMPONENT_FIELDS} }} }}",
)
UPDATE = mutation(
    "updateComponent",
    "UpdateComponentInput",
    f"UpdateComponentPayload {{ component {{ {COMPONENT_FIELDS} }} }}",
)
RELATE = mutation(
    "relateComponents",
    "RelateComponentsInput",
    """RelateComponentsPayload {
      created
      relationship { id relationType metadata from { name dependsOn { name } } to { name } }
    }""",
)
IMPORT = mutation(
    "importComponents",
    "ImportComponentsInput",
    """ImportComponentsPayload {
      created updated unchanged
      components { name path kind enabled metadata }
    }""",
)

MANIFEST = """
[components]
bloodbank = { path = "bloodbank", kind = "submodule", enabled = true }
iMi       = { path = "iMi", kind = "submodule", enabled = true, owner = "infra" }
"""


async def register(graphql: GraphQL, **fields: Any) -> dict[str, Any]:
    result: dict[str, Any] = (await graphql.run(REGISTER, {"input": fields}))["registerComponent"]
    return result


async def component(graphql: GraphQL, project_id: str, name: str) -> dict[str, Any]:
    result = await register(graphql, projectId=project_id, name=name)
    assert result["__typename"] == "RegisterComponentPayload", result
    node: dict[str, Any] = result["component"]
    return node


async def test_register_component(graphql: GraphQL) -> None:
    parent = await register_project(graphql)
    linked = await register_project(graphql)
    result = await register(
        graphql,
        projectId=parent["id"],
        name=" bloodbank ",
        path="bloodbank",
        kind="SUBMODULE",
        linkedProjectId=linked["uuid"],
        metadata={"lang": "python"},
    )
    assert result["__typename"] == "RegisterComponentPayload"
    node = result["component"]
    assert node["id"] == to_global_id("Component", node["uuid"])
    assert {k: v for k, v in node.items() if k not in {"id", "uuid"}} == {
        "parentProjectId": parent["uuid"],
        "name": "bloodbank",
        "path": "bloodbank",
        "kind": "SUBMODULE",
        "enabled": True,
        "linkedProjectId": linked["uuid"],
        "metadata": {"lang": "python"},
    }


async def test_register_component_errors(graphql: GraphQL) -> None:
    parent = await register_project(graphql)
    error = await register(graphql, projectId=parent["id"], name=" ")
    assert error == {
        "__typename": "ValidationError",
        "message": "name must not be empty",
        "field": "name",
    }
    missing = str(uuid.uuid4())
    error = await register(graphql, projectId=missing, name="x")
    assert error == {
        "__typename": "NotFoundError",
        "message": f"project {missing} not found",
        "field": "projectId",
    }
    error = await register(graphql, projectId=parent["id"], name="x", linkedProjectId=missing)
    assert (error["__typename"], error["field"]) == ("NotFoundError", "linkedProjectId")
    error = await register(graphql, projectId="bogus", name="x")
    assert (error["__typename"], error["field"]) == ("NotFoundError", "projectId")

    await component(graphql, parent["id"], "api")
    error = await register(graphql, projectId=parent["id"], name="api")
    assert (error["__typename"], error["field"]) == ("ConflictError", "name")
    assert "already has a component named 'api'" in error["message"]


async def test_update_component_changes_only_the_fields_sent(graphql: GraphQL) -> None:
    parent = await register_project(graphql)
    linked = await register_project(graphql)
    result = await register(
        graphql,
        projectId=parent["id"],
        name="web",
        path="web",
        linkedProjectId=linked["id"],
        metadata={"a": 1, "b": 2},
    )
    node = result["component"]

    async def update(**fields: Any) -> dict[str, Any]:
        result = (await graphql.run(UPDATE, {"input": {"id": node["id"], **fields}}))[
            "updateComponent"
        ]
        assert result["__typename"] == "UpdateComponentPayload", result
        updated: dict[str, Any] = result["component"]
        return updated

    updated = await update(enabled=False, metadata={"a": None, "c": 3})
    assert (updated["enabled"], updated["path"], updated["name"]) == (False, "web", "web")
    assert updated["linkedProjectId"] == linked["uuid"]
    assert updated["metadata"] == {"b": 2, "c": 3}

    updated = await update(path=None, linkedProjectId=None, kind="EXTERNAL", name=None)
    assert (updated["path"], updated["linkedProjectId"]) == (None, None)
    assert (updated["kind"], updated["name"], updated["enabled"]) == ("EXTERNAL", "web", False)


async def test_update_component_errors(graphql: GraphQL) -> None:
    parent = await register_project(graphql)
    web = await component(graphql, parent["id"], "web")
    await component(graphql, parent["id"], "api")

    async def error_of(**fields: Any) -> dict[str, Any]:
        result: dict[str, Any] = (await graphql.run(UPDATE, {"input": fields}))["updateComponent"]
        return result

    error = await error_of(id=web["id"], name="api")
    assert (error["__typename"], error["field"]) == ("ConflictError", "name")
    error = await error_of(id=web["id"], name="  ")
    assert (error["__typename"], error["field"]) == ("ValidationError", "name")
    missing = str(uuid.uuid4())
    error = await error_of(id=missing, name="x")
    assert error == {
        "__typename": "NotFoundError",
        "message": f"component {missing} not found",
        "field": "id",
    }
    error = await error_of(id=parent["id"])  # a Project's id
    assert (error["__typename"], error["field"]) == ("NotFoundError", "id")
    error = await error_of(id=web["id"], linkedProjectId=missing)
    assert (error["__typename"], error["field"]) == ("NotFoundError", "linkedProjectId")


async def test_relate_components_is_idempotent(graphql: GraphQL) -> None:
    parent = await register_project(graphql)
    web = await component(graphql, parent["id"], "web")
    api = await component(graphql, parent["id"], "api")
    edge = {"fromComponentId": web["id"], "toComponentId": api["uuid"], "metadata": {"via": "x"}}
    first = (await graphql.run(RELATE, {"input": edge}))["relateComponents"]
    assert first["__typename"] == "RelateComponentsPayload"
    assert first["created"] is True
    relationship = first["relationship"]
    assert relationship["relationType"] == "DEPENDS_ON"
    assert relationship["metadata"] == {"via": "x"}
    assert relationship["from"] == {"name": "web", "dependsOn": [{"name": "api"}]}
    assert relationship["to"] == {"name": "api"}

    again = (await graphql.run(RELATE, {"input": edge}))["relateComponents"]
    assert again["created"] is False
    assert again["relationship"]["id"] == relationship["id"]

    events = {**edge, "relationType": "PRODUCES_EVENTS_FOR"}
    other = (await graphql.run(RELATE, {"input": events}))["relateComponents"]
    assert (other["created"], other["relationship"]["relationType"]) == (
        True,
        "PRODUCES_EVENTS_FOR",
    )


async def test_relate_components_errors(graphql: GraphQL) -> None:
    parent = await register_project(graphql)
    web = await component(graphql, parent["id"], "web")

    async def error_of(**fields: Any) -> tuple[str, str | None]:
        result = (await graphql.run(RELATE, {"input": fields}))["relateComponents"]
        return result["__typename"], result["field"]

    assert await error_of(fromComponentId=web["id"], toComponentId=web["uuid"]) == (
        "ValidationError",
        "toComponentId",
    )
    missing = str(uuid.uuid4())
    assert await error_of(fromComponentId=missing, toComponentId=web["id"]) == (
        "NotFoundError",
        "fromComponentId",
    )
    assert await error_of(fromComponentId=web["id"], toComponentId="x") == (
        "NotFoundError",
        "toComponentId",
    )


async def test_import_components_twice_is_unchanged(graphql: GraphQL) -> None:
    parent = await register_project(graphql)
    variables = {"input": {"projectId": parent["id"], "manifest": MANIFEST}}
    first = (await graphql.run(IMPORT, variables))["importComponents"]
    assert first["__typename"] == "ImportComponentsPayload"
    assert (first["created"], first["updated"], first["unchanged"]) == (
        ["bloodbank", "iMi"],
        [],
        [],
    )
    assert first["components"][1] == {
        "name": "iMi",
        "path": "iMi",
        "kind": "SUBMODULE",
        "enabled": True,
        "metadata": {"owner": "infra"},
    }

    second = (await graphql.run(IMPORT, variables))["importComponents"]
    assert (second["created"], second["updated"], second["unchanged"]) == (
        [],
        [],
        ["bloodbank", "iMi"],
    )
    assert second["components"] == first["components"]

    yaml = "components:\n  bloodbank: {path: bloodbank, kind: submodule, enabled: false}\n"
    third = (
        await graphql.run(
            IMPORT, {"input": {"projectId": parent["uuid"], "manifest": yaml, "format": "YAML"}}
        )
    )["importComponents"]
    assert (third["created"], third["updated"], third["unchanged"]) == ([], ["bloodbank"], [])
    assert third["components"][0]["enabled"] is False


async def test_import_components_errors(graphql: GraphQL) -> None:
    parent = await register_project(graphql)

    async def error_of(**fields: Any) -> dict[str, Any]:
        base = {"projectId": parent["id"], "manifest": MANIFEST}
        result: dict[str, Any] = (await graphql.run(IMPORT, {"input": {**base, **fields}}))[
            "importComponents"
        ]
        return result

    error = await error_of(manifest="[components\nx = 1")
    assert (error["__typename"], error["field"]) == ("ValidationError", "manifest")
    assert error["message"]
    error = await error_of(manifest="components:\n  - a\n", format="YAML")
    assert (error["__typename"], error["field"]) == ("ValidationError", "manifest")
    missing = str(uuid.uuid4())
    error = await error_of(projectId=missing)
    assert error == {
        "__typename": "NotFoundError",
        "message": f"project {missing} not found",
        "field": "projectId",
    }
