"""The one writer of the experiments, their variants and their log (quiz.models).

A variant's text is fixed once the experiment is created, so the readout is always about exactly
the text that was shown; a new text is a new experiment. Every change of state (created, started,
paused, resumed, ended, winner chosen) is written to `experiment_events` with who did it, and
raises the site settings' version, so every worker shows the change with its next request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from quiz import database
from quiz.domain.ab_stats import METRICS
from quiz.extensions import db
from quiz.models import ELEMENTS, Experiment, ExperimentEvent, ExperimentVariant, utcnow
from quiz.site import settings as site_settings

MIN_VARIANTS, MAX_VARIANTS = 2, 4
TEXT_MAX = 2000
LABEL_MAX = 100
NAME_MAX = 40


class ExperimentError(ValueError):
    """What the coach asked for cannot be done; the message says why, in German."""


@dataclass(frozen=True)
class VariantInput:
    """A variant as the coach entered it."""

    name: str
    text: str
    label: str | None = None


def _clean(value: str | None, limit: int, what: str) -> str:
    """One line of text: control and format characters become spaces, runs of space one."""
    text = " ".join("".join(c if c.isprintable() else " " for c in value or "").split())
    if len(text) > limit:
        raise ExperimentError(f"{what} ist zu lang (höchstens {limit} Zeichen).")
    return text


def create(
    name: str,
    element: str,
    metric: str,
    variants: Sequence[VariantInput],
    changed_by: str,
    threshold_pp: float = 0.5,
) -> int:
    """Store a new experiment (not yet running) with its variants; its id."""
    if element not in ELEMENTS:
        raise ExperimentError("Bitte wählen Sie, welcher Text getestet werden soll.")
    if metric not in METRICS:
        raise ExperimentError("Bitte wählen Sie die Kennzahl, nach der entschieden wird.")
    title = _clean(name, 100, "Der Name")
    if not title:
        raise ExperimentError("Bitte geben Sie dem Test einen Namen.")
    if not 0.01 <= threshold_pp <= 10:
        raise ExperimentError("Die Schwelle muss zwischen 0,01 und 10 Prozentpunkten liegen.")
    given = [v for v in variants if (v.text or "").strip() or (v.label or "").strip()]
    if not MIN_VARIANTS <= len(given) <= MAX_VARIANTS:
        raise ExperimentError("Ein Test braucht zwei bis vier Varianten mit Text.")
    rows = []
    for position, variant in enumerate(given):
        text = _clean(variant.text, TEXT_MAX, "Text")
        label = _clean(variant.label, LABEL_MAX, "Die Beschriftung") or None
        if not text:
            raise ExperimentError(f"Variante {position + 1} braucht einen Text.")
        if element == "cta" and not label:
            raise ExperimentError(
                f"Variante {position + 1} braucht eine Beschriftung der Schaltfläche."
            )
        label_name = _clean(variant.name, NAME_MAX, "Der Name der Variante") or chr(65 + position)
        rows.append((position, label_name, text, label if element == "cta" else None))
    if len({r[1] for r in rows}) != len(rows):
        raise ExperimentError("Jede Variante braucht einen eigenen Namen.")
    with database.write():
        experiment = Experiment(
            name=title,
            element=element,
            metric=metric,
            status="draft",
            loss_threshold_pp=float(threshold_pp),
        )
        db.session.add(experiment)
        db.session.flush()
        for position, label_name, text, label in rows:
            db.session.add(
                ExperimentVariant(
                    experiment_id=experiment.id,
                    position=position,
                    name=label_name,
                    text=text,
                    label=label,
                )
            )
        _log(experiment.id, "created", None, changed_by)
        return int(experiment.id)


def _log(experiment_id: int, action: str, detail: str | None, changed_by: str) -> None:
    db.session.add(
        ExperimentEvent(
            experiment_id=experiment_id,
            action=action,
            detail=detail,
            changed_by=changed_by[:300],
            at=utcnow(),
        )
    )


_MOVES = {
    # action: (allowed from, to)
    "started": (("draft",), "running"),
    "paused": (("running",), "paused"),
    "resumed": (("paused",), "running"),
    "ended": (("running", "paused"), "ended"),
}


def change(experiment_id: int, action: str, changed_by: str) -> None:
    """Start, pause, resume or end an experiment (recorded); ExperimentError when it cannot."""
    if action not in _MOVES:
        raise ExperimentError("Diese Änderung gibt es nicht.")
    allowed, new_status = _MOVES[action]
    try:
        with database.write():
            experiment = db.session.get(Experiment, experiment_id, with_for_update=True)
            if experiment is None:
                raise ExperimentError("Diesen Test gibt es nicht.")
            if experiment.status not in allowed:
                raise ExperimentError("Das geht in diesem Zustand des Tests nicht.")
            if action == "started":
                _refuse_second(experiment)
                experiment.started_at = utcnow()
            if action == "ended":
                experiment.ended_at = utcnow()
            experiment.status = new_status
            db.session.flush()
            _log(experiment_id, action, None, changed_by)
            site_settings.bump_version()
    except IntegrityError as taken:
        raise ExperimentError(
            "Für diesen Text läuft schon ein anderer Test; beenden Sie ihn zuerst."
        ) from taken


def _refuse_second(experiment: Experiment) -> None:
    others = db.session.scalar(
        select(func.count())
        .select_from(Experiment)
        .where(
            Experiment.element == experiment.element,
            Experiment.status.in_(("running", "paused")),
            Experiment.id != experiment.id,
        )
    )
    if others:
        raise ExperimentError(
            "Für diesen Text läuft schon ein anderer Test; beenden Sie ihn zuerst."
        )


def choose_winner(experiment_id: int, position: int, changed_by: str) -> None:
    """Record the coach's choice of a winner (an ended experiment; the choice can change)."""
    with database.write():
        experiment = db.session.get(Experiment, experiment_id, with_for_update=True)
        if experiment is None:
            raise ExperimentError("Diesen Test gibt es nicht.")
        if experiment.status != "ended":
            raise ExperimentError("Einen Gewinner wählen Sie, wenn der Test beendet ist.")
        variant = db.session.get(ExperimentVariant, (experiment_id, position))
        if variant is None:
            raise ExperimentError("Diese Variante gibt es nicht.")
        experiment.winner = position
        _log(experiment_id, "winner", variant.name, changed_by)
