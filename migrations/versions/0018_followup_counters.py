"""followup_counts: the follow-up series' figures on the coach dashboard

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 13:00:00.000000

Issue 24, item 4: per follow-up email and day, how many were sent, how many takers clicked
its call to action (once each) and how many unsubscribed with it the last one sent. Kept by
quiz.counters.followups in the transactions of those events, rebuilt by `rebuild-rollups`: run
it once after the upgrade to count the follow-ups sent before it (the table starts empty).
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'followup_counts',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('campaign', sa.String(length=100), nullable=False),
        sa.Column('content_version', sa.String(length=40), nullable=False),
        sa.Column('is_demo', sa.Boolean(), nullable=False),
        sa.Column('quality', sa.SmallInteger(), nullable=False),
        sa.Column('number', sa.SmallInteger(), nullable=False),
        sa.Column('metric', sa.String(length=12), nullable=False),
        sa.Column('count', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            'day',
            'campaign',
            'content_version',
            'is_demo',
            'quality',
            'number',
            'metric',
            name=op.f('pk_followup_counts'),
        ),
        sqlite_with_rowid=False,
    )


def downgrade():
    op.drop_table('followup_counts')
