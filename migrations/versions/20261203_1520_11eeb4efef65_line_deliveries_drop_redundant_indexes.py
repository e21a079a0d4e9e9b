"""line deliveries: drop two indexes every delivery write paid for and no query used

Each row of line_deliveries is written three times (created, claimed, settled), and each of
those writes adds an entry to every index. ix_line_deliveries_shop_id is a prefix of
ix_line_deliveries_cap (shop_id, line_user_id, kind, sent_at), which serves every shop-scoped
query and the shop's ON DELETE CASCADE; nothing reads by claim since a sender keeps its
claimed rows in memory. Dropping indexes only: safe before or after the new code is deployed
(the old code's lookups by claim fall back to the status/due index).

Revision ID: 11eeb4efef65
Revises: b6f0e3a41c27
Create Date: 2026-12-03 15:20:00.000000

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = "11eeb4efef65"
down_revision = "b6f0e3a41c27"
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index("ix_line_deliveries_shop_id", table_name="line_deliveries")
    op.drop_index("ix_line_deliveries_claim", table_name="line_deliveries")


def downgrade():
    op.create_index("ix_line_deliveries_claim", "line_deliveries", ["claim"], unique=False)
    op.create_index("ix_line_deliveries_shop_id", "line_deliveries", ["shop_id"], unique=False)
