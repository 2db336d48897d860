"""leads the coach can work: a status with its history, free notes and tags per lead

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 05:00:00.000000

Issue 24: `lead_records` holds one row per lead the coach has touched (status, notes), `lead_tags`
its tags (a row each, so the leads list filters by tag in SQL), `lead_status_changes` every status
change with its time. All three belong to the response and go with it (ON DELETE CASCADE);
`quiz.coach.lead_records` is their only writer.
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "lead_records",
        sa.Column("response_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["response_id"],
            ["responses.id"],
            name=op.f("fk_lead_records_response_id_responses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("response_id", name=op.f("pk_lead_records")),
    )
    op.create_index(op.f("ix_lead_records_status"), "lead_records", ["status"])
    op.create_table(
        "lead_tags",
        sa.Column("response_id", sa.Integer(), nullable=False),
        sa.Column("tag", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["response_id"],
            ["responses.id"],
            name=op.f("fk_lead_tags_response_id_responses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("response_id", "tag", name=op.f("pk_lead_tags")),
    )
    op.create_index(op.f("ix_lead_tags_tag"), "lead_tags", ["tag"])
    op.create_table(
        "lead_status_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("response_id", sa.Integer(), nullable=False),
        sa.Column("old_status", sa.String(length=20), nullable=False),
        sa.Column("new_status", sa.String(length=20), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["response_id"],
            ["responses.id"],
            name=op.f("fk_lead_status_changes_response_id_responses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lead_status_changes")),
    )
    op.create_index(
        op.f("ix_lead_status_changes_response_id"), "lead_status_changes", ["response_id"]
    )


def downgrade():
    op.drop_index(op.f("ix_lead_status_changes_response_id"), table_name="lead_status_changes")
    op.drop_table("lead_status_changes")
    op.drop_index(op.f("ix_lead_tags_tag"), table_name="lead_tags")
    op.drop_table("lead_tags")
    op.drop_index(op.f("ix_lead_records_status"), table_name="lead_records")
    op.drop_table("lead_records")
