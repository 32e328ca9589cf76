"""rate limits: GCRA state per bucket, shared by every worker and replica

``rate_limits`` holds one row per bucket (API key, token subject, local address) with its
theoretical arrival time; a row whose time has passed is equivalent to none and is pruned.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 07:30:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_limits",
        sa.Column("bucket", sa.String(length=200), nullable=False),
        sa.Column("tat", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("bucket"),
    )
    op.execute(
        """
        DO $$
        BEGIN
            IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'imi_scoped') THEN
                GRANT SELECT, INSERT, UPDATE, DELETE ON rate_limits TO imi_scoped;
            END IF;
        END $$;
        """
    )


def downgrade() -> None:
    op.drop_table("rate_limits")
