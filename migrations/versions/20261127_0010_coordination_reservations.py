"""file reservations (intermute)

Advisory reservations of glob patterns by agents, within an intermute project (a free string).
A reservation is live while ``released_at`` is NULL and ``expires_at`` is in the future; the
partial index serves the per-project conflict check and the sweeper, which only ever read live
rows. ``release_reason`` records why it ended (released, expired, agent_stale).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27 13:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "file_reservations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Text(), nullable=False),
        sa.Column("project", sa.Text(), server_default="", nullable=False),
        sa.Column("path_pattern", sa.Text(), nullable=False),
        sa.Column("exclusive", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("release_reason", sa.Text(), nullable=True),
        sa.Column(
            "metadata",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.CheckConstraint("expires_at > created_at", name="ck_file_reservations_expiry"),
        sa.CheckConstraint(
            "(released_at IS NULL) = (release_reason IS NULL)",
            name="ck_file_reservations_release",
        ),
        sa.CheckConstraint(
            "release_reason IS NULL OR release_reason IN ('released', 'expired', 'agent_stale')",
            name="ck_file_reservations_release_reason",
        ),
    )
    # Live reservations by project (conflict check, list) and by expiry (sweeper).
    op.execute(
        "CREATE INDEX ix_file_reservations_live ON file_reservations (project, expires_at) "
        "WHERE released_at IS NULL"
    )
    op.execute(
        "CREATE INDEX ix_file_reservations_live_agent ON file_reservations (agent_id) "
        "WHERE released_at IS NULL"
    )
    op.execute(
        """
        DO $$
        BEGIN
            IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'imi_scoped') THEN
                GRANT SELECT, INSERT, UPDATE ON file_reservations TO imi_scoped;
            END IF;
            IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'imi_readonly') THEN
                GRANT SELECT ON file_reservations TO imi_readonly;
            END IF;
        END $$;
        """
    )
    # A project-restricted key works in its projects' ids (imi.auth.policy.coordination_project);
    # the database holds it to them too.
    op.execute("ALTER TABLE file_reservations ENABLE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY imi_unscoped ON file_reservations TO PUBLIC "
        "USING (current_user <> 'imi_scoped') WITH CHECK (current_user <> 'imi_scoped')"
    )
    op.execute(
        "CREATE POLICY imi_scope_all ON file_reservations TO imi_scoped "
        "USING (project = ANY (imi_scope_project_texts())) "
        "WITH CHECK (project = ANY (imi_scope_project_texts()))"
    )


def downgrade() -> None:
    op.drop_table("file_reservations")
