"""mail sender pause state, outbox details

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 10:40:00.000000

Connection-level SMTP failures (refused, timeout, TLS, login) no longer charge every queued
message an attempt: the sender as a whole pauses with a growing back-off, kept in `mail_sender`
(one row) so every sender process and machine shares it and the coach dashboard can show it.
`outbox.details` carries what a message without a response needs (a coach alert's lock time).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'mail_sender',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('paused_since', sa.DateTime(timezone=True), nullable=True),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('reason', sa.String(length=20), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_mail_sender')),
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('details', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('details')
    op.drop_table('mail_sender')
