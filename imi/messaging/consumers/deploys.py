"""CI deployments on ``imi.deploy_events``: ``ci.deploy.*`` -> ``link_deployment``.

Payload: ``{deploy_id, environment, commit_hash, status?, deployed_at?, work_item_ids?,
branches? | branch?, repository? | remote_url?}``. The deployment ships the work items named
explicitly, else those of the named branches of the repository (active or most recently
finished), else those whose last or merge commit is the deployed commit. None found: skipped.
The status defaults from the routing key (``ci.deploy.completed`` -> ``succeeded``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import AliasChoices, BaseModel, Field, ValidationError, field_validator
from sqlalchemy.ext.asyncio import AsyncSession

from imi.compat.bloodbank import BadMessage, Incoming, error_summary, pick_text, validate
from imi.links.models import DeploymentInput
from imi.links.service import link_deployment
from imi.messaging.consumers.handling import Route, Skip
from imi.messaging.consumers.ordering import Subjects
from imi.projects.service import find_project_by_remote
from imi.work import matching

ACTION_STATUS = {
    "completed": "succeeded",
    "succeeded": "succeeded",
    "success": "succeeded",
    "failed": "failed",
    "started": "in_progress",
    "rolled_back": "rolled_back",
}
REPOSITORY_PATHS = ("repository_url", "remote_url", "remote_origin", "repo_url", "repository")


class DeployEvent(BaseModel):
    deploy_id: str = Field(
        min_length=1, validation_alias=AliasChoices("deploy_id", "deployment_id", "id")
    )
    environment: str = Field(min_length=1, validation_alias=AliasChoices("environment", "env"))
    commit_hash: str | None = Field(
        default=None, validation_alias=AliasChoices("commit_hash", "commit", "sha")
    )
    status: str | None = None
    deployed_at: datetime | None = None
    work_item_ids: list[uuid.UUID] = Field(default_factory=list)
    branches: list[str] = Field(default_factory=list)
    branch: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("deploy_id", mode="before")
    @classmethod
    def _text_id(cls, value: object) -> object:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    def branch_names(self) -> list[str]:
        names = [*self.branches, *([self.branch] if self.branch else [])]
        branches = (matching.branch_of_ref(name) for name in names)
        return list(dict.fromkeys(b for b in branches if b))


async def shipped_work(
    session: AsyncSession, event: DeployEvent, remote: str | None
) -> list[uuid.UUID]:
    if event.work_item_ids:
        return list(dict.fromkeys(event.work_item_ids))
    project = await find_project_by_remote(session, remote) if remote else None
    if remote and project is None:
        return []
    found: list[uuid.UUID] = []
    if project is not None:
        for branch in event.branch_names():
            item = await matching.work_on_branch(session, project.id, branch, include_inactive=True)
            if item is not None:
                found.append(item.id)
    if not found and event.commit_hash:
        project_id = project.id if project is not None else None
        items = await matching.work_with_commit(session, event.commit_hash, project_id=project_id)
        found = [item.id for item in items]
    return list(dict.fromkeys(found))


async def deployment(session: AsyncSession, message: Incoming) -> None:
    event = validate(DeployEvent, message.payload)
    remote = pick_text(message.payload, *REPOSITORY_PATHS, "repository.clone_url")
    work_item_ids = await shipped_work(session, event, remote)
    if not work_item_ids:
        raise Skip(f"deploy {event.deploy_id}: no work item matches")
    status = event.status or ACTION_STATUS.get(message.action, message.action)
    try:
        data = DeploymentInput(
            deploy_id=event.deploy_id,
            environment=event.environment,
            work_item_ids=work_item_ids,
            commit_hash=event.commit_hash,
            status=status,
            deployed_at=event.deployed_at,
            metadata=event.metadata,
        )
    except ValidationError as exc:
        raise BadMessage(f"invalid deployment: {error_summary(exc)}") from exc
    await link_deployment(session, data)


def deployment_subjects(message: Incoming) -> Subjects:
    """One deployment's reports in order; the work items it ships are linked idempotently."""
    deploy_id = pick_text(message.payload, "deploy_id", "deployment_id", "id")
    return frozenset({f"deploy:{deploy_id}"}) if deploy_id else frozenset()


ROUTES = (Route(("ci.deploy.*",), deployment, subjects=deployment_subjects),)
