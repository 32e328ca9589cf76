"""orchestration records: specs, epics, stories, tasks, insights, sessions, CUJs (intermute)

intermute's domain tables (``internal/storage/sqlite/schema.sql``), keyed by ``(project, id)``:
``project`` is intermute's free project string ('' when none), ``id`` the client's id or a
generated UUID. Timestamps are timestamptz, ``acceptance_criteria`` jsonb, ``version`` the
optimistic-concurrency counter of the versioned kinds (insights and sessions have none, as in
intermute). intermute's ``sessions`` is ``coordination_sessions`` here. References between
records (``spec_id``, ``epic_id``, ``story_id``, ``task_id``, ``session_id``) are plain text,
as in intermute: no foreign keys, a child may name a parent created later or elsewhere.
Critical user journeys (``cujs``) keep their feature links in ``cuj_feature_links``, deleted
with the journey.

A project-restricted key runs as ``imi_scoped`` (migration 0005): row-level security lets it
read and write only the rows whose ``project`` is one of its projects' ids (as text).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27 13:00:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_VERSIONED = """
    version bigint NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project, id)
"""

TABLES = {
    "specs": f"""
        id text NOT NULL,
        project text NOT NULL DEFAULT '',
        title text NOT NULL,
        vision text,
        users text,
        problem text,
        status text NOT NULL DEFAULT 'draft',
        {_VERSIONED}
    """,
    "epics": f"""
        id text NOT NULL,
        project text NOT NULL DEFAULT '',
        spec_id text,
        title text NOT NULL,
        description text,
        status text NOT NULL DEFAULT 'open',
        {_VERSIONED}
    """,
    "stories": f"""
        id text NOT NULL,
        project text NOT NULL DEFAULT '',
        epic_id text NOT NULL,
        title text NOT NULL,
        acceptance_criteria jsonb,
        status text NOT NULL DEFAULT 'todo',
        {_VERSIONED}
    """,
    "tasks": f"""
        id text NOT NULL,
        project text NOT NULL DEFAULT '',
        story_id text,
        title text NOT NULL,
        agent text,
        session_id text,
        status text NOT NULL DEFAULT 'pending',
        {_VERSIONED}
    """,
    "insights": """
        id text NOT NULL,
        project text NOT NULL DEFAULT '',
        spec_id text,
        source text NOT NULL,
        category text NOT NULL,
        title text NOT NULL,
        body text,
        url text,
        score double precision NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (project, id)
    """,
    "coordination_sessions": """
        id text NOT NULL,
        project text NOT NULL DEFAULT '',
        name text NOT NULL,
        agent text NOT NULL,
        task_id text,
        status text NOT NULL DEFAULT 'running',
        started_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (project, id)
    """,
    "cujs": f"""
        id text NOT NULL,
        project text NOT NULL DEFAULT '',
        spec_id text NOT NULL,
        title text NOT NULL,
        persona text,
        priority text NOT NULL DEFAULT 'medium',
        entry_point text,
        exit_point text,
        steps jsonb,
        success_criteria jsonb,
        error_recovery jsonb,
        status text NOT NULL DEFAULT 'draft',
        {_VERSIONED}
    """,
    # A CUJ's links go with it (intermute deletes them with the CUJ).
    "cuj_feature_links": """
        project text NOT NULL DEFAULT '',
        cuj_id text NOT NULL,
        feature_id text NOT NULL,
        linked_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (project, cuj_id, feature_id),
        FOREIGN KEY (project, cuj_id) REFERENCES cujs (project, id) ON DELETE CASCADE
    """,
}

# intermute's indexes (its list filters), plus the list orders.
INDEXES = {
    "specs": {"status": "project, status", "updated": "project, updated_at DESC, id"},
    "epics": {
        "spec": "project, spec_id",
        "status": "project, status",
        "updated": "project, updated_at DESC, id",
    },
    "stories": {
        "epic": "project, epic_id",
        "status": "project, status",
        "updated": "project, updated_at DESC, id",
    },
    "tasks": {
        "story": "project, story_id",
        "status": "project, status",
        "agent": "project, agent",
        "updated": "project, updated_at DESC, id",
    },
    "insights": {
        "spec": "project, spec_id",
        "category": "project, category",
        "source": "project, source",
        "score": "project, score DESC, created_at DESC, id",
    },
    "coordination_sessions": {
        "status": "project, status",
        "agent": "project, agent",
        "started": "project, started_at DESC, id",
    },
    "cujs": {"spec": "project, spec_id", "status": "project, status"},
    "cuj_feature_links": {"feature": "project, feature_id"},
}

_GRANTS = """
    DO $$
    BEGIN
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'imi_scoped') THEN
            GRANT SELECT, INSERT, UPDATE, DELETE ON {tables} TO imi_scoped;
        END IF;
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'imi_readonly') THEN
            GRANT SELECT ON {tables} TO imi_readonly;
        END IF;
    END $$;
"""
_VISIBLE = "project = ANY (imi_scope_project_texts())"


def upgrade() -> None:
    for table, columns in TABLES.items():
        op.execute(f"CREATE TABLE {table} ({columns})")
        for name, expression in INDEXES[table].items():
            op.execute(f"CREATE INDEX ix_{table}_{name} ON {table} ({expression})")
    op.execute(_GRANTS.format(tables=", ".join(TABLES)))
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        # As in 0005: every role but imi_scoped as before; imi_scoped through its projects,
        # failing closed when no project list is set (imi_scope_project_texts() is NULL).
        op.execute(
            f"CREATE POLICY imi_unscoped ON {table} TO PUBLIC "
            "USING (current_user <> 'imi_scoped') WITH CHECK (current_user <> 'imi_scoped')"
        )
        op.execute(
            f"CREATE POLICY imi_scope_rows ON {table} FOR ALL TO imi_scoped "
            f"USING ({_VISIBLE}) WITH CHECK ({_VISIBLE})"
        )


def downgrade() -> None:
    for table in reversed(TABLES):
        op.execute(f"DROP TABLE IF EXISTS {table}")
