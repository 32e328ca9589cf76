"""agents, messages, inboxes, threads and the coordination event sequence (intermute)

- ``agents``: one row per registration (stable id, ``session_id`` unique per project),
  ``last_seen`` moved by heartbeats; liveness is derived from it when read.
- ``coordination_events``: the append-only sequence; its ``cursor`` is the inbox cursor. Every
  message creation (or delivery to new recipients on a retry), ack and read appends a row.
- ``messages`` (PK project, message_id: the de-duplication key), ``message_recipients`` (one
  inbox entry per recipient, with the cursor that delivered it and read/ack times) and
  ``thread_index`` (per participant: a thread's last cursor, count and last message).

Restricted keys (``imi_scoped``) reach these tables only for their own project (the project
text is their project's UUID, ``imi.auth.policy.coordination_project``); ``imi_readonly``
reads them.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 13:00:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("agents", "coordination_events", "messages", "message_recipients", "thread_index")

SCHEMA = """
CREATE TABLE agents (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    session_id text NOT NULL,
    name text NOT NULL,
    project text NOT NULL DEFAULT '',
    capabilities jsonb NOT NULL DEFAULT '[]'::jsonb,
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    status text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    last_seen timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_agents_project_session UNIQUE (project, session_id)
);
CREATE INDEX ix_agents_project_created ON agents (project, created_at, id);
CREATE INDEX ix_agents_name ON agents (name);

CREATE TABLE coordination_events (
    cursor bigserial PRIMARY KEY,
    event_type text NOT NULL
        CHECK (event_type IN ('message.created', 'message.ack', 'message.read')),
    project text NOT NULL DEFAULT '',
    agent text NOT NULL DEFAULT '',
    message_id text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_coordination_events_message ON coordination_events (project, message_id, cursor);

CREATE TABLE messages (
    project text NOT NULL DEFAULT '',
    message_id text NOT NULL,
    thread_id text NOT NULL DEFAULT '',
    from_agent text NOT NULL,
    to_agents jsonb NOT NULL DEFAULT '[]'::jsonb,
    cc_agents jsonb NOT NULL DEFAULT '[]'::jsonb,
    bcc_agents jsonb NOT NULL DEFAULT '[]'::jsonb,
    subject text NOT NULL DEFAULT '',
    body text NOT NULL DEFAULT '',
    importance text NOT NULL DEFAULT '',
    ack_required boolean NOT NULL DEFAULT false,
    cursor bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project, message_id)
);
CREATE INDEX ix_messages_thread ON messages (project, thread_id, cursor) WHERE thread_id <> '';

CREATE TABLE message_recipients (
    project text NOT NULL DEFAULT '',
    message_id text NOT NULL,
    agent text NOT NULL,
    kind text NOT NULL DEFAULT 'to' CHECK (kind IN ('to', 'cc', 'bcc')),
    cursor bigint NOT NULL,
    read_at timestamptz,
    ack_at timestamptz,
    PRIMARY KEY (project, message_id, agent),
    FOREIGN KEY (project, message_id) REFERENCES messages (project, message_id)
        ON DELETE CASCADE
);
-- The inbox read (agent, project, cursor > N) and its counts.
CREATE INDEX ix_message_recipients_inbox ON message_recipients (agent, project, cursor);

CREATE TABLE thread_index (
    project text NOT NULL DEFAULT '',
    thread_id text NOT NULL,
    agent text NOT NULL,
    last_cursor bigint NOT NULL,
    message_count integer NOT NULL DEFAULT 1,
    last_from text NOT NULL DEFAULT '',
    last_body text NOT NULL DEFAULT '',
    last_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project, thread_id, agent)
);
CREATE INDEX ix_thread_index_agent ON thread_index (project, agent, last_cursor DESC);
"""

GRANTS = f"""
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'imi_scoped') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON {", ".join(TABLES)} TO imi_scoped;
        GRANT USAGE, SELECT ON SEQUENCE coordination_events_cursor_seq TO imi_scoped;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'imi_readonly') THEN
        GRANT SELECT ON {", ".join(TABLES)} TO imi_readonly;
    END IF;
END $$;
"""

# A restricted key's project is its iMi project's UUID as text (coordination_project).
VISIBLE = "project = ANY (imi_scope_project_texts())"


def upgrade() -> None:
    for statement in SCHEMA.split(";"):
        if statement.strip():
            op.execute(statement)
    op.execute(GRANTS)
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY imi_unscoped ON {table} TO PUBLIC "
            "USING (current_user <> 'imi_scoped') WITH CHECK (current_user <> 'imi_scoped')"
        )
        op.execute(
            f"CREATE POLICY imi_scope_all ON {table} TO imi_scoped "
            f"USING ({VISIBLE}) WITH CHECK ({VISIBLE})"
        )


def downgrade() -> None:
    for table in reversed(TABLES):
        op.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
