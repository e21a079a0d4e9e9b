"""segments: a covering index for the per-customer order totals

The totals segments read for a whole shop (count, spent, first and last order of the orders not
cancelled) come from this index alone. A new index only; on a large shop build it with
CREATE INDEX CONCURRENTLY by hand first, and this migration then finds it there.

Revision ID: 5d2c8e41a7b9
Revises: 93749f91073b
Create Date: 2026-12-02 18:40:00.000000

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = "5d2c8e41a7b9"
down_revision = "93749f91073b"
branch_labels = None
depends_on = None

COUNTED = "cancelled_at IS NULL AND customer_id IS NOT NULL"


def upgrade():
    op.create_index(
        "ix_orders_customer_totals",
        "orders",
        ["shop_id", "customer_id", "processed_at", "total_price", "total_refunded"],
        unique=False,
        if_not_exists=True,
        postgresql_where=sa.text(COUNTED),
        sqlite_where=sa.text(COUNTED),
    )


def downgrade():
    op.drop_index("ix_orders_customer_totals", table_name="orders")
