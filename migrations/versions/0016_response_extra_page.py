"""responses.extra_page: where the taker stands with the extra page of questions

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 04:50:00.000000

Issue 23: when the core answers leave the weakest dimensions close, the quiz asks one extra page
of questions before the contact step. Only some takers get it, so the funnel counts it apart from
the steps: 0 no extra page is due, 1 it is due and not yet answered, 2 it is answered. Kept by
quiz.taker.responses from the answers; the rollups count it (metric "extra", bucket = the state).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    # ADD COLUMN in place on both databases (no batch copy of `responses`).
    op.add_column(
        'responses',
        sa.Column('extra_page', sa.SmallInteger(), server_default='0', nullable=False),
    )


def downgrade():
    # Not a batch operation: on SQLite that copies `responses` and drops the old table, and with
    # foreign keys on the drop would cascade to every answer, consent and email (as in 0006).
    # SQLite 3.35+ drops a plain column in place. The funnel's counters of the extra page go
    # with it: what they counted is no longer stored (an upgrade starts them again at 0).
    op.execute("DELETE FROM coach_rollups WHERE metric = 'extra'")
    op.drop_column('responses', 'extra_page')
