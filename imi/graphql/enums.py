"""Registers the domain enums as GraphQL enums (values are member names, e.g. ``FEATURE``).

Types annotate their fields with the domain enums themselves; importing this module once
(``imi.graphql.schema`` does) gives them their GraphQL names and descriptions.
"""

from __future__ import annotations

import strawberry

from imi.activities.models import ActivityType
from imi.components.models import ComponentKind, RelationType
from imi.links.models import LinkKind, PRState
from imi.work.models import CompletionType, SourceType, WorkStatus, WorkType

strawberry.enum(ActivityType, description="What an agent did (the v2 contract's types).")
strawberry.enum(WorkType, description="What kind of work a branch carries.")
strawberry.enum(SourceType, description="Where a piece of work came from.")
strawberry.enum(
    WorkStatus,
    description="Git status from the last report: UNCOMMITTED > DIVERGED > AHEAD > BEHIND > CLEAN.",
)
strawberry.enum(CompletionType, description="How a work item ended.")
strawberry.enum(PRState, name="PRState", description="Pull request state.")
strawberry.enum(LinkKind, description="How a ticket relates to a work item.")
strawberry.enum(ComponentKind, description="How a component lives in its parent repository.")
strawberry.enum(RelationType, description="A typed edge between two components.")

__all__ = [
    "ActivityType",
    "CompletionType",
    "ComponentKind",
    "LinkKind",
    "PRState",
    "RelationType",
    "SourceType",
    "WorkStatus",
    "WorkType",
]
