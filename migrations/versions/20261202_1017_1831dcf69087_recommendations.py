"""recommendations: settings, trained models, precomputed lists per customer, reorder predictions

New tables only (nothing existing changes), so it is safe to run before the new code ships.

Revision ID: 1831dcf69087
Revises: 79b4d2c70254
Create Date: 2026-12-02 10:17:15.775075

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '1831dcf69087'
down_revision = '79b4d2c70254'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('recommendation_models',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('algorithm', sa.String(length=32), nullable=False),
    sa.Column('params', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('trained_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('as_of', sa.DateTime(timezone=True), nullable=False),
    sa.Column('customers', sa.Integer(), nullable=False),
    sa.Column('products', sa.Integer(), nullable=False),
    sa.Column('lines', sa.Integer(), nullable=False),
    sa.Column('seconds', sa.Double(), nullable=False),
    sa.Column('peak_mb', sa.Double(), nullable=False),
    sa.Column('popular', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('artifact', sa.LargeBinary(), nullable=True),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_recommendation_models_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recommendation_models'))
    )
    with op.batch_alter_table('recommendation_models', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recommendation_models_shop_id'), ['shop_id'], unique=False)
        batch_op.create_index('ix_recommendation_models_shop_id_trained_at', ['shop_id', 'trained_at'], unique=False)

    op.create_table('recommendation_settings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('algorithm', sa.String(length=32), nullable=True),
    sa.Column('params', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('excluded_product_ids', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('evaluation', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=True),
    sa.Column('evaluated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_recommendation_settings_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recommendation_settings')),
    sa.UniqueConstraint('shop_id', name=op.f('uq_recommendation_settings_shop_id'))
    )
    with op.batch_alter_table('recommendation_settings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recommendation_settings_shop_id'), ['shop_id'], unique=False)

    op.create_table('customer_recommendations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('model_id', sa.Integer(), nullable=True),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('items', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_recommendations_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['model_id'], ['recommendation_models.id'], name=op.f('fk_customer_recommendations_model_id_recommendation_models'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_customer_recommendations_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_recommendations')),
    sa.UniqueConstraint('shop_id', 'customer_id', name=op.f('uq_customer_recommendations_shop_id_customer_id'))
    )
    with op.batch_alter_table('customer_recommendations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_recommendations_model_id'), ['model_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_customer_recommendations_shop_id'), ['shop_id'], unique=False)

    op.create_table('reorder_predictions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('last_purchased_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('cycle_days', sa.Double(), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('purchases', sa.Integer(), nullable=False),
    sa.Column('subscribed', sa.Boolean(), nullable=False),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_reorder_predictions_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_reorder_predictions_product_id_products'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_reorder_predictions_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reorder_predictions')),
    sa.UniqueConstraint('shop_id', 'customer_id', 'product_id', name=op.f('uq_reorder_predictions_shop_id_customer_id_product_id'))
    )
    with op.batch_alter_table('reorder_predictions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reorder_predictions_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_reorder_predictions_shop_id'), ['shop_id'], unique=False)
        batch_op.create_index('ix_reorder_predictions_shop_id_due_at', ['shop_id', 'due_at'], unique=False)



def downgrade():
    with op.batch_alter_table('reorder_predictions', schema=None) as batch_op:
        batch_op.drop_index('ix_reorder_predictions_shop_id_due_at')
        batch_op.drop_index(batch_op.f('ix_reorder_predictions_shop_id'))
        batch_op.drop_index(batch_op.f('ix_reorder_predictions_customer_id'))

    op.drop_table('reorder_predictions')
    with op.batch_alter_table('customer_recommendations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_recommendations_shop_id'))
        batch_op.drop_index(batch_op.f('ix_customer_recommendations_model_id'))

    op.drop_table('customer_recommendations')
    with op.batch_alter_table('recommendation_settings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recommendation_settings_shop_id'))

    op.drop_table('recommendation_settings')
    with op.batch_alter_table('recommendation_models', schema=None) as batch_op:
        batch_op.drop_index('ix_recommendation_models_shop_id_trained_at')
        batch_op.drop_index(batch_op.f('ix_recommendation_models_shop_id'))

    op.drop_table('recommendation_models')
