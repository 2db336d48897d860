"""coach rollups: a quality key, so every dashboard figure can leave flagged responses out

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 13:40:00.000000

Issue 14: the dashboard's counters are now kept per response quality class as well: `quality` is
the response's `quality_flags` (bit 1 straight-lining, bit 2 speeder; 0 for drafts and responses
never judged), part of the primary key after the existing columns. Every existing counter is of
quality 0. When some judged response is flagged, the table is recounted here from the raw rows
(a frozen copy of quiz.counters.rollup_rebuild's queries), so the figures are right straight after
the upgrade; otherwise the existing counters already are.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

KEY = ['period', 'day', 'campaign', 'content_version', 'is_demo', 'metric', 'dimension', 'bucket']
DIMENSIONS = ('schmerzgrenze', 'werte', 'preise', 'leadership', 'distanz', 'trennung', 'kapazitaet')
FINE_STEP, FINE_UNTIL, COARSE_STEP, COARSE_UNTIL = 10, 3600, 600, 86400
SCORE_BUCKETS = 10


def upgrade():
    with op.batch_alter_table(
        'coach_rollups', schema=None, table_kwargs={'sqlite_with_rowid': False}
    ) as batch_op:
        batch_op.add_column(
            sa.Column('quality', sa.SmallInteger(), nullable=False, server_default='0')
        )
        batch_op.drop_constraint('pk_coach_rollups', type_='primary')
        batch_op.create_primary_key('pk_coach_rollups', [*KEY, 'quality'])
    with op.batch_alter_table(
        'coach_rollups', schema=None, table_kwargs={'sqlite_with_rowid': False}
    ) as batch_op:
        batch_op.alter_column('quality', existing_type=sa.SmallInteger(), server_default=None)
    flagged = op.get_bind().execute(
        sa.text('SELECT 1 FROM responses WHERE quality_flags <> 0 LIMIT 1')
    ).first()
    if flagged is not None:
        _recount()


def _recount():
    """Every counter again, from the raw rows, with its quality class."""
    bind = op.get_bind()
    dialect = bind.dialect.name
    r = sa.table(
        'responses',
        sa.column('id', sa.Integer),
        sa.column('status', sa.String),
        sa.column('content_version', sa.String),
        sa.column('is_demo', sa.Boolean),
        sa.column('utm_campaign', sa.String),
        sa.column('started_at', sa.DateTime(timezone=True)),
        sa.column('finished_at', sa.DateTime(timezone=True)),
        sa.column('steps_completed', sa.Integer),
        sa.column('bottleneck', sa.String),
        sa.column('quality_flags', sa.SmallInteger),
        *(sa.column(f'score_{d}', sa.Integer) for d in DIMENSIONS),
    )
    consents = sa.table(
        'consents',
        sa.column('response_id', sa.Integer),
        sa.column('kind', sa.String),
        sa.column('confirmed_at', sa.DateTime(timezone=True)),
        sa.column('withdrawn_at', sa.DateTime(timezone=True)),
    )
    outbox = sa.table('outbox', sa.column('response_id', sa.Integer), sa.column('status', sa.String))
    rollups = sa.table(
        'coach_rollups',
        *(sa.column(name) for name in [*KEY, 'quality', 'count', 'total']),
    )
    R = r.c

    def day(column):
        if dialect == 'postgresql':
            return sa.cast(sa.func.timezone('UTC', column), sa.Date)
        return sa.func.date(column)

    def epoch(column):
        if dialect == 'postgresql':
            return sa.cast(sa.func.floor(sa.func.extract('epoch', column)), sa.BigInteger)
        return sa.cast(sa.func.strftime('%s', sa.func.substr(column, 1, 19)), sa.Integer)

    seconds = epoch(R.finished_at) - epoch(R.started_at)
    duration_bucket = sa.case(
        (seconds < 0, 0),
        (seconds < FINE_UNTIL, seconds // FINE_STEP * FINE_STEP),
        (seconds < COARSE_UNTIL, seconds // COARSE_STEP * COARSE_STEP),
        else_=COARSE_UNTIL,
    )
    campaign = sa.func.coalesce(R.utm_campaign, '')
    quality = sa.func.coalesce(R.quality_flags, 0)
    finished = [R.status == 'finished', R.finished_at.is_not(None)]
    start_day, finish_day = day(R.started_at), day(R.finished_at)
    c = consents.c
    marketing = sa.exists().where(
        c.response_id == R.id,
        c.kind == 'marketing',
        c.confirmed_at.is_not(None),
        c.withdrawn_at.is_(None),
    )
    zero, blank = sa.literal(0), sa.literal('')
    columns = [*KEY, 'quality', 'count', 'total']

    def count(when, metric, dimension, bucket, total, conditions, source=None):
        keys = [when, campaign, R.content_version, R.is_demo, dimension, bucket, quality]
        query = (
            sa.select(
                sa.literal('day'), when, campaign, R.content_version, R.is_demo,
                sa.literal(metric), dimension, bucket, quality,
                sa.func.count(), sa.func.coalesce(sa.func.sum(total), 0),
            )
            .select_from(source if source is not None else r)
            .where(*conditions)
            .group_by(*keys)
        )
        bind.execute(sa.insert(rollups).from_select(columns, query))

    bind.execute(sa.delete(rollups))
    count(start_day, 'start', blank, zero, zero, [])
    count(start_day, 'reached', blank, R.steps_completed, zero, [])
    count(finish_day, 'finish', blank, zero, seconds, finished)
    count(finish_day, 'duration', blank, duration_bucket, seconds, finished)
    for dimension in DIMENSIONS:
        score = R[f'score_{dimension}']
        bucket = sa.case((score >= (SCORE_BUCKETS - 1) * 10, SCORE_BUCKETS - 1), else_=score // 10)
        count(finish_day, 'score', sa.literal(dimension), bucket, score,
              [*finished, score.is_not(None)])
    count(finish_day, 'bottleneck', R.bottleneck, zero, zero, [*finished, R.bottleneck.is_not(None)])
    count(finish_day, 'marketing', blank, zero, zero, [*finished, marketing])
    emails = outbox.join(r, R.id == outbox.c.response_id)
    count(finish_day, 'email', outbox.c.status, zero, zero, finished, emails)

    t = rollups.c
    if dialect == 'postgresql':
        month = sa.cast(sa.func.date_trunc('month', t.day), sa.Date)
    else:
        month = sa.func.date(t.day, 'start of month')
    keys = [month, t.campaign, t.content_version, t.is_demo, t.metric, t.dimension, t.bucket, t.quality]
    bind.execute(
        sa.insert(rollups).from_select(
            columns,
            sa.select(sa.literal('month'), *keys, sa.func.sum(t.count), sa.func.sum(t.total))
            .where(t.period == 'day')
            .group_by(*keys),
        )
    )
    if dialect == 'postgresql':
        # Half a million rows replaced: fresh statistics for the dashboard's plans (the dead
        # versions are autovacuum's; VACUUM cannot run in the migration's transaction).
        op.execute('ANALYZE coach_rollups')


def downgrade():
    """Every quality class's counters summed into the one row each key had before."""
    columns = ', '.join([*KEY, 'count', 'total'])
    key = ', '.join(KEY)
    op.execute(
        f"""
        CREATE TABLE coach_rollups_merged AS
        SELECT {key}, sum(count) AS count, sum(total) AS total
        FROM coach_rollups GROUP BY {key}
        """
    )
    op.execute('DELETE FROM coach_rollups')
    with op.batch_alter_table(
        'coach_rollups', schema=None, table_kwargs={'sqlite_with_rowid': False}
    ) as batch_op:
        batch_op.drop_constraint('pk_coach_rollups', type_='primary')
        batch_op.create_primary_key('pk_coach_rollups', KEY)
        batch_op.drop_column('quality')
    op.execute(f'INSERT INTO coach_rollups ({columns}) SELECT {columns} FROM coach_rollups_merged')
    op.drop_table('coach_rollups_merged')
