"""delivery speed: each deploy link carries its project and its deploy's facts, kept by triggers

The delivery metrics (``imi.insights.delivery_queries``) need a project's deploy links of a
window. Without help that means reading every work item of the project and every deploy link
of each (16,743 work items and 13,461 links for the biggest benchmark project, ~30,000 index
probes). ``deployment_work_items`` now carries derived columns:

- ``project_id``: the work item's project;
- ``deployed_at``, ``environment``, ``status``: the deployment's;

so a project's links of a window are one range of ``(project_id, deployed_at)``, and a work
item's earlier links one range of ``(work_item_id, deployed_at)`` (the "first production deploy
ever" check, asked only of the work items shipped in the window), both read from the index
alone.

They are derived data, not state: no setting enters them (which environments are production
and which statuses succeed stay in the query), and triggers keep them whoever writes, so the
link service, raw SQL and ``COPY`` (the benchmark loader) all agree: a link's row is filled on
insert or update, and follows its deployment's time, environment or status and its work
item's project when those change. The trigger functions are ``SECURITY DEFINER`` so a
project-restricted key's row-level security never hides the row being copied from.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27 14:30:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE deployment_work_items ADD COLUMN project_id uuid, "
        "ADD COLUMN deployed_at timestamptz, ADD COLUMN environment varchar, "
        "ADD COLUMN status varchar"
    )
    # The existing links, before the triggers (which would recompute every row twice).
    op.execute(
        """
        UPDATE deployment_work_items x
        SET project_id = w.project_id, deployed_at = d.deployed_at,
            environment = d.environment, status = d.status
        FROM work_items w, deployments d
        WHERE w.id = x.work_item_id AND d.id = x.deployment_id
        """
    )
    op.execute(
        """
        CREATE FUNCTION imi_deploy_link_fill() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
        BEGIN
            NEW.project_id := (SELECT w.project_id FROM work_items w WHERE w.id = NEW.work_item_id);
            SELECT d.deployed_at, d.environment, d.status
            INTO NEW.deployed_at, NEW.environment, NEW.status
            FROM deployments d WHERE d.id = NEW.deployment_id;
            RETURN NEW;
        END $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER deployment_work_items_fill
        BEFORE INSERT OR UPDATE ON deployment_work_items
        FOR EACH ROW EXECUTE FUNCTION imi_deploy_link_fill()
        """
    )
    # A changed deploy (time, environment, status) or project re-touches the links; the trigger
    # above refills them.
    op.execute(
        """
        CREATE FUNCTION imi_deploy_link_follow_deploy() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
        BEGIN
            UPDATE deployment_work_items SET deployed_at = NEW.deployed_at
            WHERE deployment_id = NEW.id;
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER deployments_delivery_links
        AFTER UPDATE OF deployed_at, environment, status ON deployments
        FOR EACH ROW WHEN (OLD.deployed_at IS DISTINCT FROM NEW.deployed_at
                           OR OLD.environment IS DISTINCT FROM NEW.environment
                           OR OLD.status IS DISTINCT FROM NEW.status)
        EXECUTE FUNCTION imi_deploy_link_follow_deploy()
        """
    )
    op.execute(
        """
        CREATE FUNCTION imi_deploy_link_follow_item() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
        BEGIN
            UPDATE deployment_work_items SET project_id = NEW.project_id
            WHERE work_item_id = NEW.id;
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER work_items_delivery_links
        AFTER UPDATE OF project_id ON work_items
        FOR EACH ROW WHEN (OLD.project_id IS DISTINCT FROM NEW.project_id)
        EXECUTE FUNCTION imi_deploy_link_follow_item()
        """
    )
    op.execute(
        "CREATE INDEX ix_deployment_work_items_project_deployed ON deployment_work_items "
        "(project_id, deployed_at) INCLUDE (deployment_id, work_item_id, environment, status)"
    )
    op.execute(
        "CREATE INDEX ix_deployment_work_items_item_deployed ON deployment_work_items "
        "(work_item_id, deployed_at) INCLUDE (deployment_id, environment, status)"
    )
    # The fix rule's candidates: a project's `fix` work items started in a time range.
    op.execute(
        "CREATE INDEX ix_work_items_fix_started ON work_items (project_id, created_at) "
        "INCLUDE (id) WHERE work_type = 'fix'"
    )
    # A shipped work item's first ticket link and first commit, and the tickets of a deploy's
    # work items (the fix rule), read from the index alone.
    op.execute(
        "CREATE INDEX ix_ticket_links_work_item_ticket ON ticket_links (work_item_id) "
        "INCLUDE (ticket_id, created_at)"
    )
    op.execute(
        "CREATE INDEX ix_activities_first_commit ON activities (work_item_id, created_at) "
        "WHERE activity_type = 'committed'"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_activities_first_commit")
    op.execute("DROP INDEX IF EXISTS ix_ticket_links_work_item_ticket")
    op.execute("DROP INDEX IF EXISTS ix_deployment_work_items_item_deployed")
    op.execute("DROP INDEX IF EXISTS ix_deployment_work_items_project_deployed")
    op.execute("DROP INDEX IF EXISTS ix_work_items_fix_started")
    op.execute("DROP TRIGGER IF EXISTS work_items_delivery_links ON work_items")
    op.execute("DROP TRIGGER IF EXISTS deployments_delivery_links ON deployments")
    op.execute("DROP TRIGGER IF EXISTS deployment_work_items_fill ON deployment_work_items")
    op.execute("DROP FUNCTION IF EXISTS imi_deploy_link_follow_item()")
    op.execute("DROP FUNCTION IF EXISTS imi_deploy_link_follow_deploy()")
    op.execute("DROP FUNCTION IF EXISTS imi_deploy_link_fill()")
    op.execute(
        "ALTER TABLE deployment_work_items DROP COLUMN IF EXISTS project_id, "
        "DROP COLUMN IF EXISTS deployed_at, DROP COLUMN IF EXISTS environment, "
        "DROP COLUMN IF EXISTS status"
    )
