"""Work mutations: startWork, updateGitState, completeWork."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.scalars import JSON
from strawberry.utils.str_converters import to_camel_case

from imi.errors import ValidationFailed
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
from imi.graphql.work import WorkItem
from imi.work import service
from imi.work.models import (
    CompletionType,
    GitState,
    SourceType,
    WorkCompletion,
    WorkSource,
    WorkStart,
    WorkType,
)


@strawberry.input(description="Where a piece of work came from.")
class WorkSourceInput:
    type: SourceType = SourceType.MANUAL
    ref: str | None = strawberry.field(
        default=None, description="E.g. the Plane ticket id for PLANE_TICKET."
    )


@strawberry.input(description="A branch in flight to register on a project.")
class StartWorkInput:
    project_id: strawberry.ID = strawberry.field(description="Global id or UUID of the project.")
    branch_name: str
    work_type: WorkType = WorkType.FEATURE
    source: WorkSourceInput | None = None
    owner_id: str | None = None
    worktree_path: str | None = None
    name: str | None = strawberry.field(
        default=None, description="Worktree name; derived from the branch when absent."
    )
    metadata: JSON | None = strawberry.field(default=None, description="A JSON object.")


@strawberry.type
class StartWorkPayload:
    work_item: WorkItem


@strawberry.input(
    description=(
        "A git-state report for a work item addressed by `id`, or by `projectId` and "
        "`branchName` (its active work). Fields left out keep their stored value; a report "
        "older than the stored `lastSyncAt` is ignored (`applied` false)."
    )
)
class UpdateGitStateInput:
    id: strawberry.ID | None = strawberry.field(
        default=None, description="Global id or UUID of the work item."
    )
    project_id: strawberry.ID | None = None
    branch_name: str | None = None
    has_uncommitted_changes: bool | None = strawberry.UNSET
    uncommitted_files_count: int | None = strawberry.UNSET
    ahead_of_trunk: int | None = strawberry.UNSET
    behind_trunk: int | None = strawberry.UNSET
    last_commit_hash: str | None = strawberry.UNSET
    last_commit_message: str | None = strawberry.UNSET
    last_sync_at: datetime | None = strawberry.field(
        default=strawberry.UNSET, description="When the state was read; defaults to now."
    )


ADDRESS = ("id", "project_id", "branch_name")
# Columns that cannot hold null: a report either gives a value or leaves them out.
REQUIRED_STATE = (
    "has_uncommitted_changes",
    "uncommitted_files_count",
    "ahead_of_trunk",
    "behind_trunk",
)


def git_state(input: UpdateGitStateInput) -> GitState:
    fields = sent(input, exclude=ADDRESS)
    for name in REQUIRED_STATE:
        if name in fields and fields[name] is None:
            raise ValidationFailed(f"{name} must not be null", field=name)
    if "last_sync_at" in fields and fields["last_sync_at"] is None:
        del fields["last_sync_at"]  # null: now, like leaving it out
    return GitState(**fields)


@strawberry.type
class UpdateGitStatePayload:
    work_item: WorkItem
    applied: bool = strawberry.field(description="False when the report was stale.")
    updated_fields: list[str] = strawberry.field(
        description="Fields whose value changed, as named on WorkItem."
    )


@strawberry.input(description="Close a work item as merged, abandoned or superseded.")
class CompleteWorkInput:
    id: strawberry.ID = strawberry.field(description="Global id or UUID of the work item.")
    completion_type: CompletionType = CompletionType.MERGED
    merge_commit_hash: str | None = None
    merged_by: str | None = None


@strawberry.type
class CompleteWorkPayload:
    work_item: WorkItem


StartWorkResult = Annotated[
    StartWorkPayload | ValidationError | NotFoundError | ConflictError,
    strawberry.union("StartWorkResult"),
]
UpdateGitStateResult = Annotated[
    UpdateGitStatePayload | ValidationError | NotFoundError | ConflictError,
    strawberry.union("UpdateGitStateResult"),
]
CompleteWorkResult = Annotated[
    CompleteWorkPayload | ValidationError | NotFoundError | ConflictError,
    strawberry.union("CompleteWorkResult"),
]


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Register a branch in flight; ticket keys get linked.")
    async def start_work(self, info: Info, input: StartWorkInput) -> StartWorkResult:
        async def call(session: AsyncSession) -> StartWorkPayload:
            source = input.source or WorkSourceInput()
            data = WorkStart(
                project_id=parse_id(input.project_id, "Project", "projectId"),
                branch_name=input.branch_name,
                work_type=input.work_type.value,
                source=WorkSource(type=source.type, ref=source.ref),
                owner_id=input.owner_id,
                worktree_path=input.worktree_path,
                name=input.name,
                metadata=json_object(input.metadata),
            )
            row = await service.start_work(session, data)
            return StartWorkPayload(work_item=WorkItem.from_row(row))

        return await run_in_transaction(info, call)

    @strawberry.mutation(description="Apply a git-state report to a work item.")
    async def update_git_state(
        self, info: Info, input: UpdateGitStateInput
    ) -> UpdateGitStateResult:
        async def call(session: AsyncSession) -> UpdateGitStatePayload:
            if input.id is not None and (input.project_id is not None or input.branch_name):
                raise ValidationFailed(
                    "address the work item by id or by projectId and branchName, not both",
                    field="id",
                )
            result = await service.update_git_state(
                session,
                git_state(input),
                work_item_id=optional_id(input.id, "WorkItem", "id"),
                project_id=optional_id(input.project_id, "Project", "projectId"),
                branch_name=input.branch_name,
            )
            return UpdateGitStatePayload(
                work_item=WorkItem.from_row(result.work_item),
                applied=result.applied,
                updated_fields=[to_camel_case(f) for f in result.updated_fields],
            )

        return await run_in_transaction(info, call, renames={"work_item_id": "id"})

    @strawberry.mutation(description="Complete a work item; completing it twice is a conflict.")
    async def complete_work(self, info: Info, input: CompleteWorkInput) -> CompleteWorkResult:
        async def call(session: AsyncSession) -> CompleteWorkPayload:
            work_item_id = parse_id(input.id, "WorkItem", "id")
            data = WorkCompletion(
                completion_type=input.completion_type,
                merge_commit_hash=input.merge_commit_hash,
                merged_by=input.merged_by,
            )
            row = await service.complete_work(session, work_item_id, data)
            return CompleteWorkPayload(work_item=WorkItem.from_row(row))

        return await run_in_transaction(info, call, target="id")
