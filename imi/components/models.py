"""Components of a meta-repo and the typed relationships between them."""

from __future__ import annotations

import uuid
from enum import StrEnum

from pydantic import Field as InputField
from sqlalchemy import CheckConstraint, Index, UniqueConstraint
from sqlmodel import Field

from imi.models_base import CoreTable, Input, Metadata, Name, PathText, one_of


class ComponentKind(StrEnum):
    SUBMODULE = "submodule"
    LOCAL = "local"
    EXTERNAL = "external"


class RelationType(StrEnum):
    DEPENDS_ON = "depends_on"
    PRODUCES_EVENTS_FOR = "produces_events_for"
    CONSUMES_EVENTS_FROM = "consumes_events_from"


class Component(CoreTable, table=True):
    __tablename__ = "components"
    __table_args__ = (
        UniqueConstraint("parent_project_id", "name", name="uq_components_project_name"),
        CheckConstraint(one_of("kind", ComponentKind), name="ck_components_kind"),
        Index("ix_components_metadata", "metadata", postgresql_using="gin"),
    )

    parent_project_id: uuid.UUID = Field(foreign_key="projects.id", ondelete="CASCADE")
    name: str
    path: str | None = None
    kind: str = ComponentKind.LOCAL.value
    enabled: bool = True
    linked_project_id: uuid.UUID | None = Field(
        default=None, foreign_key="projects.id", ondelete="SET NULL"
    )


class ComponentRelationship(CoreTable, table=True):
    __tablename__ = "component_relationships"
    __table_args__ = (
        UniqueConstraint(
            "from_component_id",
            "to_component_id",
            "relation_type",
            name="uq_component_relationships_triple",
        ),
        CheckConstraint(one_of("relation_type", RelationType), name="ck_component_rel_type"),
        CheckConstraint("from_component_id <> to_component_id", name="ck_component_rel_not_self"),
    )

    from_component_id: uuid.UUID = Field(foreign_key="components.id", ondelete="CASCADE")
    to_component_id: uuid.UUID = Field(foreign_key="components.id", ondelete="CASCADE", index=True)
    relation_type: str


class ComponentCreate(Input):
    project_id: uuid.UUID
    name: Name
    path: PathText | None = None
    kind: ComponentKind = ComponentKind.LOCAL
    enabled: bool = True
    linked_project_id: uuid.UUID | None = None
    metadata: Metadata = InputField(default_factory=dict)


class ComponentUpdate(Input):
    """Absent fields stay; ``metadata`` merges key by key (null removes a key)."""

    name: Name | None = None
    path: PathText | None = None
    kind: ComponentKind | None = None
    enabled: bool | None = None
    linked_project_id: uuid.UUID | None = None
    metadata: Metadata | None = None


class RelationshipCreate(Input):
    from_component_id: uuid.UUID
    to_component_id: uuid.UUID
    relation_type: RelationType = RelationType.DEPENDS_ON
    metadata: Metadata = InputField(default_factory=dict)
