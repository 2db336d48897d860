"""answers.points nullable: a not-applicable answer counts no points

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 11:50:00.000000

Content 2026.2 lets some questions be answered "trifft nicht zu" (`Choice.applicable` false): the
answer is stored, with NULL points, and every sum over points leaves it out.

On SQLite a column's nullability can only change by copying the table (a batch operation). That is
safe for `answers` (unlike `responses`, see 0006): no table references it, so dropping the old copy
cascades to nothing. The copy keeps the foreign key to `responses` (ON DELETE CASCADE), the unique
constraint and both indexes.

Downgrading gives not-applicable answers 0 points: the older code knows no other value.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('answers', schema=None) as batch_op:
        batch_op.alter_column('points', existing_type=sa.Integer(), nullable=True)


def downgrade():
    op.execute('UPDATE answers SET points = 0 WHERE points IS NULL')
    with op.batch_alter_table('answers', schema=None) as batch_op:
        batch_op.alter_column('points', existing_type=sa.Integer(), nullable=False)
