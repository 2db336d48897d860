"""An experiment's readout: its counts per variant and the statistics of every metric.

The counts come from the counters (quiz.counters.funnel_read: a dozen rows), the figures from
quiz.domain.ab_stats; the coach's page and `flask --app quiz experiments show` print the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import func, select

from quiz.counters import funnel_read
from quiz.domain import ab_stats
from quiz.domain.ab_stats import Arm, ArmFigures, Decision
from quiz.extensions import db
from quiz.models import CtaClick, Experiment, ExperimentEvent, ExperimentVariant, ResponseVariant

# The counter behind each metric of ab_stats.METRICS.
COUNT_OF = {"start": "starts", "finish": "finishes", "optin": "optins", "click": "clicks"}


def cta_clicks_by_variant(experiment_id: int) -> dict[int, int]:
    """Call-to-action clicks per variant position of this experiment: the takers assigned a
    variant who clicked (each once, so the click rate is a share of the visits, as the
    Beta-Binomial readout needs), from the clicks joined to the responses' variants."""
    c, v = CtaClick.__table__.c, ResponseVariant.__table__.c
    rows = db.session.execute(
        select(v.position, func.count(func.distinct(c.response_id)))
        .select_from(
            CtaClick.__table__.join(ResponseVariant.__table__, v.response_id == c.response_id)
        )
        .where(v.experiment_id == experiment_id)
        .group_by(v.position)
    )
    return {int(position): int(n) for position, n in rows}


@dataclass(frozen=True)
class VariantReadout:
    """One variant: its text, its counts and its figures per metric."""

    position: int
    name: str
    text: str
    label: str | None
    visits: int
    starts: int
    finishes: int
    optins: int
    clicks: int
    # Every metric's rate; the posterior figures of the metrics analysed (`readout(metrics=)`).
    rates: dict[str, float]
    metrics: dict[str, ArmFigures]

    def count(self, metric: str) -> int:
        """The successes behind a metric (start, finish, optin, click)."""
        value: int = getattr(self, COUNT_OF[metric])
        return value


@dataclass(frozen=True)
class Readout:
    """Everything the coach sees of one experiment."""

    id: int
    name: str
    element: str
    metric: str
    status: str
    threshold_pp: float
    winner: int | None
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    variants: tuple[VariantReadout, ...]
    decision: Decision
    events: tuple[ExperimentEvent, ...]

    @property
    def recommendation(self) -> str | None:
        """The recommended variant's name, or None ("noch keine belastbare Aussage")."""
        index = self.decision.recommended
        return None if index is None else self.variants[index].name


@lru_cache(maxsize=256)
def _analyse(arms: tuple[Arm, ...]) -> tuple[ArmFigures, ...]:
    """The figures of these counts (pure and seeded, so the same counts are computed once)."""
    return tuple(ab_stats.analyse(arms))


def readout(experiment_id: int, metrics: Sequence[str] | None = None) -> Readout | None:
    """The readout of one experiment (None when there is none with this id), with the posterior
    figures of `metrics` (default: every metric; the experiment's own is always among them).

    Each metric costs 200,000 posterior draws per variant: the page analyses only the metric
    the coach decides by, the command line all four.
    """
    experiment = db.session.get(Experiment, experiment_id)
    if experiment is None:
        return None
    variants = db.session.scalars(
        select(ExperimentVariant)
        .where(ExperimentVariant.experiment_id == experiment_id)
        .order_by(ExperimentVariant.position)
    ).all()
    counts = funnel_read.experiment_counts(experiment_id)
    clicks = cta_clicks_by_variant(experiment_id)
    empty = dict.fromkeys(funnel_read.FUNNEL_METRICS, 0)
    rows = []
    for variant in variants:
        c = counts.get(variant.position, empty)
        rows.append((variant, c["visit"], c["start"], c["finish"], c["optin"]))
    wanted = [
        metric
        for metric in ab_stats.METRICS
        if metrics is None or metric in metrics or metric == experiment.metric
    ]
    figures: dict[str, tuple[ArmFigures, ...]] = {}
    for metric in wanted:
        arms = []
        for variant, visits, starts, finishes, optins in rows:
            successes = {
                "start": starts,
                "finish": finishes,
                "optin": optins,
                "click": clicks.get(variant.position, 0),
            }[metric]
            arms.append(Arm(visits, successes))
        figures[metric] = _analyse(tuple(arms))
    shown = tuple(
        VariantReadout(
            position=variant.position,
            name=variant.name,
            text=variant.text,
            label=variant.label,
            visits=visits,
            starts=starts,
            finishes=finishes,
            optins=optins,
            clicks=clicks.get(variant.position, 0),
            rates={
                metric: ab_stats.rate(Arm(visits, successes))
                for metric, successes in zip(
                    ab_stats.METRICS,
                    (starts, finishes, optins, clicks.get(variant.position, 0)),
                    strict=True,
                )
            },
            metrics={metric: figures[metric][index] for metric in wanted},
        )
        for index, (variant, visits, starts, finishes, optins) in enumerate(rows)
    )
    decision = ab_stats.decide(
        [v.visits for v in shown],
        figures[experiment.metric],
        threshold=experiment.loss_threshold_pp / 100,
    )
    events = db.session.scalars(
        select(ExperimentEvent)
        .where(ExperimentEvent.experiment_id == experiment_id)
        .order_by(ExperimentEvent.id)
    ).all()
    return Readout(
        id=experiment.id,
        name=experiment.name,
        element=experiment.element,
        metric=experiment.metric,
        status=experiment.status,
        threshold_pp=experiment.loss_threshold_pp,
        winner=experiment.winner,
        created_at=experiment.created_at,
        started_at=experiment.started_at,
        ended_at=experiment.ended_at,
        variants=shown,
        decision=decision,
        events=tuple(events),
    )


def as_json(result: Readout) -> dict[str, Any]:
    """The readout as `experiments show --json` prints it (the shape issue 25 fixes)."""
    return {
        "id": result.id,
        "element": result.element,
        "metric": result.metric,
        "status": result.status,
        "variants": [
            {
                "name": variant.name,
                "text": variant.text,
                "visits": variant.visits,
                "starts": variant.starts,
                "finishes": variant.finishes,
                "optins": variant.optins,
                "clicks": variant.clicks,
                "metrics": {
                    metric: {
                        "rate": figures.rate,
                        "prob_best": figures.prob_best,
                        "expected_loss": figures.expected_loss,
                        "ci_low": figures.ci_low,
                        "ci_high": figures.ci_high,
                    }
                    for metric, figures in variant.metrics.items()
                },
            }
            for variant in result.variants
        ],
        "recommendation": result.recommendation,
    }


@dataclass(frozen=True)
class Summary:
    """One line of the experiments' list."""

    id: int
    name: str
    element: str
    metric: str
    status: str
    variants: int
    started_at: datetime | None
    ended_at: datetime | None


def summaries() -> list[Summary]:
    """Every experiment, newest first."""
    variant_counts: dict[int, int] = {}
    for experiment_id in db.session.scalars(select(ExperimentVariant.experiment_id)):
        variant_counts[experiment_id] = variant_counts.get(experiment_id, 0) + 1
    return [
        Summary(
            e.id,
            e.name,
            e.element,
            e.metric,
            e.status,
            variant_counts.get(e.id, 0),
            e.started_at,
            e.ended_at,
        )
        for e in db.session.scalars(select(Experiment).order_by(Experiment.id.desc()))
    ]
