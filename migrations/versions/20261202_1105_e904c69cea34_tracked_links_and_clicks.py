"""campaigns: tracked links (/r/<token>) and their clicks

New tables only; nothing existing changes.

Revision ID: e904c69cea34
Revises: 1831dcf69087
Create Date: 2026-12-02 10:17:39.829198

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "e904c69cea34"
down_revision = "1831dcf69087"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "tracked_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("source_kind", sa.String(length=32), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("line_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["line_user_id"],
            ["line_users.id"],
            name=op.f("fk_tracked_links_line_user_id_line_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
            name=op.f("fk_tracked_links_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracked_links")),
        sa.UniqueConstraint("token", name=op.f("uq_tracked_links_token")),
    )
    with op.batch_alter_table("tracked_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tracked_links_shop_id"), ["shop_id"], unique=False)
        batch_op.create_index(
            "ix_tracked_links_source", ["shop_id", "source_kind", "source_id"], unique=False
        )

    op.create_table(
        "link_clicks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("link_id", sa.Integer(), nullable=False),
        sa.Column("line_user_id", sa.Integer(), nullable=True),
        sa.Column("visitor", sa.String(length=32), nullable=True),
        sa.Column("bot", sa.Boolean(), nullable=False),
        sa.Column("clicked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["line_user_id"],
            ["line_users.id"],
            name=op.f("fk_link_clicks_line_user_id_line_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["link_id"],
            ["tracked_links.id"],
            name=op.f("fk_link_clicks_link_id_tracked_links"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_link_clicks_shop_id_shops"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_clicks")),
    )
    with op.batch_alter_table("link_clicks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_link_clicks_line_user_id_clicked_at", ["line_user_id", "clicked_at"], unique=False
        )
        batch_op.create_index(
            "ix_link_clicks_link_id_clicked_at", ["link_id", "clicked_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_link_clicks_shop_id"), ["shop_id"], unique=False)


def downgrade():
    with op.batch_alter_table("link_clicks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_link_clicks_shop_id"))
        batch_op.drop_index("ix_link_clicks_link_id_clicked_at")
        batch_op.drop_index("ix_link_clicks_line_user_id_clicked_at")

    op.drop_table("link_clicks")
    with op.batch_alter_table("tracked_links", schema=None) as batch_op:
        batch_op.drop_index("ix_tracked_links_source")
        batch_op.drop_index(batch_op.f("ix_tracked_links_shop_id"))

    op.drop_table("tracked_links")
