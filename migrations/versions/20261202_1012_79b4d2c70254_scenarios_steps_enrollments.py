"""campaigns: scenarios, their steps, enrollments (unique per scenario, person and trigger
event) and scheduled step messages. New tables only: safe before the new code is deployed.

Revision ID: 79b4d2c70254
Revises: e7b595501dec
Create Date: 2026-12-02 10:12:03.665500

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '79b4d2c70254'
down_revision = 'e7b595501dec'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('scenarios',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('template_key', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('trigger', sa.String(length=32), nullable=False),
    sa.Column('trigger_params', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('segment_id', sa.Integer(), nullable=True),
    sa.Column('entry_definition', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('exit_rules', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('once_per_person', sa.Boolean(), nullable=False),
    sa.Column('holdout_percent', sa.Integer(), nullable=False),
    sa.Column('holdout_salt', sa.String(length=32), nullable=False),
    sa.Column('conversion_window_days', sa.Integer(), nullable=False),
    sa.Column('activated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('paused_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('holdout_percent >= 0 AND holdout_percent <= 90', name=op.f('ck_scenarios_holdout_percent_range')),
    sa.ForeignKeyConstraint(['segment_id'], ['segments.id'], name=op.f('fk_scenarios_segment_id_segments')),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_scenarios_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scenarios'))
    )
    with op.batch_alter_table('scenarios', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scenarios_segment_id'), ['segment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_scenarios_shop_id'), ['shop_id'], unique=False)
        batch_op.create_index('ix_scenarios_shop_id_status_trigger', ['shop_id', 'status', 'trigger'], unique=False)

    op.create_table('scenario_enrollments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scenario_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('line_user_id', sa.Integer(), nullable=True),
    sa.Column('subject', sa.String(length=40), nullable=False),
    sa.Column('trigger_key', sa.String(length=128), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('holdout', sa.Boolean(), nullable=False),
    sa.Column('entered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('exit_reason', sa.String(length=24), nullable=True),
    sa.Column('exit_detail', sa.String(length=64), nullable=True),
    sa.Column('steps_sent', sa.Integer(), nullable=False),
    sa.Column('context', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_scenario_enrollments_customer_id_customers'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['line_user_id'], ['line_users.id'], name=op.f('fk_scenario_enrollments_line_user_id_line_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['scenario_id'], ['scenarios.id'], name=op.f('fk_scenario_enrollments_scenario_id_scenarios'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_scenario_enrollments_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scenario_enrollments')),
    sa.UniqueConstraint('scenario_id', 'subject', 'trigger_key', name=op.f('uq_scenario_enrollments_scenario_id_subject_trigger_key'))
    )
    with op.batch_alter_table('scenario_enrollments', schema=None) as batch_op:
        batch_op.create_index('ix_scenario_enrollments_scenario_id_state', ['scenario_id', 'state'], unique=False)
        batch_op.create_index(batch_op.f('ix_scenario_enrollments_shop_id'), ['shop_id'], unique=False)
        batch_op.create_index('ix_scenario_enrollments_shop_id_customer_id', ['shop_id', 'customer_id'], unique=False)
        batch_op.create_index('ix_scenario_enrollments_shop_id_line_user_id', ['shop_id', 'line_user_id'], unique=False)

    op.create_table('scenario_steps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scenario_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('delay_days', sa.Integer(), nullable=False),
    sa.Column('delay_hours', sa.Integer(), nullable=False),
    sa.Column('delay_from', sa.String(length=16), nullable=False),
    sa.Column('at_time', sa.String(length=5), nullable=True),
    sa.Column('delay_source', sa.String(length=16), nullable=True),
    sa.Column('message', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('coupon_offer_id', sa.Integer(), nullable=True),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('delay_days >= 0 AND delay_hours >= 0', name=op.f('ck_scenario_steps_delay_not_negative')),
    sa.ForeignKeyConstraint(['coupon_offer_id'], ['coupon_offers.id'], name=op.f('fk_scenario_steps_coupon_offer_id_coupon_offers'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['scenario_id'], ['scenarios.id'], name=op.f('fk_scenario_steps_scenario_id_scenarios'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_scenario_steps_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scenario_steps'))
    )
    with op.batch_alter_table('scenario_steps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scenario_steps_scenario_id'), ['scenario_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_scenario_steps_shop_id'), ['shop_id'], unique=False)

    op.create_table('scheduled_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('enrollment_id', sa.Integer(), nullable=False),
    sa.Column('step_id', sa.Integer(), nullable=True),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('claim', sa.String(length=32), nullable=True),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('delivery_id', sa.Integer(), nullable=True),
    sa.Column('coupon_id', sa.Integer(), nullable=True),
    sa.Column('error', sa.String(length=255), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['coupon_id'], ['coupons.id'], name=op.f('fk_scheduled_messages_coupon_id_coupons'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['delivery_id'], ['line_deliveries.id'], name=op.f('fk_scheduled_messages_delivery_id_line_deliveries'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['enrollment_id'], ['scenario_enrollments.id'], name=op.f('fk_scheduled_messages_enrollment_id_scenario_enrollments'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_scheduled_messages_shop_id_shops'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['step_id'], ['scenario_steps.id'], name=op.f('fk_scheduled_messages_step_id_scenario_steps'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scheduled_messages'))
    )
    with op.batch_alter_table('scheduled_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scheduled_messages_claim'), ['claim'], unique=False)
        batch_op.create_index(batch_op.f('ix_scheduled_messages_enrollment_id'), ['enrollment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_scheduled_messages_shop_id'), ['shop_id'], unique=False)
        batch_op.create_index('ix_scheduled_messages_shop_id_due_at', ['shop_id', 'due_at'], unique=False)
        batch_op.create_index('ix_scheduled_messages_status_due_at', ['status', 'due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_scheduled_messages_step_id'), ['step_id'], unique=False)



def downgrade():
    with op.batch_alter_table('scheduled_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scheduled_messages_step_id'))
        batch_op.drop_index('ix_scheduled_messages_status_due_at')
        batch_op.drop_index('ix_scheduled_messages_shop_id_due_at')
        batch_op.drop_index(batch_op.f('ix_scheduled_messages_shop_id'))
        batch_op.drop_index(batch_op.f('ix_scheduled_messages_enrollment_id'))
        batch_op.drop_index(batch_op.f('ix_scheduled_messages_claim'))

    op.drop_table('scheduled_messages')
    with op.batch_alter_table('scenario_steps', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scenario_steps_shop_id'))
        batch_op.drop_index(batch_op.f('ix_scenario_steps_scenario_id'))

    op.drop_table('scenario_steps')
    with op.batch_alter_table('scenario_enrollments', schema=None) as batch_op:
        batch_op.drop_index('ix_scenario_enrollments_shop_id_line_user_id')
        batch_op.drop_index('ix_scenario_enrollments_shop_id_customer_id')
        batch_op.drop_index(batch_op.f('ix_scenario_enrollments_shop_id'))
        batch_op.drop_index('ix_scenario_enrollments_scenario_id_state')

    op.drop_table('scenario_enrollments')
    with op.batch_alter_table('scenarios', schema=None) as batch_op:
        batch_op.drop_index('ix_scenarios_shop_id_status_trigger')
        batch_op.drop_index(batch_op.f('ix_scenarios_shop_id'))
        batch_op.drop_index(batch_op.f('ix_scenarios_segment_id'))

    op.drop_table('scenarios')
