"""The follow-up series' counters: the one module that changes `followup_counts` (issue 24).

Per follow-up email N and UTC day, three metrics, each counted in the transaction of the event
that makes it, by the writers of the raw rows through the counters' entry points (quiz.counters):

- `sent`: the follow-up was handed to the mail server (quiz.mail.outbox.record_sent), on the day
  of its `sent_at`;
- `clicked`: the taker's first click on that email's call to action (placement `followup-N`,
  quiz.taker.clicks), on the day of that click, so each clicking taker counts once per email;
- `unsubscribed`: the taker withdrew the newsletter consent (quiz.taker.consents) when follow-up
  N was the last one sent to them (the highest number sent at or before the withdrawal), on the
  day of the withdrawal. A follow-up the sender was delivering during the withdrawal is recorded
  after it, so the sender's count recounts the taker's withdrawal too (on_sent).

Each counter is a function of a few raw rows of one response, so every change is counted as
"what these responses contribute now minus what they contributed before", computed from the raw
rows around the statement that changes them; deleting emails, clicks or consents takes their
share back the same way. `rebuild()` recomputes the whole table from the raw rows, so
`rebuild-rollups [--check]` proves the two agree. Follow-ups are few next to responses (a
handful per confirmed newsletter), so the keys are worked out in Python.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime

from sqlalchemy import and_, delete, select
from sqlalchemy.sql.elements import ColumnElement

from quiz.counters.models import FollowupCount
from quiz.counters.rollup_keys import as_date, quality_sql
from quiz.counters.upsert import add_counts
from quiz.extensions import db
from quiz.models import Consent, CtaClick, OutboxMessage, Response

FOLLOWUP_KIND = "followup"
PLACEMENT_PREFIX = "followup-"
METRICS = ("sent", "clicked", "unsubscribed")

# (day, utm_campaign, content_version, is_demo, quality, number, metric): the primary key.
FollowupKey = tuple[date, str, str, bool, int, int, str]
# A response's part of the key: utm_campaign, content_version, is_demo, quality.
_Base = tuple[str, str, bool, int]
_CHUNK = 5000
_KEY_COLUMNS = ("day", "campaign", "content_version", "is_demo", "quality", "number", "metric")


def number_of_placement(placement: str) -> int | None:
    """N of a `followup-N` placement, None for every other placement."""
    if not placement.startswith(PLACEMENT_PREFIX):
        return None
    digits = placement[len(PLACEMENT_PREFIX) :]
    return int(digits) if digits.isdigit() else None


def _number_of(details: object) -> int | None:
    number = details.get("number") if isinstance(details, dict) else None
    return number if isinstance(number, int) and not isinstance(number, bool) else None


def _day(moment: datetime) -> date:
    return moment.date() if isinstance(moment, datetime) else as_date(str(moment)[:10])


def _bases(response_ids: Collection[int]) -> dict[int, _Base]:
    """The key part each of these responses counts under."""
    r = Response.__table__.c
    ordered = sorted(response_ids)
    found: dict[int, _Base] = {}
    # In chunks: a rebuild names every taker who got a follow-up.
    for start in range(0, len(ordered), _CHUNK):
        rows = db.session.execute(
            select(r.id, r.utm_campaign, r.content_version, r.is_demo, quality_sql()).where(
                r.id.in_(ordered[start : start + _CHUNK])
            )
        )
        for rid, campaign, version, demo, quality in rows:
            found[int(rid)] = (campaign or "", version, bool(demo), int(quality))
    return found


def _ids(column: ColumnElement[int], condition: ColumnElement[bool]) -> set[int]:
    return {int(value) for value in db.session.scalars(select(column).where(condition)) if value}


# --- what a set of responses contributes, from the raw rows ------------------------------------


_Sent = tuple[int, int, int, datetime]


def _sent(response_ids: Collection[int] | None, without: Collection[int] = ()) -> list[_Sent]:
    """(response id, outbox id, number, sent_at) of the sent follow-ups of these responses."""
    o = OutboxMessage.__table__.c
    query = select(o.response_id, o.id, o.details, o.sent_at).where(
        o.kind == FOLLOWUP_KIND, o.status == "sent", o.sent_at.is_not(None)
    )
    if response_ids is not None:
        query = query.where(o.response_id.in_(list(response_ids)))
    found: list[_Sent] = []
    for rid, oid, details, sent_at in db.session.execute(query):
        number = _number_of(details)
        if rid is not None and number is not None and oid not in without:
            found.append((int(rid), int(oid), number, sent_at))
    return found


def contributions(
    response_ids: Collection[int] | None, *, without_emails: Collection[int] = ()
) -> Counter[FollowupKey]:
    """What these responses (None: all) count now, leaving out the given emails: the counters a
    change of them moves from or to. In chunks, so a retention run over many takers stays
    within the database's limit of bound parameters."""
    if response_ids is None:
        return _contributions(None, without_emails)
    ordered = sorted(response_ids)
    out: Counter[FollowupKey] = Counter()
    for start in range(0, len(ordered), _CHUNK):
        out.update(_contributions(ordered[start : start + _CHUNK], without_emails))
    return out


def _contributions(
    response_ids: Collection[int] | None, without_emails: Collection[int]
) -> Counter[FollowupKey]:
    sent = _sent(response_ids, without_emails)
    found: Counter[tuple[int, date, int, str]] = Counter()  # (response, day, number, metric)
    last_sent: dict[int, list[tuple[datetime, int]]] = {}
    for rid, _oid, number, sent_at in sent:
        found[(rid, _day(sent_at), number, "sent")] += 1
        last_sent.setdefault(rid, []).append((sent_at, number))
    for (rid, number), first in _first_clicks(response_ids, ()).items():
        found[(rid, _day(first), number, "clicked")] += 1
    for rid, withdrawn_at in _withdrawals(response_ids).items():
        before = [number for sent_at, number in last_sent.get(rid, ()) if sent_at <= withdrawn_at]
        if before:
            found[(rid, _day(withdrawn_at), max(before), "unsubscribed")] += 1
    bases = _bases({key[0] for key in found})
    out: Counter[FollowupKey] = Counter()
    for (rid, day, number, metric), count in found.items():
        if rid in bases:
            out[(day, *bases[rid], number, metric)] += count
    return out


def _first_clicks(
    response_ids: Collection[int] | None, without: Collection[int]
) -> dict[tuple[int, int], datetime]:
    """(response, N) -> the time of the taker's first click in follow-up N."""
    c = CtaClick.__table__.c
    query = select(c.response_id, c.id, c.placement, c.clicked_at).where(
        c.placement.like(PLACEMENT_PREFIX + "%")
    )
    if response_ids is not None:
        query = query.where(c.response_id.in_(list(response_ids)))
    first: dict[tuple[int, int], datetime] = {}
    for rid, cid, placement, clicked_at in db.session.execute(query):
        number = number_of_placement(placement)
        if number is None or cid in without:
            continue
        key = (int(rid), number)
        if key not in first or clicked_at < first[key]:
            first[key] = clicked_at
    return first


def _withdrawals(response_ids: Collection[int] | None) -> dict[int, datetime]:
    """Response -> when its newsletter consent (the latest, as quiz.taker.consents reads it)
    was withdrawn; responses whose consent stands are left out."""
    c = Consent.__table__.c
    query = (
        select(c.response_id, c.withdrawn_at)
        .where(c.kind == "marketing")
        .order_by(c.response_id, c.granted_at, c.id)
    )
    if response_ids is not None:
        query = query.where(c.response_id.in_(list(response_ids)))
    else:  # the rebuild: only takers who were sent a follow-up can count
        o = OutboxMessage.__table__.c
        query = query.where(
            c.response_id.in_(
                select(o.response_id).where(o.kind == FOLLOWUP_KIND, o.status == "sent")
            )
        )
    latest: dict[int, datetime | None] = {}
    for rid, withdrawn_at in db.session.execute(query):
        latest[int(rid)] = withdrawn_at  # ordered: the last one wins
    return {rid: moment for rid, moment in latest.items() if moment is not None}


# --- the writes ----------------------------------------------------------------------------


def add(deltas: Mapping[FollowupKey, int]) -> None:
    """Add these deltas to the counters (an upsert in a fixed order: atomic on PostgreSQL)."""
    add_counts(FollowupCount.__table__, _KEY_COLUMNS, deltas)


def _move(before: Counter[FollowupKey], after: Counter[FollowupKey]) -> None:
    deltas: Counter[FollowupKey] = Counter()
    for key in before.keys() | after.keys():
        deltas[key] = after.get(key, 0) - before.get(key, 0)
    add(deltas)


def on_sent(response_id: int, outbox_id: int, number: object, sent_at: datetime) -> None:
    """Follow-up `number` (outbox row `outbox_id`) of this response was just marked sent at
    `sent_at`: count it.

    The taker's newsletter consent is read with a share lock first: a withdrawal running at the
    same time (it locks the consent to change it) either committed before, and is then recounted
    here with this follow-up, or waits and sees it. Without a withdrawal that is all it costs:
    the sender records every follow-up this way.
    """
    if not isinstance(number, int) or isinstance(number, bool):
        return  # not counted by the rebuild either (_number_of)
    c = Consent.__table__.c
    withdrawals = db.session.scalars(
        select(c.withdrawn_at)
        .where(c.response_id == response_id, c.kind == "marketing")
        .with_for_update(read=True)
    ).all()
    base = _bases([response_id]).get(response_id)
    if base is not None:
        add({(_day(sent_at), *base, number, "sent"): 1})
    if any(moment is not None for moment in withdrawals):
        ids = [response_id]
        _move(_only_unsubscribed(ids, without_emails={outbox_id}), _only_unsubscribed(ids))


def on_click(click_id: int) -> None:
    """A click was just inserted (and flushed): count it if it is the taker's first in its
    follow-up (or an earlier one than the first counted, with an injected clock)."""
    c = CtaClick.__table__.c
    row = db.session.execute(select(c.response_id, c.placement).where(c.id == click_id)).first()
    if row is None or number_of_placement(row.placement) is None:
        return
    ids = [int(row.response_id)]
    _move(_only_clicks(ids, without={click_id}), _only_clicks(ids, without=()))


def _only_clicks(ids: Collection[int], without: Collection[int]) -> Counter[FollowupKey]:
    bases = _bases(ids)
    out: Counter[FollowupKey] = Counter()
    for (rid, number), first in _first_clicks(ids, without).items():
        if rid in bases:
            out[(_day(first), *bases[rid], number, "clicked")] += 1
    return out


def before_clicks_deleted(condition: ColumnElement[bool]) -> None:
    """Before the clicks matching `condition` (over cta_clicks) go: move the first clicks of
    their takers to what remains."""
    c = CtaClick.__table__.c
    gone = _ids(c.id, and_(condition, c.placement.like(PLACEMENT_PREFIX + "%")))
    if not gone:
        return
    ids = _ids(c.response_id, c.id.in_(sorted(gone)))
    _move(_only_clicks(ids, without=()), _only_clicks(ids, without=gone))


def before_emails_deleted(condition: ColumnElement[bool]) -> None:
    """Before the emails matching `condition` go: take back the sent follow-ups among them and
    the withdrawals counted after them (recounted after what remains).

    The follow-ups among them are locked first, so no sender marks one sent in between.
    """
    o = OutboxMessage.__table__.c
    rows = db.session.execute(
        select(o.id, o.response_id)
        .where(condition, o.kind == FOLLOWUP_KIND, o.response_id.is_not(None))
        .with_for_update()
    ).all()
    if not rows:
        return
    ids = {int(rid) for _, rid in rows}
    _move(contributions(ids), contributions(ids, without_emails={int(oid) for oid, _ in rows}))


@contextmanager
def consents_changing(condition: ColumnElement[bool]) -> Iterator[None]:
    """Around a change of the marketing consents of the responses matching `condition` (locked
    by the caller): a withdrawal counts after the last follow-up sent before it."""
    ids = _ids(Response.__table__.c.id, condition)
    before = _only_unsubscribed(ids)
    yield
    db.session.flush()
    _move(before, _only_unsubscribed(ids))


def before_consents_deleted(condition: ColumnElement[bool]) -> None:
    """Before the consents of the responses matching `condition` go (locked by the caller)."""
    ids = _ids(Response.__table__.c.id, condition)
    add({key: -count for key, count in _only_unsubscribed(ids).items()})


def _only_unsubscribed(
    ids: Collection[int], without_emails: Collection[int] = ()
) -> Counter[FollowupKey]:
    if not ids:
        return Counter()
    everything = contributions(ids, without_emails=without_emails)
    return Counter({key: n for key, n in everything.items() if key[-1] == "unsubscribed"})


# --- the rebuild ---------------------------------------------------------------------------


def snapshot() -> dict[FollowupKey, int]:
    """The counters as kept (rows at 0 left out: a rebuild has none)."""
    t = FollowupCount.__table__.c
    found: dict[FollowupKey, int] = {}
    for row in db.session.execute(select(*(t[name] for name in _KEY_COLUMNS), t.count)):
        if row[-1]:
            day, campaign, version, demo, quality, number, metric = row[:-1]
            key = (as_date(day), campaign, version, bool(demo), int(quality), int(number), metric)
            found[key] = int(row[-1])
    return found


def rebuild(demo: bool | None = None) -> None:
    """Recompute the counters (of the demo responses only, with `demo=True`) from the raw rows."""
    t = FollowupCount.__table__
    gone = delete(t)
    if demo is not None:
        gone = gone.where(t.c.is_demo.is_(demo))
    db.session.execute(gone)
    counted = contributions(None)
    add({key: n for key, n in counted.items() if demo is None or key[3] is demo})
