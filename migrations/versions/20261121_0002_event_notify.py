"""event notify: NOTIFY imi_events with the row id of every inserted event

Live subscriptions (imi/events/notify.py) LISTEN on ``imi_events``. PostgreSQL delivers a
notification only when the inserting transaction commits, so listeners see committed events
only, on every replica, with no broker and no extra round trip from the application.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 23:10:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE OR REPLACE FUNCTION imi_notify_event() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('imi_events', NEW.id::text);
            RETURN NULL;
        END;
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER events_notify AFTER INSERT ON events "
        "FOR EACH ROW EXECUTE FUNCTION imi_notify_event()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS events_notify ON events")
    op.execute("DROP FUNCTION IF EXISTS imi_notify_event()")
