"""The counters: what every write keeps up to date, so the coach's figures and the norms read fast.

Two kinds, each with its one writer and its rebuild from the raw rows: the dashboard's rollups
(quiz.counters.rollups, quiz.counters.rollup_rebuild) and the item statistics with the score
histograms behind the norms (quiz.counters.item_stats, quiz.counters.item_stats_rebuild).

The writers of the counted tables move them through the functions below, one per event, inside
their own functions and write transactions: quiz.taker.responses (start, step, finish, delete,
the demo rows), quiz.taker.consents (the marketing consents), quiz.mail.outbox (the emails) and
quiz.taker.clicks (the call to action's clicks, quiz.counters.cta_clicks). The follow-up series'
figures (quiz.counters.followups) follow the emails, clicks and consents they count.
An import-linter contract (pyproject.toml) lets nothing else call the two counter writers.
`recount()` is `rebuild-rollups [--check]`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_
from sqlalchemy.sql.dml import Delete, Update
from sqlalchemy.sql.elements import ColumnElement

from quiz import database
from quiz.counters import (
    cta_clicks,
    followups,
    funnel,
    funnel_rebuild,
    item_stats,
    item_stats_rebuild,
    rollup_rebuild,
    rollups,
)
from quiz.counters.item_stats import AnswerLike
from quiz.counters.rollup_keys import Key, State, state_of
from quiz.domain.content import Content
from quiz.extensions import db
from quiz.models import Response

# --- the responses (quiz.taker.responses) ----------------------------------------------------


def on_start(response: Response, assignments: Mapping[int, int] | None = None) -> None:
    """A new draft (added to the session, not yet flushed): count its start, also for the
    experiments' variants it was assigned ({experiment id: position})."""
    rollups.on_start(response)
    funnel.on_start(response, assignments or {})


def on_step(response: Response, step: int) -> None:
    """Before a draft's steps_completed moves up to `step`: move it along the funnel."""
    rollups.on_step(response, step)


def on_extra(response: Response, state: int) -> None:
    """Before a draft's extra_page moves to `state` (models.EXTRA_*): move it in that funnel."""
    rollups.on_extra(response, state)


def counted_as(response: Response) -> State:
    """What a response counts for now: read before `finish()` stores its result."""
    return state_of(response)


def on_finish(
    content: Content, response: Response, answers: Sequence[AnswerLike], was: State
) -> int:
    """After `finish()` stored the result on `response` (`was`: what the draft counted for).

    Judges the response's quality, stores it, counts its item statistics and moves its
    rollups from the draft's into the finished response's, in its quality class; returns the
    quality flags. The emails queued with it are counted by the outbox (`on_emails_queued`),
    the marketing consent when it is confirmed.
    """
    flags = item_stats.on_finish(
        response, answers, statements=item_stats.statement_options(content)
    )
    rollups.on_finish(was, response)
    funnel.on_finish(response)
    return flags


def on_delete(response: Response, answers: Sequence[AnswerLike]) -> None:
    """Before a response and its answers are deleted: take back everything it counted.

    Its consents and emails are taken back by their writers, before (they count by it).
    """
    rollups.forget([response])
    funnel.on_delete(response)
    item_stats.on_delete(response, answers)


def on_demo_responses(deltas: Mapping[Key, Sequence[int]]) -> None:
    """Demo responses were inserted in bulk: add the response metrics of their counters."""
    rollups.add_owned(deltas, rollups.RESPONSE_METRICS)


def on_demo_judged(after_id: int) -> None:
    """After a demo seed (the rows above `after_id`): judge and count their item statistics,
    and move their rollups into their quality classes.

    The bulk path skips `on_finish`; the item statistics' rebuild of the demo rows judges and
    counts them all at once. Their rollups were counted in class 0 as they were written.
    """
    item_stats_rebuild.rebuild(demo=True)
    r = Response.__table__.c
    rollup_rebuild.requalify(and_(r.is_demo.is_(True), r.id > after_id))
    funnel_rebuild.rebuild(demo=True)


def on_demo_deleted() -> None:
    """Every demo response (with its consents and emails) was deleted: recount the demo rows.

    Cheaper than taking back a million responses one by one, and it also clears what their
    consents and emails had counted.
    """
    rollup_rebuild.rebuild(demo=True)
    item_stats_rebuild.rebuild(demo=True)
    cta_clicks.rebuild(demo=True)
    followups.rebuild(demo=True)
    funnel_rebuild.rebuild(demo=True)


# --- the marketing consents (quiz.taker.consents) --------------------------------------------


@contextmanager
def marketing_change(condition: ColumnElement[bool]) -> Iterator[None]:
    """Around a change of the marketing consents of the responses matching `condition`.

    The caller has locked those consents first, so the count before is the one it changes.
    """
    funnel.shift_optins(condition, -1)
    with rollups.marketing_recount(condition), followups.consents_changing(condition):
        yield
    db.session.flush()
    funnel.shift_optins(condition, 1)


def before_consents_deleted(condition: ColumnElement[bool]) -> None:
    """Before the consents of the responses matching `condition` go (locked by the caller)."""
    rollups.shift_marketing(condition, -1)
    funnel.shift_optins(condition, -1)
    followups.before_consents_deleted(condition)


def on_demo_consents(deltas: Mapping[Key, Sequence[int]]) -> None:
    """Demo consents were inserted in bulk: add the marketing metric of their counters."""
    rollups.add_owned(deltas, rollups.MARKETING_METRICS)


# --- the emails (quiz.mail.outbox) -----------------------------------------------------------


def on_emails_queued(response: Response, count: int) -> None:
    """`count` emails were just queued for this finished response."""
    rollups.count_queued(response, count)


@contextmanager
def emails_changing(condition: ColumnElement[bool]) -> Iterator[None]:
    """Around a change of the emails matching `condition` (locked by the caller)."""
    rollups.shift_emails(condition, sign=-1)
    yield
    db.session.flush()
    rollups.shift_emails(condition)


def move_emails(change: Update, condition: ColumnElement[bool], moved_from: str) -> int:
    """Run `change`, an UPDATE of the emails matching `condition` that are now in status
    `moved_from`, and move their counts; how many it changed."""
    return rollups.move_emails(change, condition, moved_from)


def delete_emails(gone: Delete, condition: ColumnElement[bool]) -> int:
    """Run `gone`, the DELETE of the emails matching `condition`, taking back their counts;
    how many went."""
    followups.before_emails_deleted(condition)
    return rollups.delete_emails(gone, condition)


def on_followup_sent(response_id: int, outbox_id: int, number: object, sent_at: datetime) -> None:
    """Follow-up email `number` (its details' number; outbox row `outbox_id`) of this response
    was just marked sent at `sent_at`: count it."""
    followups.on_sent(response_id, outbox_id, number, sent_at)


def on_demo_emails(deltas: Mapping[Key, Sequence[int]]) -> None:
    """Demo emails were inserted in bulk: add the email metrics of their counters."""
    rollups.add_owned(deltas, rollups.EMAIL_METRICS)


# --- the call to action's clicks (quiz.taker.clicks) -----------------------------------------


def on_cta_click(click_id: int) -> None:
    """A click on the call to action was just inserted and flushed: count it (and, the taker's
    first in a follow-up email, as that email's click)."""
    cta_clicks.on_click(click_id)
    followups.on_click(click_id)


def before_clicks_deleted(condition: ColumnElement[bool]) -> None:
    """Before the clicks matching `condition` (over cta_clicks) go: take back their counts."""
    cta_clicks.forget(condition)
    followups.before_clicks_deleted(condition)


# --- the landing page's visits (quiz.taker.visits) -----------------------------------------


def on_visits(
    visits: Mapping[tuple[date, str, str, str, str, str], int],
    shown: Mapping[tuple[int, int], int],
) -> None:
    """A batch of counted landing-page views: (day, utm_source, utm_medium, utm_campaign,
    referrer host, content version) -> n, and (experiment, position) -> n of the variants shown."""
    funnel.on_visits(visits, shown)


# --- rebuild-rollups -------------------------------------------------------------------------


@dataclass(frozen=True)
class Recount:
    """What `rebuild-rollups [--check]` found."""

    # Rows of the rollups, of the call to action's click counters and of the follow-ups'.
    rollup_rows: int
    # Rollup, click- and follow-up-counter rows that differed from the recount before it (0: they
    # were in step).
    differing: int
    # With --check: where the item statistics differ from the raw rows, one line each.
    item_problems: list[str]
    # Without: the finished responses that were judged for the first time.
    judged: int


def recount(*, check: bool) -> Recount:
    """Recompute the rollups and the item statistics from the raw rows in one write
    transaction, comparing with what was kept; `check` only compares (and rolls back)."""
    with database.write(dry_run=check):
        # Compared before anything is rebuilt: the item statistics' check reads the live ones.
        item_problems = item_stats_rebuild.check() if check else []
        # Responses never judged are judged first: the rollups count each in its quality class.
        judged = 0 if check else item_stats_rebuild.judge_unjudged()
        before: dict[Any, Any] = {**rollup_rebuild.snapshot(), **funnel_rebuild.snapshot()}
        clicks_before: dict[Any, Any] = {**cta_clicks.snapshot(), **_followups_snapshot()}
        rollup_rebuild.rebuild()
        cta_clicks.rebuild()
        followups.rebuild()
        funnel_rebuild.rebuild()
        after: dict[Any, Any] = {**rollup_rebuild.snapshot(), **funnel_rebuild.snapshot()}
        clicks_after: dict[Any, Any] = {**cta_clicks.snapshot(), **_followups_snapshot()}
        if not check:
            judged += item_stats_rebuild.rebuild()
    differing = _differing(before, after) + _differing(clicks_before, clicks_after)
    return Recount(len(after) + len(clicks_after), differing, item_problems, judged)


def _followups_snapshot() -> dict[Any, int]:
    # Tagged, so no follow-up key can meet a click key of the same shape.
    return {("followup", *key): n for key, n in followups.snapshot().items()}


def _differing(before: Mapping[Any, Any], after: Mapping[Any, Any]) -> int:
    return sum(1 for key in before.keys() | after.keys() if before.get(key) != after.get(key))
