"""Which variant a visitor sees: drawn at random, sticky through the draft (issue 25).

No cookie of its own: before a draft exists, the landing view draws a variant of every running
experiment and carries the draw in the start form (a hidden field, `encode`/`decode`); starting
the quiz records it on the response (quiz.taker.responses), and from then on the draft cookie
leads to it. A variant stays shown while its experiment runs or is paused; once it ends, the
site's own texts are back. Drawing uses `secrets` (no seed to guess).

The active experiments and their texts are kept per worker by the site settings' version, which
every change of an experiment raises (quiz.experiments.lifecycle), so this costs no query.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select

from quiz import caches
from quiz.extensions import db
from quiz.models import ACTIVE_STATUSES, Experiment, ExperimentVariant, ResponseVariant
from quiz.site import settings as site_settings

MAX_FIELD = 200


@dataclass(frozen=True)
class Shown:
    """The text of one variant, as a template shows it."""

    experiment_id: int
    position: int
    text: str
    label: str | None


@dataclass(frozen=True)
class ActiveExperiment:
    """A running or paused experiment with its variants' texts."""

    id: int
    element: str
    running: bool
    variants: tuple[Shown, ...]


def active() -> tuple[ActiveExperiment, ...]:
    """The running and paused experiments (the worker's copy for the settings' version)."""
    version = site_settings.current().version
    found: tuple[ActiveExperiment, ...] = caches.current().experiments.get_or_make(version, _load)
    return found


def _load() -> tuple[ActiveExperiment, ...]:
    experiments = db.session.execute(
        select(Experiment.id, Experiment.element, Experiment.status)
        .where(Experiment.status.in_(ACTIVE_STATUSES))
        .order_by(Experiment.id)
    ).all()
    if not experiments:
        return ()
    ids = [row.id for row in experiments]
    variants: dict[int, list[Shown]] = {i: [] for i in ids}
    for row in db.session.execute(
        select(ExperimentVariant)
        .where(ExperimentVariant.experiment_id.in_(ids))
        .order_by(ExperimentVariant.experiment_id, ExperimentVariant.position)
    ).scalars():
        variants[row.experiment_id].append(
            Shown(row.experiment_id, row.position, row.text, row.label)
        )
    return tuple(
        ActiveExperiment(row.id, row.element, row.status == "running", tuple(variants[row.id]))
        for row in experiments
    )


def draw(
    experiments: tuple[ActiveExperiment, ...], given: Mapping[int, int] | None = None
) -> dict[int, int]:
    """A variant of every running experiment: the one `given` names when it is valid, else a
    fair draw. {experiment id: position}."""
    given = given or {}
    out = {}
    for experiment in experiments:
        if not experiment.running or not experiment.variants:
            continue
        chosen = given.get(experiment.id)
        if chosen is None or not 0 <= chosen < len(experiment.variants):
            chosen = secrets.randbelow(len(experiment.variants))
        out[experiment.id] = chosen
    return out


def of_response(response_id: int) -> dict[int, int]:
    """The variants recorded on a response (one query)."""
    rv = ResponseVariant.__table__.c
    rows = db.session.execute(
        select(rv.experiment_id, rv.position).where(rv.response_id == response_id)
    )
    return {int(e): int(p) for e, p in rows}


def texts(
    experiments: tuple[ActiveExperiment, ...], assigned: Mapping[int, int]
) -> dict[str, Shown]:
    """{element: the variant shown} for the assigned variants of active experiments."""
    out = {}
    for experiment in experiments:
        position = assigned.get(experiment.id)
        if position is not None and 0 <= position < len(experiment.variants):
            out[experiment.element] = experiment.variants[position]
    return out


def encode(assigned: Mapping[int, int]) -> str:
    """The start form's hidden field: "12:0,13:1"."""
    return ",".join(f"{e}:{p}" for e, p in sorted(assigned.items()))


def decode(value: str | None) -> dict[int, int]:
    """The hidden field back; anything malformed is dropped (then drawn afresh)."""
    out: dict[int, int] = {}
    for part in (value or "")[:MAX_FIELD].split(","):
        experiment, _, position = part.partition(":")
        digits = (experiment + position).isascii() and experiment.isdigit() and position.isdigit()
        if digits and len(experiment) <= 9 and len(position) == 1:
            out[int(experiment)] = int(position)
    return out


def shown_for_response(response_id: int) -> dict[str, Shown]:
    """{element: the variant shown} to the taker of this response (no query without tests)."""
    experiments = active()
    return texts(experiments, of_response(response_id)) if experiments else {}
