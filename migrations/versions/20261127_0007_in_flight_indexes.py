"""in flight indexes: active work, most recently active first, per project and overall

``/inflight-work`` and ``inFlightWork`` list active work ordered by last activity; the
biggest project holds thousands of active items. These partial indexes serve both orders
without a sort (the benchmark's in-flight read of the biggest project).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 07:40:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_work_items_active_recent_by_project",
        "work_items",
        ["project_id", sa.text("last_activity_at DESC"), "id"],
        postgresql_where=sa.text("active"),
    )
    op.create_index(
        "ix_work_items_active_recent",
        "work_items",
        [sa.text("last_activity_at DESC"), "id"],
        postgresql_where=sa.text("active"),
    )


def downgrade() -> None:
    op.drop_index("ix_work_items_active_recent", table_name="work_items")
    op.drop_index("ix_work_items_active_recent_by_project", table_name="work_items")
