"""Components of a meta-repo, their typed relationships, dependency graph and manifest import."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request, Response

from imi.api.deps import Session, parse_id
from imi.api.envelope import Envelope, PageEnvelope, error_responses, page_envelope
from imi.api.params import metadata_filter
from imi.api.schemas_components import (
    ComponentGraphOut,
    ComponentOut,
    ImportReportOut,
    RelationshipOut,
)
from imi.components import graph, manifest, service
from imi.components.models import (
    ComponentCreate,
    ComponentKind,
    ComponentUpdate,
    RelationshipCreate,
)
from imi.errors import ValidationFailed
from imi.models_base import MAX_PAGE_SIZE
from imi.pagination import MAX_OFFSET

router = APIRouter(tags=["components"])

PROJECT_ID = "550e8400-e29b-41d4-a716-446655440000"
COMPONENT_ID = "880e8400-e29b-41d4-a716-446655440003"
CREATE_EXAMPLE = {
    "project_id": PROJECT_ID,
    "name": "bloodbank",
    "path": "bloodbank",
    "kind": "submodule",
    "enabled": True,
    "metadata": {"language": "python"},
}
RELATE_EXAMPLE = {
    "from_component_id": COMPONENT_ID,
    "to_component_id": "880e8400-e29b-41d4-a716-446655440004",
    "relation_type": "depends_on",
}
MANIFEST_EXAMPLE = """[components]
bloodbank = { path = "bloodbank", kind = "submodule", enabled = true }
iMi       = { path = "iMi", kind = "submodule", enabled = true }
"""
MANIFEST_YAML_EXAMPLE = """components:
  bloodbank: {path: bloodbank, kind: submodule, enabled: true}
  iMi: {path: iMi, kind: submodule, enabled: true}
"""
TOML_TYPES = {
    "",
    "application/toml",
    "application/x-toml",
    "text/toml",
    "text/x-toml",
    "text/plain",
}
YAML_TYPES = {"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"}
ComponentId = Annotated[
    str, Path(description="A component id (a malformed one is 404)", examples=[COMPONENT_ID])
]
EXISTING: dict[int | str, dict[str, Any]] = {
    200: {"description": "The relationship already existed"}
}


@router.get(
    "/components",
    response_model=PageEnvelope[ComponentOut],
    responses=error_responses(400, 422),
    summary="List components by name",
    description="Filter by parent `project_id`, `kind`, `enabled` and `metadata` (a JSON "
    "object the component's metadata must contain).",
)
async def list_components(
    session: Session,
    project_id: uuid.UUID | None = None,
    kind: ComponentKind | None = None,
    enabled: bool | None = None,
    metadata: Annotated[str | None, Query(examples=['{"language": "python"}'])] = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_PAGE_SIZE, description=f"At most {MAX_PAGE_SIZE}.")
    ] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> PageEnvelope[ComponentOut]:
    page = await service.list_components(
        session,
        project_id=project_id,
        kind=kind,
        enabled=enabled,
        metadata=metadata_filter(metadata),
        limit=limit,
        offset=offset,
    )
    return page_envelope(page, [ComponentOut.of(c) for c in page.items])


@router.post(
    "/components",
    status_code=201,
    response_model=Envelope[ComponentOut],
    responses=error_responses(400, 404, 409, 422),
    summary="Register a component under its project (names are unique per project: 409)",
)
async def register_component(
    session: Session, body: Annotated[ComponentCreate, Body(examples=[CREATE_EXAMPLE])]
) -> Envelope[ComponentOut]:
    return Envelope(data=ComponentOut.of(await service.register_component(session, body)))


@router.post(
    "/components/relationships",
    status_code=201,
    response_model=Envelope[RelationshipOut],
    responses=EXISTING | error_responses(400, 404, 422),
    summary="Relate two components (idempotent per from, to and relation_type)",
)
async def relate_components(
    session: Session,
    response: Response,
    body: Annotated[RelationshipCreate, Body(examples=[RELATE_EXAMPLE])],
) -> Envelope[RelationshipOut]:
    relationship, created = await service.relate_components(session, body)
    response.status_code = 201 if created else 200
    return Envelope(data=RelationshipOut.of(relationship))


def _manifest_format(
    request: Request, format: manifest.ManifestFormat | None
) -> manifest.ManifestFormat:
    if format is not None:
        return format
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in TOML_TYPES:
        return "toml"
    if content_type in YAML_TYPES:
        return "yaml"
    raise ValidationFailed(
        f"Content-Type {content_type!r} is not a manifest: send application/toml (or "
        "text/plain), or application/yaml",
        field="content-type",
    )


@router.post(
    "/components/import",
    response_model=Envelope[ImportReportOut],
    responses=error_responses(400, 404, 422),
    summary="Import a components.toml (or components.yaml) manifest into a project",
    description="The body is the manifest document itself, not JSON: `Content-Type: "
    "application/toml` (or `text/plain`), or `application/yaml` / `?format=yaml` for the YAML "
    "form. An upsert on (project, name): new names are created, changed entries updated, "
    "identical ones left alone; components the document does not mention are kept. A malformed "
    "document is 400 with `details.line`/`details.column`.",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/toml": {
                    "schema": {"type": "string"},
                    "example": MANIFEST_EXAMPLE,
                },
                "application/yaml": {
                    "schema": {"type": "string"},
                    "example": MANIFEST_YAML_EXAMPLE,
                },
            },
        }
    },
)
async def import_components(
    session: Session,
    request: Request,
    project_id: Annotated[
        uuid.UUID, Query(description="The meta-repo's project", examples=[PROJECT_ID])
    ],
    format: Annotated[
        manifest.ManifestFormat | None,
        Query(description="Overrides the Content-Type: toml or yaml"),
    ] = None,
) -> Envelope[ImportReportOut]:
    kind = _manifest_format(request, format)
    try:
        document = (await request.body()).decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationFailed("the manifest must be UTF-8 text", field="body") from None
    report = await manifest.import_manifest(
        session, project_id=project_id, body=document, format=kind
    )
    return Envelope(data=ImportReportOut.of(report))


@router.get(
    "/components/{component_id}",
    response_model=Envelope[ComponentOut],
    responses=error_responses(404),
    summary="Get a component",
)
async def get_component(session: Session, component_id: ComponentId) -> Envelope[ComponentOut]:
    component = await service.get_component(session, parse_id(component_id, "component"))
    return Envelope(data=ComponentOut.of(component))


@router.patch(
    "/components/{component_id}",
    response_model=Envelope[ComponentOut],
    responses=error_responses(400, 404, 409, 422),
    summary="Update a component (only the fields sent; metadata merges key by key)",
    description="Absent fields stay. `path` or `linked_project_id` set to null clear them; "
    "a metadata key set to null is removed. Renaming onto a sibling's name is 409.",
)
async def update_component(
    session: Session,
    component_id: ComponentId,
    body: Annotated[
        ComponentUpdate,
        Body(examples=[{"enabled": False, "metadata": {"owner": "platform"}}, {"path": None}]),
    ],
) -> Envelope[ComponentOut]:
    component = await service.update_component(session, parse_id(component_id, "component"), body)
    return Envelope(data=ComponentOut.of(component))


@router.get(
    "/components/{component_id}/relationships",
    response_model=Envelope[list[RelationshipOut]],
    responses=error_responses(404),
    summary="Every relationship a component takes part in, outgoing and incoming",
)
async def list_relationships(
    session: Session, component_id: ComponentId
) -> Envelope[list[RelationshipOut]]:
    rels = await service.list_relationships(session, parse_id(component_id, "component"))
    return Envelope(data=[RelationshipOut.of(r) for r in rels])


@router.get(
    "/components/{component_id}/graph",
    response_model=Envelope[ComponentGraphOut],
    responses=error_responses(400, 404, 422),
    summary="The dependency graph around a component",
    description="`direction=dependencies` follows edges from -> to (what the component needs), "
    f"`dependents` the other way (what needs it); `depth` 1..{graph.MAX_GRAPH_DEPTH} hops. "
    "Cycles end. `relation_types` restricts the edges walked (default: every type).",
)
async def component_graph(
    session: Session,
    component_id: ComponentId,
    direction: Annotated[
        str, Query(description="dependencies | dependents", examples=["dependencies"])
    ] = "dependencies",
    depth: Annotated[int, Query(description=f"1..{graph.MAX_GRAPH_DEPTH}")] = 5,
    relation_types: Annotated[list[str] | None, Query()] = None,
) -> Envelope[ComponentGraphOut]:
    result = await graph.component_graph(
        session,
        parse_id(component_id, "component"),
        direction=direction,
        depth=depth,
        relation_types=relation_types,
    )
    return Envelope(data=ComponentGraphOut.of(result))
