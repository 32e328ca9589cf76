"""stale work marks: which active work items the stale-work job has announced

``stale_work_marks`` holds one row per work item the periodic job (``imi.insights.stale_job``)
found stale and announced with ``imi.work.stale``: ``stale_since`` is when it was marked,
``reasons`` why. The primary key makes the mark, and so the event written in the same
transaction, happen once however many replicas run the job (``INSERT ... ON CONFLICT DO
NOTHING RETURNING``); a pass that finds the item fresh again deletes its mark, so a later
crossing is announced again. Rows go with their work item (``ON DELETE CASCADE``).

A project-restricted key (``imi_scoped``) reads the marks of the work items it can see.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27 14:00:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VISIBLE = "EXISTS (SELECT 1 FROM work_items w WHERE w.id = work_item_id)"


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE stale_work_marks (
            work_item_id uuid PRIMARY KEY REFERENCES work_items (id) ON DELETE CASCADE,
            stale_since timestamptz NOT NULL DEFAULT now(),
            reasons text[] NOT NULL
        )
        """
    )
    op.execute(
        """
        DO $$
        BEGIN
            IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'imi_scoped') THEN
                GRANT SELECT ON stale_work_marks TO imi_scoped;
            END IF;
            IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'imi_readonly') THEN
                GRANT SELECT ON stale_work_marks TO imi_readonly;
            END IF;
        END $$;
        """
    )
    op.execute("ALTER TABLE stale_work_marks ENABLE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY imi_unscoped ON stale_work_marks TO PUBLIC "
        "USING (current_user <> 'imi_scoped') WITH CHECK (current_user <> 'imi_scoped')"
    )
    op.execute(
        f"CREATE POLICY imi_scope_read ON stale_work_marks FOR SELECT TO imi_scoped "
        f"USING ({VISIBLE})"
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS stale_work_marks")
