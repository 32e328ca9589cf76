"""Deployments: one deploy (idempotent on ``deploy_id``) ships one or many work items."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from imi.errors import Conflict, NotFound, ValidationFailed
from imi.links.common import FRESH, INSERTED, dedupe, table_of, work_refs
from imi.links.models import Deployment, DeploymentInput, DeploymentResult, DeploymentWorkItem
from imi.outbox import PendingEvent, emit
from imi.serialize import row_dict
from imi.work.models import WorkItem

DEPLOY_COMPLETED = "imi.deploy.completed"
DEPLOY_UPDATED = "imi.deploy.updated"  # status/commit/metadata changed, no new work items


def _required(value: str, field: str) -> str:
    cleaned = value.strip()
    if not cleaned:
        raise ValidationFailed(f"{field} must not be empty", field=field)
    return cleaned


def _aware(moment: datetime) -> datetime:
    """A naive timestamp is taken as UTC (CI systems often send them that way)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


async def _upsert_locked(
    session: AsyncSession, data: DeploymentInput, deploy_id: str, environment: str, status: str
) -> tuple[Deployment, bool]:
    """The deployment row, inserted when new; locked either way, with its stored values."""
    values: dict[str, Any] = {
        "deploy_id": deploy_id,
        "environment": environment,
        "commit_hash": data.commit_hash,
        "status": status,
        "meta": data.metadata,
    }
    if data.deployed_at is not None:
        values["deployed_at"] = _aware(data.deployed_at)
    table = table_of(Deployment)
    # A no-op update instead of DO NOTHING: it locks and returns a row another transaction
    # just committed, so concurrent duplicates serialize here and see each other's work.
    stmt = (
        pg_insert(Deployment)
        .values(**values)
        .on_conflict_do_update(
            index_elements=[table.c.deploy_id], set_={"deploy_id": table.c.deploy_id}
        )
        .returning(Deployment, INSERTED)
    )
    row = (await session.execute(stmt, execution_options=FRESH)).one()
    return row[0], bool(row[1])


def _field_changes(deployment: Deployment, data: DeploymentInput, status: str) -> dict[str, Any]:
    """What a re-send changes. Only fields the caller set count (status has a default)."""
    given = data.model_fields_set
    changes: dict[str, Any] = {}
    if "status" in given and status != deployment.status:
        changes["status"] = status
    if data.commit_hash is not None and data.commit_hash != deployment.commit_hash:
        changes["commit_hash"] = data.commit_hash
    if data.deployed_at is not None and _aware(data.deployed_at) != deployment.deployed_at:
        changes["deployed_at"] = _aware(data.deployed_at)
    merged_meta = {**deployment.meta, **data.metadata}
    if merged_meta != deployment.meta:
        changes["meta"] = merged_meta
    return changes


async def link_deployment(session: AsyncSession, data: DeploymentInput) -> DeploymentResult:
    """Record a deployment and attach work items to it; idempotent on ``deploy_id``.

    Re-sending a deploy adds any new work items and refreshes the fields the caller set
    (status, commit_hash, deployed_at, metadata merged). The environment is part of a deploy's
    identity: a re-send naming another environment is a Conflict (field ``environment``).
    Emits ``imi.deploy.completed`` when the deployment is new or gained work items,
    ``imi.deploy.updated`` when only its fields changed, nothing for an identical re-send.
    """
    deploy_id = _required(data.deploy_id, "deploy_id")
    environment = _required(data.environment, "environment")
    status = _required(data.status, "status")
    ids: list[uuid.UUID] = dedupe(data.work_item_ids)
    refs = await work_refs(session, ids)
    missing = [work_item_id for work_item_id in ids if work_item_id not in refs]
    if missing:
        raise NotFound("work item", missing[0], field="work_item_ids")

    deployment, created = await _upsert_locked(session, data, deploy_id, environment, status)
    changes: dict[str, Any] = {}
    if not created:
        deployment, changes = await _refresh(session, deployment, data, environment, status)
    added = await _attach(session, deployment, ids)
    if created:
        shipped = ids
        project_ids = dedupe(refs[work_item_id].project_id for work_item_id in ids)
    else:
        shipped, project_ids = await _shipped(session, deployment)

    event_type = DEPLOY_COMPLETED if created or added else DEPLOY_UPDATED if changes else None
    if event_type is not None:
        payload = {
            **row_dict(deployment),
            "deployment_id": deployment.id,
            "work_item_ids": shipped,
            "added_work_item_ids": added,
            "project_ids": project_ids,
            "created": created,
        }
        await emit(session, PendingEvent(event_type, "deployment", deployment.id, payload))
    return DeploymentResult(
        deployment=deployment,
        created=created,
        added_work_item_ids=added,
        work_item_ids=shipped,
        changed=event_type is not None,
    )


async def _refresh(
    session: AsyncSession,
    deployment: Deployment,
    data: DeploymentInput,
    environment: str,
    status: str,
) -> tuple[Deployment, dict[str, Any]]:
    """A known deployment re-sent: the same environment, the fields the caller set refreshed."""
    if deployment.environment != environment:
        raise Conflict(
            f"deploy {deployment.deploy_id} is recorded for {deployment.environment}, "
            f"not {environment}",
            field="environment",
        )
    changes = _field_changes(deployment, data, status)
    if changes:
        stmt = (
            update(Deployment)
            .where(col(Deployment.id) == deployment.id)
            .values(**changes, updated_at=func.now())
            .returning(Deployment)
        )
        deployment = (await session.scalars(stmt, execution_options=FRESH)).one()
    return deployment, changes


async def _attach(
    session: AsyncSession, deployment: Deployment, ids: list[uuid.UUID]
) -> list[uuid.UUID]:
    """Attach the work items; the ones this call attached (not shipped before), in order."""
    attach = (
        pg_insert(DeploymentWorkItem)
        .values(
            [{"deployment_id": deployment.id, "work_item_id": work_item_id} for work_item_id in ids]
        )
        .on_conflict_do_nothing()
        .returning(col(DeploymentWorkItem.work_item_id))
    )
    added = set((await session.scalars(attach)).all())
    return [work_item_id for work_item_id in ids if work_item_id in added]


async def _shipped(
    session: AsyncSession, deployment: Deployment
) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """Everything a deployment ships, in the order attached, and the projects of that work."""
    stmt = (
        select(col(DeploymentWorkItem.work_item_id), col(WorkItem.project_id))
        .join(WorkItem, col(WorkItem.id) == col(DeploymentWorkItem.work_item_id))
        .where(col(DeploymentWorkItem.deployment_id) == deployment.id)
        .order_by(col(DeploymentWorkItem.created_at), col(DeploymentWorkItem.work_item_id))
    )
    rows = (await session.execute(stmt)).all()
    return [row[0] for row in rows], dedupe(row[1] for row in rows)


async def get_deployment(session: AsyncSession, deploy_id: str) -> Deployment:
    stmt = select(Deployment).where(col(Deployment.deploy_id) == deploy_id.strip())
    deployment = (await session.scalars(stmt, execution_options=FRESH)).one_or_none()
    if deployment is None:
        raise NotFound("deployment", deploy_id)
    return deployment
