"""Every table, imported in one place so SQLModel.metadata is complete (alembic, tests)."""

from sqlmodel import SQLModel

from imi.activities.models import Activity
from imi.auth.models import ApiKey
from imi.auth.models_ratelimit import RateLimit
from imi.components.models import Component, ComponentRelationship
from imi.links.models import Deployment, DeploymentWorkItem, PullRequest, Ticket, TicketLink
from imi.outbox.models import Event, ProcessedMessage
from imi.projects.models import Project
from imi.work.models import WorkItem

metadata = SQLModel.metadata

__all__ = [
    "Activity",
    "ApiKey",
    "Component",
    "ComponentRelationship",
    "Deployment",
    "DeploymentWorkItem",
    "Event",
    "ProcessedMessage",
    "Project",
    "PullRequest",
    "RateLimit",
    "Ticket",
    "TicketLink",
    "WorkItem",
    "metadata",
]
