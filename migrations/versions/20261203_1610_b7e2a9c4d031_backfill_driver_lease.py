"""shopify: one driver per backfill run (driver_token, driver_heartbeat_at)

The worker, the periodic resume job and the CLI claim a run with a conditional UPDATE on these
columns before importing. Two nullable columns: the code before this one ignores them, and a
run in progress when this is deployed is simply unclaimed.

Revision ID: b7e2a9c4d031
Revises: 799c3dde90ff
Create Date: 2026-12-03 16:10:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "b7e2a9c4d031"
down_revision = "799c3dde90ff"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("backfill_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("driver_token", sa.String(length=32), nullable=True))
        batch_op.add_column(
            sa.Column("driver_heartbeat_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade():
    with op.batch_alter_table("backfill_runs", schema=None) as batch_op:
        batch_op.drop_column("driver_heartbeat_at")
        batch_op.drop_column("driver_token")
