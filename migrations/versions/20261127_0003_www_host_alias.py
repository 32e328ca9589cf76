"""www host alias: origins on ``www.<host>`` are normalized like ``<host>``

``normalize_remote_origin`` now drops a leading ``www.`` (``www.github.com/o/r`` and
``github.com/o/r`` are one repository). Stored normalized origins follow, except where the
plain form is already taken by another project: that pair stays as it was, visible to the
operator, rather than failing the migration.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 06:10:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        UPDATE projects AS p
        SET remote_origin_normalized = substr(p.remote_origin_normalized, 5)
        WHERE p.remote_origin_normalized LIKE 'www.%'
          AND NOT EXISTS (
            SELECT 1 FROM projects AS q
            WHERE q.remote_origin_normalized = substr(p.remote_origin_normalized, 5)
          )
        """
    )


def downgrade() -> None:
    # The www. spelling is not recoverable from the normalized form; the original
    # remote_origin is kept on every row, so nothing is lost by leaving it.
    pass
