"""call to action clicks: each click through /weiter/ and its dashboard counters

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 04:50:00.000000

Issue 22, item 3: `cta_clicks` holds each click on the call to action (personal data: it goes
with its response), `cta_click_counts` the dashboard's counters of them per day, source, content
version, bottleneck and placement (quiz.counters.cta_clicks, rebuilt by `rebuild-rollups`).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'cta_clicks',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('response_id', sa.Integer(), nullable=False),
        sa.Column('placement', sa.String(length=20), nullable=False),
        sa.Column('clicked_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['response_id'], ['responses.id'],
            name=op.f('fk_cta_clicks_response_id_responses'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_cta_clicks')),
    )
    op.create_index(op.f('ix_cta_clicks_response_id'), 'cta_clicks', ['response_id'])
    op.create_table(
        'cta_click_counts',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('utm_source', sa.String(length=100), nullable=False),
        sa.Column('utm_medium', sa.String(length=100), nullable=False),
        sa.Column('utm_campaign', sa.String(length=100), nullable=False),
        sa.Column('content_version', sa.String(length=40), nullable=False),
        sa.Column('is_demo', sa.Boolean(), nullable=False),
        sa.Column('quality', sa.SmallInteger(), nullable=False),
        sa.Column('bottleneck', sa.String(length=40), nullable=False),
        sa.Column('placement', sa.String(length=20), nullable=False),
        sa.Column('count', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            'day', 'utm_source', 'utm_medium', 'utm_campaign', 'content_version', 'is_demo',
            'quality', 'bottleneck', 'placement', name=op.f('pk_cta_click_counts'),
        ),
        sqlite_with_rowid=False,
    )


def downgrade():
    op.drop_table('cta_click_counts')
    op.drop_index(op.f('ix_cta_clicks_response_id'), table_name='cta_clicks')
    op.drop_table('cta_clicks')
