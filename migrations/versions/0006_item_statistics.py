"""item statistics: counters for questionnaire quality and norms, response quality flags

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 11:10:00.000000

Issue 14: per content version x demo flag x quality class, the sufficient statistics of the
coach's "Fragebogen-Qualität" page and the taker's norms (`item_stat_sums`,
`item_option_counts`, `score_histogram`, `duration_histogram`), and `responses.quality_flags`
(bit 1: the same option on every statement item; bit 2: under a third of the median time; NULL:
not judged and not counted). Existing finished responses are judged against the median of all
finishes of their content version and demo flag and counted here, so the figures are right
straight after the upgrade. A frozen copy of quiz.counters.item_stats_rebuild's queries.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

DIMENSIONS = ('schmerzgrenze', 'werte', 'preise', 'leadership', 'distanz', 'trennung', 'kapazitaet')
# The likert scale of content 2026.1 and the statements' N/A option of 2026.2.
STATEMENT_OPTIONS = (
    'nicht_zutreffend', 'teils', 'trifft_eher_nicht_zu', 'trifft_eher_zu', 'trifft_nicht_zu',
    'trifft_voll_zu',
)
STRAIGHT_LINING_MIN_ITEMS = 5
SPEEDER_MEDIAN_MIN_N = 30
FINE_STEP, FINE_UNTIL, COARSE_STEP, COARSE_UNTIL = 10, 3600, 600, 86400
KEY = [
    sa.Column('content_version', sa.String(length=40), nullable=False),
    sa.Column('is_demo', sa.Boolean(), nullable=False),
    sa.Column('quality', sa.SmallInteger(), nullable=False),
]


def _create(name, keys, value):
    """A counter table: the shared key, its own key columns, one BigInteger value."""
    key_columns = [sa.Column(c.name, c.type, nullable=False) for c in KEY]
    key_columns += [sa.Column(n, t, nullable=False) for n, t in keys]
    return op.create_table(
        name,
        *key_columns,
        sa.Column(value, sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(*[c.name for c in key_columns], name=op.f(f'pk_{name}')),
        sqlite_with_rowid=False,
    )


def upgrade():
    with op.batch_alter_table('responses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('quality_flags', sa.SmallInteger(), nullable=True))

    name = sa.String(length=40)
    sums = _create(
        'item_stat_sums', [('dimension', name), ('item_a', name), ('item_b', name)], 'total'
    )
    options = _create(
        'item_option_counts',
        [('dimension', name), ('question_id', name), ('option_id', name),
         ('points', sa.SmallInteger())],
        'count',
    )
    scores = _create('score_histogram', [('dimension', name), ('score', sa.SmallInteger())], 'count')
    durations = _create('duration_histogram', [('bucket', sa.Integer())], 'count')
    if op.get_bind().dialect.name == 'postgresql':
        # Every finish updates the same few hundred rows. With full pages each update is a new
        # tuple plus new index entries, and until autovacuum comes the upsert wades through the
        # dead versions (an item_stat_sums upsert went from 0.6 ms to 9 ms after 200 finishes).
        # Half-empty pages keep the updates HOT (pruned in place); the tables stay tiny anyway.
        for table in (sums, options, scores, durations):
            op.execute(
                f'ALTER TABLE {table.name} SET (fillfactor = 50, '
                'autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000)'
            )
    _fill(sums, options, scores, durations)


def _fill(sums, options, scores, durations):
    bind = op.get_bind()
    dialect = bind.dialect.name
    r = sa.table(
        'responses',
        sa.column('id', sa.Integer),
        sa.column('status', sa.String),
        sa.column('content_version', sa.String),
        sa.column('is_demo', sa.Boolean),
        sa.column('started_at', sa.DateTime(timezone=True)),
        sa.column('finished_at', sa.DateTime(timezone=True)),
        sa.column('quality_flags', sa.SmallInteger),
        *(sa.column(f'score_{d}', sa.Integer) for d in DIMENSIONS),
    )
    answers = sa.table(
        'answers',
        sa.column('response_id', sa.Integer),
        sa.column('question_id', sa.String),
        sa.column('option_id', sa.String),
        sa.column('dimension_id', sa.String),
        sa.column('points', sa.Integer),
    )
    R = r.c

    def epoch(column):
        if dialect == 'postgresql':
            return sa.cast(sa.func.floor(sa.func.extract('epoch', column)), sa.BigInteger)
        return sa.cast(sa.func.strftime('%s', column), sa.Integer)

    seconds = epoch(R.finished_at) - epoch(R.started_at)
    bucket = sa.case(
        (seconds < 0, 0),
        (seconds < FINE_UNTIL, seconds // FINE_STEP * FINE_STEP),
        (seconds < COARSE_UNTIL, seconds // COARSE_STEP * COARSE_STEP),
        else_=COARSE_UNTIL,
    )
    finished = [R.status == 'finished', R.finished_at.is_not(None)]

    # Judge: straight-lining from the answers, speeders against each group's median.
    a = answers.c
    straight = (
        sa.select(a.response_id)
        .where(a.option_id.in_(STATEMENT_OPTIONS))
        .group_by(a.response_id)
        .having(
            sa.func.count() >= STRAIGHT_LINING_MIN_ITEMS,
            sa.func.count(sa.func.distinct(a.option_id)) == 1,
        )
    )
    histograms = {}
    for version, is_demo, value, count in bind.execute(
        sa.select(R.content_version, R.is_demo, bucket, sa.func.count())
        .where(*finished)
        .group_by(R.content_version, R.is_demo, bucket)
    ):
        histograms.setdefault((version, bool(is_demo)), {})[int(value)] = int(count)
    for (version, is_demo), histogram in sorted(histograms.items()):
        n = sum(histogram.values())
        rank, seen, median = (n + 1) // 2, 0, None
        for value in sorted(histogram):
            seen += histogram[value]
            if seen >= rank:
                median = value
                break
        speeder = sa.literal(0)
        if median is not None and n >= SPEEDER_MEDIAN_MIN_N:
            speeder = sa.case((seconds * 3 < median, 2), else_=0)
        bind.execute(
            sa.update(r)
            .where(*finished, R.content_version == version, R.is_demo.is_(is_demo))
            .values(quality_flags=sa.case((R.id.in_(straight), 1), else_=0) + speeder)
        )

    # Count.
    counted = [*finished, R.quality_flags.is_not(None)]
    base = [R.content_version, R.is_demo, R.quality_flags]
    a1, a2 = answers.alias('a1'), answers.alias('a2')
    # (response, dimension) pairs with an N/A answer, left out by an anti-join.
    incomplete = (
        sa.select(a.response_id, a.dimension_id)
        .where(a.points.is_(None))
        .group_by(a.response_id, a.dimension_id)
        .subquery('incomplete')
    )
    complete = incomplete.c.response_id.is_(None)
    skip_incomplete = sa.and_(
        incomplete.c.response_id == a1.c.response_id,
        incomplete.c.dimension_id == a1.c.dimension_id,
    )
    first, second = a1.c.question_id, a2.c.question_id
    if dialect == 'postgresql':
        first, second = first.collate('C'), second.collate('C')
    with_response = a1.join(r, R.id == a1.c.response_id)
    complete_only = with_response.outerjoin(incomplete, skip_incomplete)
    both = (
        a1.join(
            a2,
            sa.and_(
                a2.c.response_id == a1.c.response_id,
                a2.c.dimension_id == a1.c.dimension_id,
                first <= second,
            ),
        )
        .join(r, R.id == a1.c.response_id)
        .outerjoin(incomplete, skip_incomplete)
    )
    keys = [*base, a1.c.dimension_id]
    blank = sa.literal('')
    points = sa.func.coalesce(a1.c.points, -1)
    work = {
        sums: [
            sa.select(*keys, blank, blank, sa.func.count(sa.func.distinct(a1.c.response_id)))
            .select_from(complete_only).where(*counted, complete).group_by(*keys),
            sa.select(*keys, a1.c.question_id, blank, sa.func.sum(a1.c.points))
            .select_from(complete_only).where(*counted, complete)
            .group_by(*keys, a1.c.question_id),
            sa.select(*keys, a1.c.question_id, a2.c.question_id, sa.func.sum(a1.c.points * a2.c.points))
            .select_from(both).where(*counted, complete)
            .group_by(*keys, a1.c.question_id, a2.c.question_id),
        ],
        options: [
            sa.select(*keys, a1.c.question_id, a1.c.option_id, points, sa.func.count())
            .select_from(with_response).where(*counted)
            .group_by(*keys, a1.c.question_id, a1.c.option_id, points)
        ],
        scores: [
            sa.select(*base, sa.literal(d), R[f'score_{d}'], sa.func.count())
            .where(*counted, R[f'score_{d}'].is_not(None))
            .group_by(*base, R[f'score_{d}'])
            for d in DIMENSIONS
        ],
        durations: [sa.select(*base, bucket, sa.func.count()).where(*counted).group_by(*base, bucket)],
    }
    for table, selects in work.items():
        for query in selects:
            bind.execute(sa.insert(table).from_select([c.name for c in table.columns], query))


def downgrade():
    for name in ('duration_histogram', 'score_histogram', 'item_option_counts', 'item_stat_sums'):
        op.drop_table(name)
    # Not a batch operation: on SQLite that copies `responses` and drops the old table, and with
    # foreign keys on the drop would cascade to every answer, consent and email. SQLite 3.35+
    # drops a plain column in place.
    op.execute('ALTER TABLE responses DROP COLUMN quality_flags')
