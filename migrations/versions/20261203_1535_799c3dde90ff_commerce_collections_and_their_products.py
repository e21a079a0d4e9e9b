"""commerce: collections and their products

Shopify collections and which products are in them (by Shopify product id), for "bought from
collection X" segments and triggers. New tables only: safe before the new code is deployed.

Revision ID: 799c3dde90ff
Revises: 11eeb4efef65
Create Date: 2026-12-03 15:35:05.065932

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "799c3dde90ff"
down_revision = "11eeb4efef65"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "collections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shopify_id", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.String(length=512), nullable=False),
        sa.Column("handle", sa.String(length=512), nullable=False),
        sa.Column("smart", sa.Boolean(), nullable=False),
        sa.Column("shopify_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_collections_shop_id_shops"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collections")),
        sa.UniqueConstraint(
            "shop_id", "shopify_id", name=op.f("uq_collections_shop_id_shopify_id")
        ),
    )
    with op.batch_alter_table("collections", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_collections_shop_id"), ["shop_id"], unique=False)

    op.create_table(
        "collection_products",
        sa.Column("collection_id", sa.Integer(), nullable=False),
        sa.Column("product_shopify_id", sa.BigInteger(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["collections.id"],
            name=op.f("fk_collection_products_collection_id_collections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
            name=op.f("fk_collection_products_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "collection_id", "product_shopify_id", name=op.f("pk_collection_products")
        ),
    )
    with op.batch_alter_table("collection_products", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_collection_products_shop_id"), ["shop_id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("collection_products", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_collection_products_shop_id"))

    op.drop_table("collection_products")
    with op.batch_alter_table("collections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_collections_shop_id"))

    op.drop_table("collections")
