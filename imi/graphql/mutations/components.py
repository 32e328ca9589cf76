"""Component mutations: registerComponent, updateComponent, relateComponents,
importComponents."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.scalars import JSON

from imi.components import manifest, service
from imi.components.models import (
    ComponentCreate,
    ComponentKind,
    ComponentUpdate,
    RelationshipCreate,
    RelationType,
)
from imi.graphql.components import Component, ComponentRelationship
from imi.graphql.ids import optional_id, parse_id
from imi.graphql.mutations.errors import (
    ConflictError,
    Info,
    NotFoundError,
    ValidationError,
    json_object,
    run_in_transaction,
    sent,
)


@strawberry.enum(description="The syntax of a component manifest.")
class ManifestFormat(Enum):
    TOML = "toml"
    YAML = "yaml"


@strawberry.input(description="A component to register under its parent project.")
class RegisterComponentInput:
    project_id: strawberry.ID = strawberry.field(description="The parent project (id or UUID).")
    name: str = strawberry.field(description="Unique within the project.")
    path: str | None = None
    kind: ComponentKind = ComponentKind.LOCAL
    enabled: bool = True
    linked_project_id: strawberry.ID | None = strawberry.field(
        default=None, description="The project this component is the repository of."
    )
    metadata: JSON | None = strawberry.field(default=None, description="A JSON object.")


@strawberry.type
class RegisterComponentPayload:
    component: Component


@strawberry.input(description="Fields to change; a field left out stays as it is.")
class UpdateComponentInput:
    id: strawberry.ID = strawberry.field(description="Global id or UUID of the component.")
    name: str | None = strawberry.UNSET
    path: str | None = strawberry.field(default=strawberry.UNSET, description="null clears it.")
    kind: ComponentKind | None = strawberry.UNSET
    enabled: bool | None = strawberry.UNSET
    linked_project_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="null unlinks."
    )
    metadata: JSON | None = strawberry.field(
        default=strawberry.UNSET, description="Merged key by key; a null value removes the key."
    )


@strawberry.type
class UpdateComponentPayload:
    component: Component


@strawberry.input(description="A typed edge `from -[relationType]-> to`; idempotent.")
class RelateComponentsInput:
    from_component_id: strawberry.ID
    to_component_id: strawberry.ID
    relation_type: RelationType = RelationType.DEPENDS_ON
    metadata: JSON | None = strawberry.field(default=None, description="A JSON object.")


@strawberry.type
class RelateComponentsPayload:
    relationship: ComponentRelationship
    created: bool = strawberry.field(description="False when the edge already existed.")


@strawberry.input(
    description=(
        "A components manifest (components.toml, or YAML) to upsert under a project. "
        "Idempotent; components the manifest does not mention are left alone."
    )
)
class ImportComponentsInput:
    project_id: strawberry.ID = strawberry.field(description="The parent project (id or UUID).")
    manifest: str = strawberry.field(description="The document's text.")
    format: ManifestFormat = ManifestFormat.TOML


@strawberry.type
class ImportComponentsPayload:
    created: list[str] = strawberry.field(description="Names registered, in document order.")
    updated: list[str] = strawberry.field(description="Names whose entry changed.")
    unchanged: list[str] = strawberry.field(description="Names already as described.")
    components: list[Component] = strawberry.field(description="Every component of the document.")


RegisterComponentResult = Annotated[
    RegisterComponentPayload | ValidationError | NotFoundError | ConflictError,
    strawberry.union("RegisterComponentResult"),
]
UpdateComponentResult = Annotated[
    UpdateComponentPayload | ValidationError | NotFoundError | ConflictError,
    strawberry.union("UpdateComponentResult"),
]
RelateComponentsResult = Annotated[
    RelateComponentsPayload | ValidationError | NotFoundError | ConflictError,
    strawberry.union("RelateComponentsResult"),
]
ImportComponentsResult = Annotated[
    ImportComponentsPayload | ValidationError | NotFoundError | ConflictError,
    strawberry.union("ImportComponentsResult"),
]


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Register a component; a taken name is a conflict.")
    async def register_component(
        self, info: Info, input: RegisterComponentInput
    ) -> RegisterComponentResult:
        async def call(session: AsyncSession) -> RegisterComponentPayload:
            data = ComponentCreate(
                project_id=parse_id(input.project_id, "Project", "projectId"),
                name=input.name,
                path=input.path,
                kind=input.kind,
                enabled=input.enabled,
                linked_project_id=optional_id(
                    input.linked_project_id, "Project", "linkedProjectId"
                ),
                metadata=json_object(input.metadata),
            )
            row = await service.register_component(session, data)
            return RegisterComponentPayload(component=Component.from_row(row))

        return await run_in_transaction(info, call)

    @strawberry.mutation(description="Change a component's fields.")
    async def update_component(
        self, info: Info, input: UpdateComponentInput
    ) -> UpdateComponentResult:
        async def call(session: AsyncSession) -> UpdateComponentPayload:
            component_id = parse_id(input.id, "Component", "id")
            fields = sent(input, exclude={"id"})
            if fields.get("linked_project_id") is not None:
                fields["linked_project_id"] = parse_id(
                    fields["linked_project_id"], "Project", "linkedProjectId"
                )
            row = await service.update_component(session, component_id, ComponentUpdate(**fields))
            return UpdateComponentPayload(component=Component.from_row(row))

        return await run_in_transaction(info, call, renames={"component_id": "id"}, target="id")

    @strawberry.mutation(description="Relate two components (depends on, events for/from).")
    async def relate_components(
        self, info: Info, input: RelateComponentsInput
    ) -> RelateComponentsResult:
        async def call(session: AsyncSession) -> RelateComponentsPayload:
            data = RelationshipCreate(
                from_component_id=parse_id(input.from_component_id, "Component", "fromComponentId"),
                to_component_id=parse_id(input.to_component_id, "Component", "toComponentId"),
                relation_type=input.relation_type,
                metadata=json_object(input.metadata),
            )
            row, created = await service.relate_components(session, data)
            return RelateComponentsPayload(
                relationship=ComponentRelationship.from_row(row), created=created
            )

        return await run_in_transaction(info, call)

    @strawberry.mutation(description="Upsert the components a manifest describes.")
    async def import_components(
        self, info: Info, input: ImportComponentsInput
    ) -> ImportComponentsResult:
        async def call(session: AsyncSession) -> ImportComponentsPayload:
            report = await manifest.import_manifest(
                session,
                project_id=parse_id(input.project_id, "Project", "projectId"),
                body=input.manifest,
                format="yaml" if input.format is ManifestFormat.YAML else "toml",
            )
            return ImportComponentsPayload(
                created=report.created,
                updated=report.updated,
                unchanged=report.unchanged,
                components=[Component.from_row(row) for row in report.components],
            )

        return await run_in_transaction(info, call, renames={"body": "manifest"})
