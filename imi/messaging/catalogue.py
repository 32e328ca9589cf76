"""Every event iMi publishes: routing key, trigger, payload shape (for AsyncAPI and the README).

Payloads built from a table row carry all its columns (``row_dict``), so their schemas are read
from the tables themselves and cannot drift; ``extra`` lists the fields added next to them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Boolean, DateTime, Integer, Table, Uuid
from sqlalchemy.dialects.postgresql import JSONB

from imi.coordination.records import EVENTS as RECORD_KEYS
from imi.models import metadata
from imi.outbox.envelope import ENVELOPE_VERSION

JsonSchema = dict[str, Any]

UUID: JsonSchema = {"type": "string", "format": "uuid"}
TEXT: JsonSchema = {"type": "string"}
BOOL: JsonSchema = {"type": "boolean"}
INT: JsonSchema = {"type": "integer"}
TIME: JsonSchema = {"type": "string", "format": "date-time"}
OBJECT: JsonSchema = {"type": "object"}


def nullable(schema: JsonSchema) -> JsonSchema:
    return {**schema, "type": [schema["type"], "null"]}


def array(items: JsonSchema) -> JsonSchema:
    return {"type": "array", "items": items}


@dataclass(frozen=True, slots=True)
class PublishedEvent:
    key: str
    trigger: str
    table: str | None = None  # the row whose columns the payload carries
    extra: dict[str, JsonSchema] = field(default_factory=dict)
    v2: bool = False  # published only while IMI_PUBLISH_V2_EVENTS is on
    optional: tuple[str, ...] = ()  # fields not every emitter sets

    def payload_schema(self) -> JsonSchema:
        properties = table_properties(self.table) if self.table else {}
        properties.update(self.extra)
        required = sorted(set(properties) - set(self.optional))
        return {"type": "object", "properties": properties, "required": required}


def table_properties(name: str) -> dict[str, JsonSchema]:
    table: Table = metadata.tables[name]
    properties: dict[str, JsonSchema] = {}
    for column in table.columns:
        schema = _column_schema(column.type)
        properties[column.name] = nullable(schema) if column.nullable else schema
    return properties


def _column_schema(sql_type: object) -> JsonSchema:
    for python_type, schema in (
        (Uuid, UUID),
        (DateTime, TIME),
        (Boolean, BOOL),
        (Integer, INT),
        (JSONB, OBJECT),
    ):
        if isinstance(sql_type, python_type):
            return schema
    return TEXT


PROJECT = {"project_id": UUID}
WORK = {"work_item_id": UUID, "project_name": TEXT}
PR = {
    "pr_id": UUID,
    "pr_number": INT,
    "pr_url": TEXT,
    "pr_state": TEXT,
    "previous_state": nullable(TEXT),
    "branch_name": TEXT,
}
DEPLOY = {
    "deployment_id": UUID,
    "work_item_ids": array(UUID),
    "added_work_item_ids": array(UUID),
    "project_ids": array(UUID),
    "created": BOOL,
}
COMPONENT = {"component_id": UUID}
FAILURE: dict[str, JsonSchema] = {
    "request": {"type": "object", "description": "the command's payload, as received"},
    "error": {
        "type": "object",
        "properties": {"code": TEXT, "message": TEXT, "details": OBJECT},
        "required": ["code", "message"],
    },
    "command": {"type": "string", "description": "the command's routing key"},
    "message_id": {"type": "string", "description": "the command's message id"},
}
V2_WORKTREE = {"worktree_id": UUID, "project_name": TEXT}

# intermute's orchestration records (specs, epics, stories, tasks, insights, sessions, CUJs).
RECORD = {
    "kind": TEXT,
    "project": TEXT,
    "id": TEXT,
    "record": {
        "type": "object",
        "description": "the record as /api/<kind>s answers it: after the change, or as it was "
        "when deleted",
    },
    "feature_id": {"type": "string", "description": "imi.cuj.linked and imi.cuj.unlinked"},
    "linked_at": {"type": "string", "format": "date-time", "description": "imi.cuj.linked"},
}
RECORD_CHANGES = {
    "created": "is created (POST)",
    "updated": "is replaced (PUT)",
    "deleted": "is deleted (DELETE)",
    "assigned": "is assigned to an agent (POST .../assign): running",
    "linked": "is linked to a spec (insights) or a feature (CUJs) (POST .../link)",
    "unlinked": "is unlinked from a feature (POST .../unlink)",
}
RECORD_EVENTS = tuple(
    PublishedEvent(
        key,
        f"a coordination {kind} {RECORD_CHANGES[change]}",
        extra=RECORD,
        optional=("feature_id", "linked_at"),
    )
    for kind, changes in RECORD_KEYS.items()
    for change, key in changes.items()
)

# intermute's file reservations (imi.coordination.reservations).
RESERVATION: dict[str, JsonSchema] = {
    "reservation_id": UUID,
    "id": UUID,
    "agent_id": TEXT,
    "project": TEXT,
    "path_pattern": TEXT,
    "exclusive": BOOL,
    "reason": TEXT,
    "created_at": TIME,
    "expires_at": TIME,
    "is_active": BOOL,
    "released_at": TIME,
    "release_reason": {
        "type": "string",
        "enum": ["released", "expired", "agent_stale"],
        "description": "by its holder, past its expiry, or its agent stopped heartbeating",
    },
}
RESERVATION_EVENTS = (
    PublishedEvent(
        "imi.reservation.created",
        "an agent reserves a glob pattern of files (POST /api/reservations)",
        extra=RESERVATION,
        optional=("released_at", "release_reason"),
    ),
    PublishedEvent(
        "imi.reservation.released",
        "a reservation ends: released by its holder, or by the sweeper (expired, agent stale)",
        extra=RESERVATION,
    ),
)

# intermute's agents and messages (imi.coordination.agents, imi.coordination.messages).
AGENT: dict[str, JsonSchema] = {
    "agent_id": UUID,
    "session_id": TEXT,
    "name": TEXT,
    "project": TEXT,
    "capabilities": array(TEXT),
    "metadata": OBJECT,
    "status": TEXT,
    "created_at": TIME,
    "last_seen": TIME,
}
MESSAGE: dict[str, JsonSchema] = {
    "project": TEXT,
    "message_id": TEXT,
    "thread_id": TEXT,
    "from": TEXT,
    "to": array(TEXT),
    "cc": array(TEXT),
    "subject": TEXT,
    "body": TEXT,
    "importance": TEXT,
    "ack_required": BOOL,
    "created_at": TIME,
    "cursor": INT,
    "deliveries": {
        "type": "array",
        "description": "the recipients (bcc included) this send reached, with their cursor",
        "items": {"type": "object", "properties": {"agent": TEXT, "cursor": INT}},
    },
}
MARKED = {
    "project": TEXT,
    "message_id": TEXT,
    "agent": TEXT,
    "cursor": INT,
    "participants": array(TEXT),
}
MESSAGE_EVENTS = (
    PublishedEvent("imi.agent.registered", "an agent registers (POST /api/agents)", extra=AGENT),
    PublishedEvent("imi.message.created", "a message is sent (POST /api/messages)", extra=MESSAGE),
    PublishedEvent(
        "imi.message.updated",
        "a message is sent again with the same id: overwritten, delivered only to new recipients",
        extra=MESSAGE,
    ),
    PublishedEvent("imi.message.acked", "a message is acknowledged", extra=MARKED),
    PublishedEvent("imi.message.read", "a message is marked read", extra=MARKED),
)

PUBLISHED: tuple[PublishedEvent, ...] = (
    *MESSAGE_EVENTS,
    *RESERVATION_EVENTS,
    *RECORD_EVENTS,
    PublishedEvent(
        "imi.project.registered",
        "a project is registered (or re-activated); also the answer to a register command "
        "for a project that already existed (`existed: true`)",
        "projects",
        {**PROJECT, "reactivated": BOOL, "existed": BOOL},
    ),
    PublishedEvent(
        "imi.project.updated",
        "a project's fields change",
        "projects",
        {**PROJECT, "changed_fields": array(TEXT)},
    ),
    PublishedEvent(
        "imi.project.deactivated",
        "a project is soft-deleted, with its active work",
        "projects",
        {**PROJECT, "deactivated_work_item_ids": array(UUID)},
    ),
    PublishedEvent(
        "imi.work.started",
        "work starts on a branch",
        "work_items",
        {**WORK, "ticket_keys": array(TEXT)},
    ),
    PublishedEvent(
        "imi.work.git_state_updated",
        "a git-state report changes a work item",
        "work_items",
        {**WORK, "updated_fields": array(TEXT)},
    ),
    PublishedEvent(
        "imi.work.completed",
        "work is merged, abandoned or superseded; also each active item of a deactivated "
        "project (abandoned, `reason: project_deactivated`)",
        "work_items",
        {
            **WORK,
            "reason": {
                "type": "string",
                "description": "project_deactivated when the project's deactivation closed it",
            },
        },
    ),
    PublishedEvent(
        "imi.work.stale",
        "the stale-work job finds active work newly stale (idle, far behind trunk, "
        "uncommitted with no activity, or its owner's heartbeat stopped); once per crossing",
        "work_items",
        {
            **WORK,
            "reasons": array(TEXT),
            "idle_seconds": INT,
            "stale_since": TIME,
        },
    ),
    PublishedEvent(
        "imi.link.ticket_linked",
        "a ticket is linked to a work item (or the link's kind changes)",
        "tickets",
        {
            "ticket_id": UUID,
            "link_id": UUID,
            "work_item_id": UUID,
            "project_id": UUID,
            "branch_name": TEXT,
            "kind": TEXT,
            "link_metadata": OBJECT,
            "created": BOOL,
            "ticket_created": BOOL,
        },
    ),
    PublishedEvent("imi.ticket.created", "a ticket is first seen", "tickets", {"ticket_id": UUID}),
    PublishedEvent(
        "imi.ticket.updated", "a ticket's fields change", "tickets", {"ticket_id": UUID}
    ),
    PublishedEvent("imi.pr.created", "a pull request is recorded", "pull_requests", PR),
    PublishedEvent("imi.pr.merged", "a pull request is merged", "pull_requests", PR),
    PublishedEvent("imi.pr.closed", "a pull request is closed unmerged", "pull_requests", PR),
    PublishedEvent("imi.pr.reopened", "a closed pull request is reopened", "pull_requests", PR),
    PublishedEvent(
        "imi.pr.updated", "a pull request's title or metadata change", "pull_requests", PR
    ),
    PublishedEvent(
        "imi.deploy.completed", "a deployment is recorded or ships more work", "deployments", DEPLOY
    ),
    PublishedEvent(
        "imi.deploy.updated", "a deployment's status or fields change", "deployments", DEPLOY
    ),
    PublishedEvent(
        "imi.component.registered",
        "a component is registered (API or manifest import)",
        "components",
        {**COMPONENT, "source": TEXT},
        optional=("source",),
    ),
    PublishedEvent(
        "imi.component.updated",
        "a component changes",
        "components",
        {**COMPONENT, "changed_fields": array(TEXT), "source": TEXT},
        optional=("source",),
    ),
    PublishedEvent(
        "imi.component.related",
        "two components are related",
        "component_relationships",
        {"relationship_id": UUID},
    ),
    PublishedEvent(
        "imi.activity.logged",
        "an agent logs activity",
        "activities",
        {"activity_id": UUID, "worktree_id": nullable(UUID)},
    ),
    PublishedEvent(
        "imi.worktree.created",
        "v2 name of imi.work.started",
        extra={
            **V2_WORKTREE,
            "project_id": UUID,
            "type": TEXT,
            "name": TEXT,
            "branch_name": TEXT,
            "path": nullable(TEXT),
            "agent_id": nullable(TEXT),
        },
        v2=True,
    ),
    PublishedEvent(
        "imi.worktree.git_state_updated",
        "v2 name of imi.work.git_state_updated",
        extra={
            **V2_WORKTREE,
            "worktree_name": TEXT,
            "has_uncommitted_changes": BOOL,
            "uncommitted_files_count": INT,
            "ahead_of_trunk": INT,
            "behind_trunk": INT,
            "status": TEXT,
        },
        v2=True,
    ),
    PublishedEvent(
        "imi.worktree.merged",
        "v2 name of imi.work.completed (merged)",
        extra={
            **V2_WORKTREE,
            "worktree_name": TEXT,
            "branch_name": TEXT,
            "merged_by": nullable(TEXT),
            "merge_commit_hash": nullable(TEXT),
            "merged_at": nullable(TIME),
        },
        v2=True,
    ),
    PublishedEvent("imi.cmd.failed", "a v3 command (imi.cmd.*) failed", extra=FAILURE),
    PublishedEvent(
        "imi.project.registration_failed", "a v2 imi.project.register failed", extra=FAILURE
    ),
    PublishedEvent(
        "imi.worktree.creation_failed", "a v2 imi.worktree.create failed", extra=FAILURE
    ),
)

ENVELOPE: JsonSchema = {
    "type": "object",
    "description": "Bloodbank's EventEnvelope plus the v2 metadata block.",
    "properties": {
        "event_id": UUID,
        "event_type": {"type": "string", "description": "equals the routing key"},
        "timestamp": TIME,
        "version": {"type": "string", "const": ENVELOPE_VERSION},
        "source": {
            "type": "object",
            "properties": {
                "host": TEXT,
                "type": {
                    "type": "string",
                    "description": 'service; "component" on the v2 contract\'s events',
                },
                "app": nullable(TEXT),
                "meta": nullable(OBJECT),
            },
            "required": ["host", "type"],
        },
        "correlation_ids": {
            **array(TEXT),
            "description": "The correlation id of the request or message that caused the "
            "event, as received (a UUID or any other id).",
        },
        "agent_context": nullable(OBJECT),
        "payload": OBJECT,
        "metadata": {
            "type": "object",
            "properties": {
                "correlation_id": nullable(TEXT),
                "version": {
                    "type": "string",
                    "description": "1.0.0; 2.0.0 on the v2 contract's events (imi.worktree.*, "
                    "imi.activity.logged, the v2 failure events)",
                },
            },
        },
    },
    "required": ["event_id", "event_type", "timestamp", "version", "source", "payload"],
}
