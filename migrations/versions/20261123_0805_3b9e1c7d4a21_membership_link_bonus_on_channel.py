"""membership: the link bonus lives on the LINE channel (link_incentive_points)

Revision ID: 3b9e1c7d4a21
Revises: 677b95bd9d22
Create Date: 2026-11-23 08:05:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "3b9e1c7d4a21"
down_revision = "677b95bd9d22"
branch_labels = None
depends_on = None


def upgrade():
    # The linking feature grants the once-ever link incentive from the channel's setting;
    # a second number here could only disagree with it.
    with op.batch_alter_table("membership_settings", schema=None) as batch_op:
        batch_op.drop_constraint(
            op.f("ck_membership_settings_link_bonus_not_negative"), type_="check"
        )
        batch_op.drop_column("link_bonus_points")


def downgrade():
    with op.batch_alter_table("membership_settings", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("link_bonus_points", sa.Integer(), nullable=False, server_default="100")
        )
        batch_op.create_check_constraint(
            op.f("ck_membership_settings_link_bonus_not_negative"), "link_bonus_points >= 0"
        )
