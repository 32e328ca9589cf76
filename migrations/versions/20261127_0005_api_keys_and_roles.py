"""api keys and roles: hashed API keys, project scoping by row-level security, a read-only role

- ``api_keys``: name, scope, optional project restriction, expiry, revocation, last use; only a
  sha256 of each secret is stored.
- ``imi_scoped`` (NOLOGIN): the role a request with a project-restricted key runs as (``SET
  LOCAL ROLE`` with ``imi.project_ids`` set for its transaction). Row-level security policies on
  every table holding project data let it see and change only those projects' rows, so every
  read (lists, search, trace, stats, nested GraphQL) is filtered in one place. The table owner
  and superusers bypass the policies: unrestricted requests are unaffected.
- ``imi_readonly`` (NOLOGIN): SELECT on the data dashboards read, nothing on ``api_keys``.
  Grant it to a login role: ``CREATE ROLE dashboards LOGIN PASSWORD '...' IN ROLE imi_readonly``.

Roles are cluster-wide and created only when missing; a user without CREATEROLE gets a notice
and project-restricted keys then fail with a clear error instead of the migration.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 06:45:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Tables a restricted key reads through policies; api_keys is never among them.
SCOPED_TABLES = (
    "projects",
    "work_items",
    "pull_requests",
    "components",
    "component_relationships",
    "tickets",
    "ticket_links",
    "deployments",
    "deployment_work_items",
    "activities",
    "events",
)
VISIBLE = "imi_visible_project"

# table -> (who may be read/updated/deleted, what may be inserted)
POLICIES = {
    "projects": (f"{VISIBLE}(id)", f"{VISIBLE}(id)"),
    "work_items": (f"{VISIBLE}(project_id)", f"{VISIBLE}(project_id)"),
    "pull_requests": (f"{VISIBLE}(project_id)", f"{VISIBLE}(project_id)"),
    "components": (f"{VISIBLE}(parent_project_id)", f"{VISIBLE}(parent_project_id)"),
    "component_relationships": (
        "EXISTS (SELECT 1 FROM components c WHERE c.id = from_component_id)",
        "EXISTS (SELECT 1 FROM components c WHERE c.id = from_component_id)",
    ),
    "ticket_links": (
        "EXISTS (SELECT 1 FROM work_items w WHERE w.id = work_item_id)",
        "EXISTS (SELECT 1 FROM work_items w WHERE w.id = work_item_id)",
    ),
    # A ticket is seen through a visible work item's link, or while it is linked to nothing
    # (so one can be created, returned and then linked).
    "tickets": (
        "EXISTS (SELECT 1 FROM ticket_links l WHERE l.ticket_id = tickets.id)"
        " OR NOT imi_ticket_linked(tickets.id)",
        "true",
    ),
    "deployment_work_items": (
        "EXISTS (SELECT 1 FROM work_items w WHERE w.id = work_item_id)",
        "EXISTS (SELECT 1 FROM work_items w WHERE w.id = work_item_id)",
    ),
    "deployments": (
        "EXISTS (SELECT 1 FROM deployment_work_items d WHERE d.deployment_id = deployments.id)"
        " OR NOT imi_deployment_ships(deployments.id)",
        "true",
    ),
    "activities": (
        "EXISTS (SELECT 1 FROM work_items w WHERE w.id = work_item_id)",
        "EXISTS (SELECT 1 FROM work_items w WHERE w.id = work_item_id)",
    ),
    # Events (timelines, live feeds): those about a visible project, work item or component.
    "events": (
        "(subject_type = 'project' AND subject_id = ANY (imi_scope_project_texts()))"
        # The visible work items' ids, computed once per statement (an InitPlan).
        " OR events.work_item_refs && ARRAY(SELECT w.id::text FROM work_items w)"
        " OR (subject_type = 'component' AND EXISTS"
        " (SELECT 1 FROM components c WHERE c.id::text = events.subject_id))",
        "true",
    ),
}


FUNCTIONS = (
    """
    CREATE OR REPLACE FUNCTION imi_scope_project_texts() RETURNS text[]
    LANGUAGE sql STABLE AS $$
        SELECT CASE
            WHEN coalesce(current_setting('imi.project_ids', true), '') = '' THEN NULL
            ELSE current_setting('imi.project_ids', true)::text[]
        END
    $$
    """,
    # Whether anything links to a row at all, whatever the caller may see (security definer:
    # runs as the owner, past the policies).
    """
    CREATE OR REPLACE FUNCTION imi_ticket_linked(tid uuid) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
        SELECT EXISTS (SELECT 1 FROM ticket_links WHERE ticket_id = tid)
    $$
    """,
    """
    CREATE OR REPLACE FUNCTION imi_deployment_ships(did uuid) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
        SELECT EXISTS (SELECT 1 FROM deployment_work_items WHERE deployment_id = did)
    $$
    """,
    """
    CREATE OR REPLACE FUNCTION imi_visible_project(pid uuid) RETURNS boolean
    LANGUAGE sql STABLE AS $$
        SELECT CASE
            WHEN coalesce(current_setting('imi.project_ids', true), '') = '' THEN false
            ELSE pid = ANY (current_setting('imi.project_ids', true)::uuid[])
        END
    $$
    """,
)


def upgrade() -> None:
    op.create_table(
        "api_keys",
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
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=32), nullable=False),
        sa.Column("secret_hash", sa.String(), nullable=False),
        sa.Column("scope", sa.String(), nullable=False),
        sa.Column("project_ids", postgresql.ARRAY(sa.Uuid()), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "scope IN ('imi:read', 'imi:write', 'imi:admin')", name="ck_api_keys_scope"
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("prefix"),
    )
    for function in FUNCTIONS:
        op.execute(function)
    op.execute(
        """
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'imi_scoped') THEN
                CREATE ROLE imi_scoped NOLOGIN;
            END IF;
            IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'imi_readonly') THEN
                CREATE ROLE imi_readonly NOLOGIN;
            END IF;
            -- The service's own user switches to imi_scoped for restricted keys.
            EXECUTE format('GRANT imi_scoped TO %I', current_user);
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE NOTICE 'imi: cannot create or grant roles (%); project-restricted keys '
                'and the read-only role need a user with CREATEROLE', SQLERRM;
        END $$;
        """
    )
    op.execute(
        """
        DO $$
        BEGIN
            IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'imi_scoped') THEN
                GRANT USAGE ON SCHEMA public TO imi_scoped;
                GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO imi_scoped;
                REVOKE ALL ON api_keys, alembic_version, processed_messages FROM imi_scoped;
                GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO imi_scoped;
            END IF;
            IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'imi_readonly') THEN
                GRANT USAGE ON SCHEMA public TO imi_readonly;
                GRANT SELECT ON ALL TABLES IN SCHEMA public TO imi_readonly;
                REVOKE ALL ON api_keys, processed_messages, alembic_version FROM imi_readonly;
            END IF;
        END $$;
        """
    )
    for table in SCOPED_TABLES:
        using, check = POLICIES[table]
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        # Every role but imi_scoped (readers such as imi_readonly, a non-owner service user)
        # sees and writes as before; imi_scoped only through the policies below, which fail
        # closed when no project list is set.
        op.execute(
            f"CREATE POLICY imi_unscoped ON {table} TO PUBLIC "
            "USING (current_user <> 'imi_scoped') WITH CHECK (current_user <> 'imi_scoped')"
        )
        scoped = "TO imi_scoped"
        op.execute(f"CREATE POLICY imi_scope_read ON {table} FOR SELECT {scoped} USING ({using})")
        op.execute(
            f"CREATE POLICY imi_scope_insert ON {table} FOR INSERT {scoped} WITH CHECK ({check})"
        )
        op.execute(
            f"CREATE POLICY imi_scope_update ON {table} FOR UPDATE {scoped} USING ({using}) "
            f"WITH CHECK ({check})"
        )
        op.execute(f"CREATE POLICY imi_scope_delete ON {table} FOR DELETE {scoped} USING ({using})")


def downgrade() -> None:
    for table in SCOPED_TABLES:
        for policy in ("scope_read", "scope_insert", "scope_update", "scope_delete", "unscoped"):
            op.execute(f"DROP POLICY IF EXISTS imi_{policy} ON {table}")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.execute(
        """
        DO $$
        BEGIN
            IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'imi_scoped') THEN
                REVOKE ALL ON ALL TABLES IN SCHEMA public FROM imi_scoped;
                REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM imi_scoped;
            END IF;
            IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'imi_readonly') THEN
                REVOKE ALL ON ALL TABLES IN SCHEMA public FROM imi_readonly;
            END IF;
        END $$;
        """
    )
    op.execute("DROP FUNCTION IF EXISTS imi_visible_project(uuid)")
    op.execute("DROP FUNCTION IF EXISTS imi_ticket_linked(uuid)")
    op.execute("DROP FUNCTION IF EXISTS imi_deployment_ships(uuid)")
    op.execute("DROP FUNCTION IF EXISTS imi_scope_project_texts()")
    op.drop_table("api_keys")
