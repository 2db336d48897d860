"""result reports: the PDF of each finished response, rendered once and kept for every worker

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 11:40:00.000000

Issue 16: `result_reports` holds one row per response whose PDF report was asked for: the
response's `updated_at` it was rendered (or is being rendered) for, the claim of a render in
progress, a failed render's time, and the PDF. It goes with its response (ON DELETE CASCADE;
SQLite enforces it through `PRAGMA foreign_keys=ON`, set on every connection by quiz.database).
`quiz.taker.report` (now `quiz.taker.pdf`) is its only writer.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'result_reports',
        sa.Column('response_id', sa.Integer(), nullable=False),
        sa.Column('response_updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('failed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('rendered_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('render_ms', sa.Integer(), nullable=True),
        sa.Column('pdf', sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(
            ['response_id'], ['responses.id'],
            name=op.f('fk_result_reports_response_id_responses'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('response_id', name=op.f('pk_result_reports')),
    )


def downgrade():
    op.drop_table('result_reports')
