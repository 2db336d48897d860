"""coach rollups: a month level, and counters for confirmed consents and email states

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 18:40:00.000000

The dashboard counted confirmed marketing consents and email states live, by joining `consents`
and `outbox` to a million responses, and grouped ~460k daily rollup rows for a year's view.
Now both are rollup counters (metrics `marketing` and `email`), and every counter is kept per
day and per month (`period`). Existing rows become the day level; the new counters and the month
level are filled here from the raw rows, so the dashboard is right straight after the upgrade.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

KEY = ['period', 'day', 'campaign', 'content_version', 'is_demo', 'metric', 'dimension', 'bucket']
COLUMNS = ', '.join([*KEY, 'count', 'total'])


def _sql_dialect():
    return op.get_bind().dialect.name


def upgrade():
    with op.batch_alter_table(
        'coach_rollups', schema=None, table_kwargs={'sqlite_with_rowid': False}
    ) as batch_op:
        batch_op.add_column(
            sa.Column('period', sa.String(length=5), nullable=False, server_default='day')
        )
        batch_op.drop_index('ix_coach_rollups_metric_day')
        batch_op.drop_constraint('pk_coach_rollups', type_='primary')
        batch_op.create_primary_key('pk_coach_rollups', KEY)
    with op.batch_alter_table(
        'coach_rollups', schema=None, table_kwargs={'sqlite_with_rowid': False}
    ) as batch_op:
        batch_op.alter_column('period', existing_type=sa.String(length=5), server_default=None)
        batch_op.create_index(
            'ix_coach_rollups_metric_period_day', ['metric', 'period', 'day'], unique=False
        )

    if _sql_dialect() == 'postgresql':
        finish_day = "(r.finished_at AT TIME ZONE 'UTC')::date"
        month = "date_trunc('month', day)::date"
    else:
        finish_day = 'date(r.finished_at)'
        month = "date(day, 'start of month')"
    finished = "r.status = 'finished' AND r.finished_at IS NOT NULL"
    op.execute(
        f"""
        INSERT INTO coach_rollups ({COLUMNS})
        SELECT 'day', {finish_day}, COALESCE(r.utm_campaign, ''), r.content_version, r.is_demo,
               'marketing', '', 0, count(*), 0
        FROM responses r
        WHERE {finished} AND EXISTS (
            SELECT 1 FROM consents c
            WHERE c.response_id = r.id AND c.kind = 'marketing'
              AND c.confirmed_at IS NOT NULL AND c.withdrawn_at IS NULL)
        GROUP BY 2, 3, 4, 5
        """
    )
    op.execute(
        f"""
        INSERT INTO coach_rollups ({COLUMNS})
        SELECT 'day', {finish_day}, COALESCE(r.utm_campaign, ''), r.content_version, r.is_demo,
               'email', o.status, 0, count(*), 0
        FROM outbox o JOIN responses r ON r.id = o.response_id
        WHERE {finished}
        GROUP BY 2, 3, 4, 5, 7
        """
    )
    op.execute(
        f"""
        INSERT INTO coach_rollups ({COLUMNS})
        SELECT 'month', {month}, campaign, content_version, is_demo, metric, dimension, bucket,
               sum(count), sum(total)
        FROM coach_rollups
        WHERE period = 'day'
        GROUP BY 2, 3, 4, 5, 6, 7, 8
        """
    )


def downgrade():
    op.execute(
        "DELETE FROM coach_rollups WHERE period <> 'day' OR metric IN ('marketing', 'email')"
    )
    with op.batch_alter_table('coach_rollups', schema=None) as batch_op:
        batch_op.drop_index('ix_coach_rollups_metric_period_day')
        batch_op.drop_constraint('pk_coach_rollups', type_='primary')
        batch_op.create_primary_key('pk_coach_rollups', KEY[1:])
        batch_op.drop_column('period')
        batch_op.create_index('ix_coach_rollups_metric_day', ['metric', 'day'], unique=False)
