"""What iMi's consumers accept, per queue and routing key, as JSON schemas (for AsyncAPI).

The consumers read leniently (see ``imi.messaging.consumers``); these schemas document the
fields they look for. Payload models the consumers validate with are used directly.
"""

from __future__ import annotations

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from imi.compat.v2 import SyncCompleted
from imi.links.models import TicketLinkInput
from imi.messaging.catalogue import BOOL, INT, OBJECT, TEXT, TIME, JsonSchema
from imi.messaging.catalogue import array as array_of
from imi.messaging.consumers.commands import CompleteWorkCommand, WorktreeCreateCommand
from imi.messaging.consumers.deploys import DeployEvent
from imi.messaging.consumers.mutations import ToolMutation
from imi.projects.models import ProjectCreate
from imi.work.models import WorkStart

INCOMING_ENVELOPE: JsonSchema = {
    "type": "object",
    "description": "Any accepted envelope: Bloodbank's (correlation_ids), the v2 contract's "
    "(metadata.correlation_id) or Holyfields' (correlation_id). The message id is the AMQP "
    "message_id, else event_id, else a hash of the body.",
    "properties": {
        "event_id": TEXT,
        "event_type": TEXT,
        "timestamp": TIME,
        "source": OBJECT,
        "correlation_ids": array_of(TEXT),
        "correlation_id": TEXT,
        "metadata": {"type": "object", "properties": {"correlation_id": TEXT}},
        "payload": OBJECT,
    },
    "required": ["payload"],
}
REPOSITORY: JsonSchema = {
    "description": "remote url in any spelling (remote_url, repository_url, repository.clone_url)",
    "oneOf": [TEXT, OBJECT],
}
HAND_WRITTEN: dict[str, JsonSchema] = {
    "PlaneTicket": {
        "type": "object",
        "description": "Key: plane_ticket_id | identifier | project_identifier + sequence_id | "
        "id. A raw Plane webhook (its data object) is accepted too.",
        "properties": {
            "plane_ticket_id": TEXT,
            "project_identifier": TEXT,
            "sequence_id": INT,
            "id": TEXT,
            "title": TEXT,
            "name": TEXT,
            "url": TEXT,
            "state": {"oneOf": [TEXT, OBJECT]},
        },
    },
    "PlaneWebhook": {
        "type": "object",
        "properties": {
            "provider": {"type": "string", "const": "plane"},
            "event": TEXT,
            "path": TEXT,
            "body": {
                "type": "object",
                "description": "the raw Plane webhook; issue events are read",
                "properties": {"event": TEXT, "action": TEXT, "data": OBJECT},
            },
        },
        "required": ["body"],
    },
    "GitPush": {
        "type": "object",
        "properties": {
            "repository": REPOSITORY,
            "remote_url": TEXT,
            "branch": TEXT,
            "ref": {"type": "string", "description": "refs/heads/<branch>"},
            "after": TEXT,
            "head_sha": TEXT,
            "ahead": INT,
            "behind": INT,
            "has_uncommitted": BOOL,
            "uncommitted_count": INT,
            "last_sync_at": TIME,
        },
    },
    "GitPullRequest": {
        "type": "object",
        "description": "state from the key's action (opened, reopened, merged, closed), else "
        "state/pr_state; GitHub's pull_request object is read too",
        "properties": {
            "repository": REPOSITORY,
            "number": INT,
            "url": TEXT,
            "state": TEXT,
            "merged": BOOL,
            "head_branch": TEXT,
            "title": TEXT,
            "pull_request": OBJECT,
        },
        "required": ["number", "url"],
    },
}
# Queue -> (routing key, accepted payload, enveloped?).
CONSUMED: dict[str, list[tuple[str, str, bool]]] = {
    "imi.commands": [
        ("imi.cmd.register_project", "ProjectCreate", True),
        ("imi.cmd.start_work", "WorkStart", True),
        ("imi.cmd.complete_work", "CompleteWorkCommand", True),
        ("imi.cmd.link_ticket", "TicketLinkInput", True),
    ],
    "imi_commands_queue": [
        ("imi.project.register", "ProjectCreate", True),
        ("imi.worktree.create", "WorktreeCreateCommand", True),
    ],
    "imi.plane_events": [
        ("plane.ticket.*", "PlaneTicket", True),
        ("webhook.plane.*", "PlaneWebhook", True),
    ],
    "imi.git_events": [("git.push", "GitPush", True), ("git.pr.*", "GitPullRequest", True)],
    "imi_git_sync_queue": [("git.sync_completed", "SyncCompleted", True)],
    "imi.mutation_events": [
        ("tool.mutation.*", "ToolMutation", False),
        ("hookd.tool.mutation.*", "ToolMutation", False),
    ],
    "imi.deploy_events": [("ci.deploy.*", "DeployEvent", True)],
}
MODELS: tuple[type[BaseModel], ...] = (
    ProjectCreate,
    WorkStart,
    CompleteWorkCommand,
    TicketLinkInput,
    WorktreeCreateCommand,
    SyncCompleted,
    ToolMutation,
    DeployEvent,
)


def consumed_schemas(ref_prefix: str) -> dict[str, JsonSchema]:
    """Every schema CONSUMED names, with ``$ref``s under ``ref_prefix``."""
    _, defs = models_json_schema(
        [(model, "validation") for model in MODELS], ref_template=ref_prefix + "{model}"
    )
    schemas: dict[str, JsonSchema] = dict(defs.get("$defs", {}))
    schemas.update(HAND_WRITTEN)
    schemas["IncomingEnvelope"] = INCOMING_ENVELOPE
    return schemas
