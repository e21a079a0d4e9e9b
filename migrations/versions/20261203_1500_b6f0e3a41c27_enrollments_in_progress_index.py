"""campaigns: the enrollments index also holds the subject (scenario, state, subject)

"Is this person already in progress in this scenario?" is answered from the index alone, for
one person and for a whole audience at once. The old (scenario, state) index is its prefix, so
it goes. On a large shop build the new index with CREATE INDEX CONCURRENTLY by hand first, and
this migration then finds it there.

Revision ID: b6f0e3a41c27
Revises: 5d2c8e41a7b9
Create Date: 2026-12-03 15:00:00.000000

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = "b6f0e3a41c27"
down_revision = "5d2c8e41a7b9"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        "ix_scenario_enrollments_scenario_id_state_subject",
        "scenario_enrollments",
        ["scenario_id", "state", "subject"],
        unique=False,
        if_not_exists=True,
    )
    op.drop_index("ix_scenario_enrollments_scenario_id_state", table_name="scenario_enrollments")


def downgrade():
    op.create_index(
        "ix_scenario_enrollments_scenario_id_state",
        "scenario_enrollments",
        ["scenario_id", "state"],
        unique=False,
    )
    op.drop_index(
        "ix_scenario_enrollments_scenario_id_state_subject", table_name="scenario_enrollments"
    )
