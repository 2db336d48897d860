"""visits and A/B tests: funnel counters per source, experiments, who saw which variant

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 04:30:00.000000

Issue 25. `funnel_counters` counts landing-page visits (only counted, never stored one by one),
starts, finishes and confirmed opt-ins per day and traffic source; `responses.referrer_host` keeps
the normalised host of the referrer, which anonymising leaves (it is statistics); the
`experiments`, their `experiment_variants` and `experiment_events`, each response's
`response_variants` and the `experiment_counts` per variant hold the A/B tests. Existing
responses get their referrer host here and are counted into the funnel (a frozen copy of
quiz.counters.funnel_rebuild's reading and quiz.domain.traffic's host rule).
"""
from collections import Counter
from urllib.parse import urlsplit

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def _host(referrer):
    try:
        host = urlsplit(referrer.strip()).hostname or ''
    except ValueError:
        return ''
    host = host.strip('.').lower()
    return host[4:] if host.startswith('www.') else host


def upgrade():
    # In place (no batch copy of `responses`, whose drop would cascade on SQLite; see 0006).
    op.add_column(
        'responses',
        sa.Column(
            'referrer_host', sa.String(length=253), nullable=True, server_default=sa.text('NULL')
        ),
    )
    op.create_table(
        'funnel_counters',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('source', sa.String(length=100), nullable=False),
        sa.Column('medium', sa.String(length=100), nullable=False),
        sa.Column('campaign', sa.String(length=100), nullable=False),
        sa.Column('referrer_host', sa.String(length=253), nullable=False),
        sa.Column('content_version', sa.String(length=40), nullable=False),
        sa.Column('is_demo', sa.Boolean(), nullable=False),
        sa.Column('quality', sa.SmallInteger(), nullable=False),
        sa.Column('metric', sa.String(length=8), nullable=False),
        sa.Column('count', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            'day', 'source', 'medium', 'campaign', 'referrer_host', 'content_version', 'is_demo',
            'quality', 'metric', name=op.f('pk_funnel_counters'),
        ),
        sqlite_with_rowid=False,
    )
    op.create_table(
        'experiments',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('element', sa.String(length=20), nullable=False),
        sa.Column('metric', sa.String(length=10), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('loss_threshold_pp', sa.Float(), nullable=False),
        sa.Column('winner', sa.SmallInteger(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_experiments')),
    )
    op.create_index(
        'uq_experiments_active_element', 'experiments', ['element'], unique=True,
        sqlite_where=sa.text("status IN ('running', 'paused')"),
        postgresql_where=sa.text("status IN ('running', 'paused')"),
    )
    op.create_table(
        'experiment_variants',
        sa.Column('experiment_id', sa.Integer(), nullable=False),
        sa.Column('position', sa.SmallInteger(), nullable=False),
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('label', sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ['experiment_id'], ['experiments.id'],
            name=op.f('fk_experiment_variants_experiment_id_experiments'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('experiment_id', 'position', name=op.f('pk_experiment_variants')),
    )
    op.create_table(
        'experiment_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('experiment_id', sa.Integer(), nullable=False),
        sa.Column('action', sa.String(length=20), nullable=False),
        sa.Column('detail', sa.String(length=200), nullable=True),
        sa.Column('changed_by', sa.String(length=300), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['experiment_id'], ['experiments.id'],
            name=op.f('fk_experiment_events_experiment_id_experiments'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_experiment_events')),
    )
    op.create_index(
        op.f('ix_experiment_events_experiment_id'), 'experiment_events', ['experiment_id'],
        unique=False,
    )
    op.create_table(
        'response_variants',
        sa.Column('response_id', sa.Integer(), nullable=False),
        sa.Column('experiment_id', sa.Integer(), nullable=False),
        sa.Column('position', sa.SmallInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ['response_id'], ['responses.id'],
            name=op.f('fk_response_variants_response_id_responses'), ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['experiment_id'], ['experiments.id'],
            name=op.f('fk_response_variants_experiment_id_experiments'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint(
            'response_id', 'experiment_id', name=op.f('pk_response_variants')
        ),
    )
    op.create_index(
        op.f('ix_response_variants_experiment_id'), 'response_variants', ['experiment_id'],
        unique=False,
    )
    op.create_table(
        'experiment_counts',
        sa.Column('experiment_id', sa.Integer(), nullable=False),
        sa.Column('position', sa.SmallInteger(), nullable=False),
        sa.Column('metric', sa.String(length=8), nullable=False),
        sa.Column('count', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ['experiment_id'], ['experiments.id'],
            name=op.f('fk_experiment_counts_experiment_id_experiments'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint(
            'experiment_id', 'position', 'metric', name=op.f('pk_experiment_counts')
        ),
    )
    _backfill()


def _backfill():
    """Referrer hosts of the existing responses, and their funnel counters."""
    bind = op.get_bind()
    rows = bind.execute(
        sa.text("SELECT id, referrer FROM responses WHERE referrer IS NOT NULL")
    ).all()
    update = sa.text("UPDATE responses SET referrer_host = :host WHERE id = :id")
    for offset in range(0, len(rows), 5000):
        batch = [{'id': r[0], 'host': _host(r[1])} for r in rows[offset:offset + 5000]]
        if batch:
            bind.execute(update, batch)
    pg = bind.dialect.name == 'postgresql'
    day = (lambda c: f"CAST(timezone('UTC', {c}) AS DATE)") if pg else (lambda c: f"date({c})")
    confirmed = (
        "EXISTS (SELECT 1 FROM consents c WHERE c.response_id = r.id AND c.kind = 'marketing'"
        " AND c.confirmed_at IS NOT NULL AND c.withdrawn_at IS NULL)"
    )
    finished = "r.status = 'finished' AND r.finished_at IS NOT NULL"
    key = (
        "COALESCE(r.utm_source, ''), COALESCE(r.utm_medium, ''), COALESCE(r.utm_campaign, ''),"
        " COALESCE(r.referrer_host, ''), r.content_version, r.is_demo,"
        " COALESCE(r.quality_flags, 0)"
    )
    queries = {
        'start': f"SELECT {day('r.started_at')}, {key}, COUNT(*) FROM responses r"
        f" GROUP BY {day('r.started_at')}, {key}",
        'finish': f"SELECT {day('r.finished_at')}, {key}, COUNT(*) FROM responses r"
        f" WHERE {finished} GROUP BY {day('r.finished_at')}, {key}",
        'optin': f"SELECT {day('r.finished_at')}, {key}, COUNT(*) FROM responses r"
        f" WHERE {finished} AND {confirmed} GROUP BY {day('r.finished_at')}, {key}",
    }
    counts = Counter()
    for metric, query in queries.items():
        for row in bind.execute(sa.text(query)):
            counts[(*row[:-1], metric)] += row[-1]
    insert = sa.text(
        "INSERT INTO funnel_counters (day, source, medium, campaign, referrer_host,"
        " content_version, is_demo, quality, metric, count) VALUES (:day, :source, :medium,"
        " :campaign, :host, :version, :demo, :quality, :metric, :count)"
    )
    rows = [
        dict(zip(
            ('day', 'source', 'medium', 'campaign', 'host', 'version', 'demo', 'quality',
             'metric'), key,
        ), count=count)
        for key, count in counts.items()
    ]
    for offset in range(0, len(rows), 5000):
        bind.execute(insert, rows[offset:offset + 5000])


def downgrade():
    op.drop_table('experiment_counts')
    op.drop_index(op.f('ix_response_variants_experiment_id'), table_name='response_variants')
    op.drop_table('response_variants')
    op.drop_index(op.f('ix_experiment_events_experiment_id'), table_name='experiment_events')
    op.drop_table('experiment_events')
    op.drop_table('experiment_variants')
    op.drop_index('uq_experiments_active_element', table_name='experiments')
    op.drop_table('experiments')
    op.drop_table('funnel_counters')
    # Not a batch operation: on SQLite that copies `responses` and drops the old table, and with
    # foreign keys on the drop would cascade to every answer, consent and email (see 0006).
    op.execute('ALTER TABLE responses DROP COLUMN referrer_host')
