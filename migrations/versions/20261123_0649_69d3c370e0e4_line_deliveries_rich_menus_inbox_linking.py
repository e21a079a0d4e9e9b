"""line deliveries rich menus inbox linking

Revision ID: 69d3c370e0e4
Revises: 0f41dea70dab
Create Date: 2026-11-23 06:49:36.375851

"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = "69d3c370e0e4"
down_revision = "0f41dea70dab"
branch_labels = None
depends_on = None


def upgrade():
    # Existing channels get the default rules (server defaults) when the columns arrive.
    op.create_table(
        "login_states",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_states")),
        sa.UniqueConstraint("key", name=op.f("uq_login_states_key")),
    )
    op.create_table(
        "line_delivery_contents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "messages", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
            name=op.f("fk_line_delivery_contents_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_line_delivery_contents")),
    )
    with op.batch_alter_table("line_delivery_contents", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_line_delivery_contents_shop_id"), ["shop_id"], unique=False
        )

    op.create_table(
        "line_rich_menus",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("image", sa.LargeBinary(), nullable=True),
        sa.Column("image_content_type", sa.String(length=32), nullable=True),
        sa.Column("line_rich_menu_id", sa.String(length=64), nullable=True),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
            name=op.f("fk_line_rich_menus_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_line_rich_menus")),
        sa.UniqueConstraint("shop_id", "state", name=op.f("uq_line_rich_menus_shop_id_state")),
    )
    with op.batch_alter_table("line_rich_menus", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_line_rich_menus_shop_id"), ["shop_id"], unique=False)

    op.create_table(
        "conversations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("line_user_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("last_message_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("unread_count", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["line_user_id"],
            ["line_users.id"],
            name=op.f("fk_conversations_line_user_id_line_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
            name=op.f("fk_conversations_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversations")),
        sa.UniqueConstraint(
            "shop_id", "line_user_id", name=op.f("uq_conversations_shop_id_line_user_id")
        ),
    )
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_conversations_shop_id"), ["shop_id"], unique=False)

    op.create_table(
        "line_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("line_user_id", sa.Integer(), nullable=False),
        sa.Column("to", sa.String(length=64), nullable=False),
        sa.Column("content_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reply_token", sa.String(length=255), nullable=True),
        sa.Column("reply_token_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retry_key", sa.String(length=36), nullable=False),
        sa.Column("api", sa.String(length=16), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claim", sa.String(length=32), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deferred_reason", sa.String(length=32), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("line_request_id", sa.String(length=64), nullable=True),
        sa.Column("accepted_request_id", sa.String(length=64), nullable=True),
        sa.Column(
            "sent_message_ids",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=True,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["content_id"],
            ["line_delivery_contents.id"],
            name=op.f("fk_line_deliveries_content_id_line_delivery_contents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["line_user_id"],
            ["line_users.id"],
            name=op.f("fk_line_deliveries_line_user_id_line_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
            name=op.f("fk_line_deliveries_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_line_deliveries")),
    )
    with op.batch_alter_table("line_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_line_deliveries_cap", ["shop_id", "line_user_id", "kind", "sent_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_line_deliveries_claim"), ["claim"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_line_deliveries_content_id"), ["content_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_line_deliveries_line_user_id"), ["line_user_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_line_deliveries_retry_key"), ["retry_key"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_line_deliveries_shop_id"), ["shop_id"], unique=False)
        batch_op.create_index(
            "ix_line_deliveries_status_due_at", ["status", "due_at"], unique=False
        )

    op.create_table(
        "link_incentive_grants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("line_user_id", sa.Integer(), nullable=True),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_link_incentive_grants_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["line_user_id"],
            ["line_users.id"],
            name=op.f("fk_link_incentive_grants_line_user_id_line_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
            name=op.f("fk_link_incentive_grants_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_incentive_grants")),
        sa.UniqueConstraint(
            "shop_id", "customer_id", name=op.f("uq_link_incentive_grants_shop_id_customer_id")
        ),
    )
    with op.batch_alter_table("link_incentive_grants", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_link_incentive_grants_shop_id"), ["shop_id"], unique=False
        )

    op.create_table(
        "link_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("token", sa.String(length=128), nullable=True),
        sa.Column("link_token", sa.String(length=128), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("line_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_link_requests_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["line_user_id"],
            ["line_users.id"],
            name=op.f("fk_link_requests_line_user_id_line_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
            name=op.f("fk_link_requests_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_requests")),
        sa.UniqueConstraint("token", name=op.f("uq_link_requests_token")),
    )
    with op.batch_alter_table("link_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_link_requests_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_link_requests_line_user_id"), ["line_user_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_link_requests_link_token"), ["link_token"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_link_requests_shop_id"), ["shop_id"], unique=False)

    op.create_table(
        "messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("line_message_id", sa.String(length=64), nullable=True),
        sa.Column("reply_token", sa.String(length=255), nullable=True),
        sa.Column("reply_token_received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reply_token_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sender", sa.String(length=16), nullable=False),
        sa.Column("staff_id", sa.String(length=64), nullable=True),
        sa.Column("delivery_id", sa.Integer(), nullable=True),
        sa.Column(
            "payload", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_messages_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["line_deliveries.id"],
            name=op.f("fk_messages_delivery_id_line_deliveries"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_messages_shop_id_shops"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
        sa.UniqueConstraint(
            "shop_id", "line_message_id", name=op.f("uq_messages_shop_id_line_message_id")
        ),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_messages_conversation_id_created_at",
            ["conversation_id", "created_at"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_messages_shop_id"), ["shop_id"], unique=False)

    with op.batch_alter_table("line_channels", schema=None) as batch_op:
        batch_op.add_column(sa.Column("previous_channel_secret", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "access_token_issued", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
        batch_op.add_column(
            sa.Column(
                "quiet_hours_start", sa.String(length=5), nullable=False, server_default="21:00"
            )
        )
        batch_op.add_column(
            sa.Column(
                "quiet_hours_end", sa.String(length=5), nullable=False, server_default="09:00"
            )
        )
        batch_op.add_column(
            sa.Column("frequency_cap", sa.Integer(), nullable=False, server_default="2")
        )
        batch_op.add_column(
            sa.Column("frequency_cap_days", sa.Integer(), nullable=False, server_default="7")
        )
        batch_op.add_column(
            sa.Column("link_incentive_points", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("quota_limit", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("quota_used", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("quota_checked_at", sa.DateTime(timezone=True), nullable=True)
        )

    with op.batch_alter_table("line_users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rich_menu_id", sa.String(length=64), nullable=True))

    # ### end Alembic commands ###


def downgrade():
    # ### commands auto generated by Alembic - please adjust! ###
    with op.batch_alter_table("line_users", schema=None) as batch_op:
        batch_op.drop_column("rich_menu_id")

    with op.batch_alter_table("line_channels", schema=None) as batch_op:
        batch_op.drop_column("quota_checked_at")
        batch_op.drop_column("quota_used")
        batch_op.drop_column("quota_limit")
        batch_op.drop_column("link_incentive_points")
        batch_op.drop_column("frequency_cap_days")
        batch_op.drop_column("frequency_cap")
        batch_op.drop_column("quiet_hours_end")
        batch_op.drop_column("quiet_hours_start")
        batch_op.drop_column("access_token_issued")
        batch_op.drop_column("previous_secret_expires_at")
        batch_op.drop_column("previous_channel_secret")

    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_messages_shop_id"))
        batch_op.drop_index("ix_messages_conversation_id_created_at")

    op.drop_table("messages")
    with op.batch_alter_table("link_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_link_requests_shop_id"))
        batch_op.drop_index(batch_op.f("ix_link_requests_link_token"))
        batch_op.drop_index(batch_op.f("ix_link_requests_line_user_id"))
        batch_op.drop_index(batch_op.f("ix_link_requests_customer_id"))

    op.drop_table("link_requests")
    with op.batch_alter_table("link_incentive_grants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_link_incentive_grants_shop_id"))

    op.drop_table("link_incentive_grants")
    with op.batch_alter_table("line_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_line_deliveries_status_due_at")
        batch_op.drop_index(batch_op.f("ix_line_deliveries_shop_id"))
        batch_op.drop_index(batch_op.f("ix_line_deliveries_retry_key"))
        batch_op.drop_index(batch_op.f("ix_line_deliveries_line_user_id"))
        batch_op.drop_index(batch_op.f("ix_line_deliveries_content_id"))
        batch_op.drop_index(batch_op.f("ix_line_deliveries_claim"))
        batch_op.drop_index("ix_line_deliveries_cap")

    op.drop_table("line_deliveries")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversations_shop_id"))

    op.drop_table("conversations")
    with op.batch_alter_table("line_rich_menus", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_line_rich_menus_shop_id"))

    op.drop_table("line_rich_menus")
    with op.batch_alter_table("line_delivery_contents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_line_delivery_contents_shop_id"))

    op.drop_table("line_delivery_contents")
    op.drop_table("login_states")
    # ### end Alembic commands ###
