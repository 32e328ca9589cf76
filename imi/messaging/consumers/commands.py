"""Commands: v3 ``imi.cmd.*`` on ``imi.commands`` and v2 ``imi.project.register`` /
``imi.worktree.create`` on ``imi_commands_queue``.

Payloads are the REST bodies. Success is answered by the service's own events
(``imi.project.registered``, ``imi.work.started`` + ``imi.worktree.created``, ...), carrying the
command's correlation id. A failure is answered by ``imi.cmd.failed`` (v3) or
``imi.project.registration_failed`` / ``imi.worktree.creation_failed`` (v2) with
``{request, error: {code, message}}``.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from imi.compat.bloodbank import BadMessage, Incoming, validate
from imi.compat.v2 import WorktreeCreateV2
from imi.links.models import TicketLinkInput
from imi.links.service import link_ticket
from imi.messaging.consumers.handling import Route
from imi.projects.models import ProjectCreate
from imi.projects.service import register_project
from imi.work.models import SourceType, WorkCompletion, WorkSource, WorkStart
from imi.work.service import complete_work, start_work

CMD_FAILED = "imi.cmd.failed"
PROJECT_REGISTRATION_FAILED = "imi.project.registration_failed"
WORKTREE_CREATION_FAILED = "imi.worktree.creation_failed"


class CompleteWorkCommand(WorkCompletion):
    work_item_id: uuid.UUID


class WorktreeCreateCommand(WorktreeCreateV2):
    """v2 ``imi.worktree.create``: the ``POST /projects/{id}/worktrees`` body plus the project."""

    project_id: uuid.UUID


def _command_source(payload: dict[str, Any], message_id: str) -> dict[str, Any]:
    """Work started by a command remembers it, unless the command names its own source."""
    if "source" in payload:
        return payload
    return {**payload, "source": {"type": SourceType.BLOODBANK_COMMAND.value, "ref": message_id}}


async def register_project_command(session: AsyncSession, message: Incoming) -> None:
    # The sender waits for imi.project.registered: answer even when the project existed.
    data = validate(ProjectCreate, message.payload)
    await register_project(session, data, announce_existing=True)


async def start_work_command(session: AsyncSession, message: Incoming) -> None:
    payload = _command_source(message.payload, message.message_id)
    await start_work(session, validate(WorkStart, payload))


async def complete_work_command(session: AsyncSession, message: Incoming) -> None:
    command = validate(CompleteWorkCommand, message.payload)
    completion = WorkCompletion.model_validate(command.model_dump(exclude={"work_item_id"}))
    await complete_work(session, command.work_item_id, completion)


async def link_ticket_command(session: AsyncSession, message: Incoming) -> None:
    await link_ticket(session, validate(TicketLinkInput, message.payload))


async def create_worktree_command(session: AsyncSession, message: Incoming) -> None:
    command = validate(WorktreeCreateCommand, message.payload)
    source = WorkSource(type=SourceType.BLOODBANK_COMMAND, ref=message.message_id)
    await start_work(session, command.to_work_start(command.project_id, source))


async def unknown_command(session: AsyncSession, message: Incoming) -> None:
    raise BadMessage(f"unknown command {message.routing_key!r}")


V3_ROUTES = (
    Route(("imi.cmd.register_project",), register_project_command, CMD_FAILED),
    Route(("imi.cmd.start_work",), start_work_command, CMD_FAILED),
    Route(("imi.cmd.complete_work",), complete_work_command, CMD_FAILED),
    Route(("imi.cmd.link_ticket",), link_ticket_command, CMD_FAILED),
)
V3_FALLBACK = Route(("imi.cmd.*",), unknown_command, CMD_FAILED)
# imi.cmd.* also matches iMi's own answer: never treat it as a command (it would loop).
V3_IGNORED = (CMD_FAILED,)

V2_ROUTES = (
    Route(("imi.project.register",), register_project_command, PROJECT_REGISTRATION_FAILED),
    Route(("imi.worktree.create",), create_worktree_command, WORKTREE_CREATION_FAILED),
)
