"""event work item refs: the work items each event concerns, for work item timelines

A work item's timeline is its own events and the events of its links (ticket links, pull
requests, deployments) and activities. ``work_item_refs`` holds those work item ids (GIN
indexed), filled by the outbox on insert and here for the events already recorded.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 06:20:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "events",
        sa.Column(
            "work_item_refs",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
    )
    op.execute(
        """
        UPDATE events SET work_item_refs = ARRAY(
            SELECT DISTINCT ref FROM (
                SELECT subject_id WHERE subject_type = 'work_item'
                UNION ALL
                SELECT envelope -> 'payload' ->> 'work_item_id'
                UNION ALL
                SELECT jsonb_array_elements_text(
                    CASE WHEN jsonb_typeof(envelope -> 'payload' -> 'work_item_ids') = 'array'
                    THEN envelope -> 'payload' -> 'work_item_ids' ELSE '[]'::jsonb END
                )
            ) AS refs (ref)
            WHERE ref IS NOT NULL
        )
        WHERE subject_type = 'work_item'
           OR envelope -> 'payload' ? 'work_item_id'
           OR envelope -> 'payload' ? 'work_item_ids'
        """
    )
    op.create_index(
        "ix_events_work_item_refs", "events", ["work_item_refs"], postgresql_using="gin"
    )


def downgrade() -> None:
    op.drop_index("ix_events_work_item_refs", table_name="events")
    op.drop_column("events", "work_item_refs")
