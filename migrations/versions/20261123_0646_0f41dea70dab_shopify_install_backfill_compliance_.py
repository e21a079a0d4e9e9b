"""shopify install backfill compliance subscriptions

Revision ID: 0f41dea70dab
Revises: 27f1635bb814
Create Date: 2026-11-23 06:46:31.376148

"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = "0f41dea70dab"
down_revision = "27f1635bb814"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "oauth_states",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=64), nullable=False),
        sa.Column("shop_domain", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_states")),
        sa.UniqueConstraint("state", name=op.f("uq_oauth_states_state")),
    )
    op.create_table(
        "backfill_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("bulk_operation_id", sa.String(length=128), nullable=True),
        sa.Column("bulk_status", sa.String(length=16), nullable=True),
        sa.Column("result_url", sa.Text(), nullable=True),
        sa.Column("lines_done", sa.Integer(), nullable=False),
        sa.Column(
            "totals", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column(
            "imported", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
            name=op.f("fk_backfill_runs_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backfill_runs")),
    )
    with op.batch_alter_table("backfill_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_backfill_runs_shop_id"), ["shop_id"], unique=False)

    op.create_table(
        "compliance_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("topic", sa.String(length=32), nullable=False),
        sa.Column("shopify_customer_id", sa.BigInteger(), nullable=True),
        sa.Column("data_request_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "orders_requested",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "export", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True
        ),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("downloaded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
            name=op.f("fk_compliance_requests_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compliance_requests")),
    )
    with op.batch_alter_table("compliance_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_compliance_requests_shop_id"), ["shop_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_compliance_requests_shopify_customer_id"),
            ["shopify_customer_id"],
            unique=False,
        )

    op.create_table(
        "subscription_contracts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shopify_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("shopify_created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("shopify_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_billing_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_subscription_contracts_customer_id_customers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
            name=op.f("fk_subscription_contracts_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscription_contracts")),
        sa.UniqueConstraint(
            "shop_id", "shopify_id", name=op.f("uq_subscription_contracts_shop_id_shopify_id")
        ),
    )
    with op.batch_alter_table("subscription_contracts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_subscription_contracts_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_subscription_contracts_shop_id"), ["shop_id"], unique=False
        )

    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("subscription_tag_since", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("subscription_tag_ended_at", sa.DateTime(timezone=True), nullable=True)
        )

    with op.batch_alter_table("shops", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("token_lease_until", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("redacted_at", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("correlation_id", sa.String(length=128), nullable=True))


def downgrade():
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.drop_column("correlation_id")

    with op.batch_alter_table("shops", schema=None) as batch_op:
        batch_op.drop_column("redacted_at")
        batch_op.drop_column("token_lease_until")

    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_column("subscription_tag_ended_at")
        batch_op.drop_column("subscription_tag_since")
        batch_op.drop_column("deleted_at")

    with op.batch_alter_table("subscription_contracts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subscription_contracts_shop_id"))
        batch_op.drop_index(batch_op.f("ix_subscription_contracts_customer_id"))

    op.drop_table("subscription_contracts")
    with op.batch_alter_table("compliance_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_compliance_requests_shopify_customer_id"))
        batch_op.drop_index(batch_op.f("ix_compliance_requests_shop_id"))

    op.drop_table("compliance_requests")
    with op.batch_alter_table("backfill_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_backfill_runs_shop_id"))

    op.drop_table("backfill_runs")
    op.drop_table("oauth_states")
