"""site settings: brand, contact, call to action and the rest, edited without a restart

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 03:10:00.000000

Issue 22: the site's settings live in the database. `site_settings` holds each key the coach
changed from its default, `site_setting_changes` who changed what when, `site_assets` the logo
(re-encoded, named by its hash), and `site_state` one row with the settings' version, which every
request reads to know whether its worker's copy is current. The first start fills them from the
environment (quiz.site.settings); `quiz.site.settings` is their only writer.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'site_settings',
        sa.Column('key', sa.String(length=80), nullable=False),
        sa.Column('value', sa.Text(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_site_settings')),
    )
    op.create_table(
        'site_setting_changes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=80), nullable=False),
        sa.Column('old_value', sa.Text(), nullable=True),
        sa.Column('new_value', sa.Text(), nullable=True),
        sa.Column('changed_by', sa.String(length=300), nullable=False),
        sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_site_setting_changes')),
    )
    op.create_index(
        op.f('ix_site_setting_changes_key'), 'site_setting_changes', ['key'], unique=False
    )
    op.create_index(
        op.f('ix_site_setting_changes_changed_at'), 'site_setting_changes', ['changed_at'],
        unique=False,
    )
    op.create_table(
        'site_assets',
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('content_type', sa.String(length=40), nullable=False),
        sa.Column('width', sa.Integer(), nullable=False),
        sa.Column('height', sa.Integer(), nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('sha256', name=op.f('pk_site_assets')),
    )
    op.create_table(
        'site_state',
        sa.Column('id', sa.SmallInteger(), nullable=False),
        sa.Column('settings_version', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_site_state')),
    )


def downgrade():
    op.drop_table('site_state')
    op.drop_table('site_assets')
    op.drop_index(op.f('ix_site_setting_changes_changed_at'), table_name='site_setting_changes')
    op.drop_index(op.f('ix_site_setting_changes_key'), table_name='site_setting_changes')
    op.drop_table('site_setting_changes')
    op.drop_table('site_settings')
