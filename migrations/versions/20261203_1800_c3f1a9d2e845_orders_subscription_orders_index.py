"""segments: an index of the subscription orders (shop, customer, processed_at, cancelled_at)

The subscription states of a whole shop read each customer's last live and last cancelled
subscription order from this index alone. A new index only; on a large shop build it with
CREATE INDEX CONCURRENTLY by hand first, and this migration then finds it there.

Revision ID: c3f1a9d2e845
Revises: b7e2a9c4d031
Create Date: 2026-12-03 18:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = "c3f1a9d2e845"
down_revision = "b7e2a9c4d031"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        "ix_orders_subscription_orders",
        "orders",
        ["shop_id", "customer_id", "processed_at", "cancelled_at"],
        unique=False,
        if_not_exists=True,
        # As SQLAlchemy writes `is_subscription IS TRUE` on each database (see the model).
        postgresql_where=sa.text("is_subscription IS true AND customer_id IS NOT NULL"),
        sqlite_where=sa.text("is_subscription IS 1 AND customer_id IS NOT NULL"),
    )


def downgrade():
    op.drop_index("ix_orders_subscription_orders", table_name="orders")
