"""line deliveries: multicast requests that hold the claim, key and result of their recipients

deliver_many now makes one line_delivery_requests row per multicast (<= 500 recipients): the
sender claims, retries and settles the request, and each recipient's row is written twice
(created, settled) instead of three times. line_deliveries.request_id points at it (no foreign
key: checked per row, and both go only with their shop). The row sweep's index leaves those
rows out (partial, request_id IS NULL), and the content and retry key indexes become one
(content_id, retry_key): every index costs each of a row's writes.

New table, nullable column, and an index narrowed to the rows the old code made (all have
request_id NULL): the code before this one keeps working, its sweep no longer helped by the
index until the new code, which filters on request_id, is deployed.

Revision ID: c4d5e6f7a8b9
Revises: c3f1a9d2e845
Create Date: 2026-12-03 18:10:00.000000

"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = "c4d5e6f7a8b9"
down_revision = "c3f1a9d2e845"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "line_delivery_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("content_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retry_key", sa.String(length=36), nullable=False),
        sa.Column(
            "recipients", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claim", sa.String(length=32), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deferred_reason", sa.String(length=32), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("line_request_id", sa.String(length=64), nullable=True),
        sa.Column("accepted_request_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["content_id"],
            ["line_delivery_contents.id"],
            name=op.f("fk_line_delivery_requests_content_id_line_delivery_contents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
            name=op.f("fk_line_delivery_requests_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_line_delivery_requests")),
    )
    with op.batch_alter_table("line_delivery_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_line_delivery_requests_content_id"), ["content_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_line_delivery_requests_shop_id"), ["shop_id"], unique=False
        )
        batch_op.create_index(
            "ix_line_delivery_requests_status_due_at", ["status", "due_at"], unique=False
        )
    op.add_column("line_deliveries", sa.Column("request_id", sa.Integer(), nullable=True))
    op.create_index(
        "ix_line_deliveries_content_id_retry_key",
        "line_deliveries",
        ["content_id", "retry_key"],
        unique=False,
    )
    op.drop_index("ix_line_deliveries_retry_key", table_name="line_deliveries")
    op.drop_index("ix_line_deliveries_content_id", table_name="line_deliveries")
    op.drop_index("ix_line_deliveries_status_due_at", table_name="line_deliveries")
    op.create_index(
        "ix_line_deliveries_status_due_at",
        "line_deliveries",
        ["status", "due_at"],
        unique=False,
        postgresql_where=sa.text("request_id IS NULL"),
        sqlite_where=sa.text("request_id IS NULL"),
    )


def downgrade():
    op.drop_index("ix_line_deliveries_status_due_at", table_name="line_deliveries")
    op.create_index(
        "ix_line_deliveries_status_due_at", "line_deliveries", ["status", "due_at"], unique=False
    )
    op.create_index(
        "ix_line_deliveries_content_id", "line_deliveries", ["content_id"], unique=False
    )
    op.create_index("ix_line_deliveries_retry_key", "line_deliveries", ["retry_key"], unique=False)
    op.drop_index("ix_line_deliveries_content_id_retry_key", table_name="line_deliveries")
    with op.batch_alter_table("line_deliveries", schema=None) as batch_op:
        batch_op.drop_column("request_id")
    with op.batch_alter_table("line_delivery_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_line_delivery_requests_status_due_at")
        batch_op.drop_index(batch_op.f("ix_line_delivery_requests_shop_id"))
        batch_op.drop_index(batch_op.f("ix_line_delivery_requests_content_id"))
    op.drop_table("line_delivery_requests")
