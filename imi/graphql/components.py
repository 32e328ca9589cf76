"""Component type."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import strawberry
from strawberry.scalars import JSON

from imi.components.models import Component as ComponentRow
from imi.components.models import ComponentKind
from imi.graphql.context import Context
from imi.graphql.node import Node

Info = strawberry.Info[Context, None]


@strawberry.type(description="A component of a meta-repository.")
class Component(Node):
    uuid: UUID
    parent_project_id: UUID
    name: str
    path: str | None
    kind: ComponentKind
    enabled: bool
    linked_project_id: UUID | None
    metadata: JSON
    created_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def from_row(cls, row: ComponentRow) -> Component:
        return cls(
            id=Node.global_id("Component", row.id),
            uuid=row.id,
            parent_project_id=row.parent_project_id,
            name=row.name,
            path=row.path,
            kind=ComponentKind(row.kind),
            enabled=row.enabled,
            linked_project_id=row.linked_project_id,
            metadata=JSON(row.meta),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )
