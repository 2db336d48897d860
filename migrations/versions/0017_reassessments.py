"""responses.previous_response_id: a re-assessment names the earlier response it follows

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 13:10:00.000000

Issue 24, item 2: a taker can take the quiz again; the new response names the earlier one, so
its result shows before and after, and the norms and item statistics leave it out (one person
would count twice). A taker's deletion removes the whole chain (quiz.taker.rights, which takes
back every counter first); ON DELETE CASCADE is the database's guarantee that no later link of
a chain outlives an earlier one whatever deletes it.
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_FK = "fk_responses_previous_response_id_responses"


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        columns = {c["name"] for c in sa.inspect(bind).get_columns("responses")}
        if "previous_response_id" in columns:
            # Kept by a downgrade on SQLite (see there): empty, and ready as it is.
            op.create_index(
                op.f("ix_responses_previous_response_id"), "responses", ["previous_response_id"]
            )
            return
        # SQLite adds a column with an inline REFERENCES in place (no batch copy of
        # `responses`, whose drop would cascade to every answer, consent and email).
        op.execute(
            "ALTER TABLE responses ADD COLUMN previous_response_id INTEGER "
            f"CONSTRAINT {_FK} REFERENCES responses (id) ON DELETE CASCADE"
        )
    else:
        op.add_column("responses", sa.Column("previous_response_id", sa.Integer(), nullable=True))
        op.create_foreign_key(
            _FK, "responses", "responses", ["previous_response_id"], ["id"], ondelete="CASCADE"
        )
    op.create_index(
        op.f("ix_responses_previous_response_id"), "responses", ["previous_response_id"]
    )


def downgrade():
    # The dashboard's count of re-assessments goes with the column that told them apart.
    op.execute("DELETE FROM coach_rollups WHERE metric = 'reassess'")
    op.drop_index(op.f("ix_responses_previous_response_id"), table_name="responses")
    if op.get_bind().dialect.name == "sqlite":
        # SQLite drops no column that is part of a foreign key, and a batch copy of `responses`
        # would cascade to every answer, consent and email. So the column stays, emptied: the
        # code below 0017 never names it, and an upgrade finds it and keeps it.
        op.execute("UPDATE responses SET previous_response_id = NULL")
        return
    op.drop_constraint(_FK, "responses", type_="foreignkey")
    op.drop_column("responses", "previous_response_id")
