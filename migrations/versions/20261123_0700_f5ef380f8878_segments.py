"""segments: saved segments, survey answers, 9-segment profiles and moves

Revision ID: f5ef380f8878
Revises: 69d3c370e0e4
Create Date: 2026-11-23 07:00:13.708534

"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = "f5ef380f8878"
down_revision = "69d3c370e0e4"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "segments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=False),
        sa.Column(
            "definition", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("last_count", sa.Integer(), nullable=True),
        sa.Column("last_counted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_segments_shop_id_shops"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segments")),
    )
    with op.batch_alter_table("segments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_segments_shop_id"), ["shop_id"], unique=False)

    op.create_table(
        "nine_segment_moves",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("line_user_id", sa.Integer(), nullable=False),
        sa.Column("from_cell", sa.String(length=32), nullable=True),
        sa.Column("to_cell", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("moved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["line_user_id"],
            ["line_users.id"],
            name=op.f("fk_nine_segment_moves_line_user_id_line_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
            name=op.f("fk_nine_segment_moves_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nine_segment_moves")),
    )
    with op.batch_alter_table("nine_segment_moves", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_nine_segment_moves_line_user_id"), ["line_user_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_nine_segment_moves_shop_id"), ["shop_id"], unique=False
        )
        batch_op.create_index(
            "ix_nine_segment_moves_shop_id_moved_at", ["shop_id", "moved_at"], unique=False
        )

    op.create_table(
        "nine_segment_profiles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("line_user_id", sa.Integer(), nullable=False),
        sa.Column("aware", sa.Boolean(), nullable=True),
        sa.Column("purchase", sa.String(length=16), nullable=True),
        sa.Column("purchase_source", sa.String(length=16), nullable=True),
        sa.Column("intent", sa.Boolean(), nullable=True),
        sa.Column("cell", sa.String(length=32), nullable=True),
        sa.Column("pending_question", sa.String(length=16), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["line_user_id"],
            ["line_users.id"],
            name=op.f("fk_nine_segment_profiles_line_user_id_line_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
            name=op.f("fk_nine_segment_profiles_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nine_segment_profiles")),
        sa.UniqueConstraint(
            "shop_id", "line_user_id", name=op.f("uq_nine_segment_profiles_shop_id_line_user_id")
        ),
    )
    with op.batch_alter_table("nine_segment_profiles", schema=None) as batch_op:
        batch_op.create_index("ix_nine_segment_profiles_cell", ["shop_id", "cell"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_nine_segment_profiles_shop_id"), ["shop_id"], unique=False
        )

    op.create_table(
        "survey_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("line_user_id", sa.Integer(), nullable=False),
        sa.Column("survey", sa.String(length=32), nullable=False),
        sa.Column("question", sa.String(length=32), nullable=False),
        sa.Column("answer", sa.String(length=64), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["line_user_id"],
            ["line_users.id"],
            name=op.f("fk_survey_answers_line_user_id_line_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
            name=op.f("fk_survey_answers_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_answers")),
        sa.UniqueConstraint(
            "shop_id",
            "line_user_id",
            "survey",
            "question",
            name=op.f("uq_survey_answers_shop_id_line_user_id_survey_question"),
        ),
    )
    with op.batch_alter_table("survey_answers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_survey_answers_lookup", ["shop_id", "survey", "question", "answer"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_survey_answers_shop_id"), ["shop_id"], unique=False)


def downgrade():
    op.drop_table("survey_answers")
    with op.batch_alter_table("scenario_steps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scenario_steps_shop_id"))

    op.drop_table("nine_segment_profiles")
    with op.batch_alter_table("nine_segment_moves", schema=None) as batch_op:
        batch_op.drop_index("ix_nine_segment_moves_shop_id_moved_at")
        batch_op.drop_index(batch_op.f("ix_nine_segment_moves_shop_id"))
        batch_op.drop_index(batch_op.f("ix_nine_segment_moves_line_user_id"))

    op.drop_table("nine_segment_moves")
    with op.batch_alter_table("enrollments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_enrollments_shop_id"))
        batch_op.drop_index("ix_enrollments_scenario_id_status")
        batch_op.drop_index(batch_op.f("ix_enrollments_line_user_id"))
        batch_op.drop_index(batch_op.f("ix_enrollments_customer_id"))

    op.drop_table("segments")
