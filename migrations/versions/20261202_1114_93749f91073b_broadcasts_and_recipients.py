"""campaigns: broadcasts and their recipients

New tables only; nothing existing changes.

Revision ID: 93749f91073b
Revises: e904c69cea34
Create Date: 2026-12-02 11:14:19.230008

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '93749f91073b'
down_revision = 'e904c69cea34'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('broadcasts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('segment_id', sa.Integer(), nullable=True),
    sa.Column('message', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('coupon_offer_id', sa.Integer(), nullable=True),
    sa.Column('link_tracking', sa.String(length=16), nullable=False),
    sa.Column('holdout_percent', sa.Integer(), nullable=False),
    sa.Column('holdout_salt', sa.String(length=32), nullable=False),
    sa.Column('scheduled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('claim', sa.String(length=32), nullable=True),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('recipients_count', sa.Integer(), nullable=True),
    sa.Column('holdout_count', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('holdout_percent >= 0 AND holdout_percent <= 50', name=op.f('ck_broadcasts_holdout_percent_range')),
    sa.ForeignKeyConstraint(['coupon_offer_id'], ['coupon_offers.id'], name=op.f('fk_broadcasts_coupon_offer_id_coupon_offers'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['segment_id'], ['segments.id'], name=op.f('fk_broadcasts_segment_id_segments')),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_broadcasts_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_broadcasts'))
    )
    with op.batch_alter_table('broadcasts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_broadcasts_segment_id'), ['segment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_broadcasts_shop_id'), ['shop_id'], unique=False)
        batch_op.create_index('ix_broadcasts_status_scheduled_at', ['status', 'scheduled_at'], unique=False)

    op.create_table('broadcast_recipients',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('broadcast_id', sa.Integer(), nullable=False),
    sa.Column('line_user_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('holdout', sa.Boolean(), nullable=False),
    sa.Column('delivery_id', sa.Integer(), nullable=True),
    sa.Column('coupon_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['broadcast_id'], ['broadcasts.id'], name=op.f('fk_broadcast_recipients_broadcast_id_broadcasts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['coupon_id'], ['coupons.id'], name=op.f('fk_broadcast_recipients_coupon_id_coupons'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_broadcast_recipients_customer_id_customers'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['delivery_id'], ['line_deliveries.id'], name=op.f('fk_broadcast_recipients_delivery_id_line_deliveries'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['line_user_id'], ['line_users.id'], name=op.f('fk_broadcast_recipients_line_user_id_line_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_broadcast_recipients_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_broadcast_recipients')),
    sa.UniqueConstraint('broadcast_id', 'line_user_id', name=op.f('uq_broadcast_recipients_broadcast_id_line_user_id'))
    )
    with op.batch_alter_table('broadcast_recipients', schema=None) as batch_op:
        batch_op.create_index('ix_broadcast_recipients_pending', ['broadcast_id', 'holdout', 'delivery_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_broadcast_recipients_shop_id'), ['shop_id'], unique=False)



def downgrade():
    with op.batch_alter_table('broadcast_recipients', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_broadcast_recipients_shop_id'))
        batch_op.drop_index('ix_broadcast_recipients_pending')

    op.drop_table('broadcast_recipients')
    with op.batch_alter_table('broadcasts', schema=None) as batch_op:
        batch_op.drop_index('ix_broadcasts_status_scheduled_at')
        batch_op.drop_index(batch_op.f('ix_broadcasts_shop_id'))
        batch_op.drop_index(batch_op.f('ix_broadcasts_segment_id'))

    op.drop_table('broadcasts')
