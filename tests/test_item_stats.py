"""The item-statistics counters follow every finish and delete, equal a recomputation from the
raw rows, and give the figures numpy computes from the raw points (SQLite and PostgreSQL)."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from flask import Flask
from sqlalchemy import inspect, select, text, update

from quiz.counters import item_stats, item_stats_read, item_stats_rebuild, norms_read
from quiz.counters.models import SPEEDER, STRAIGHT_LINING, ItemStatSum
from quiz.database import begin_write
from quiz.extensions import db
from quiz.models import SCORED_DIMENSIONS, Answer, Response
from tests.coach_factories import add_response

SCALE = ["trifft_nicht_zu", "trifft_eher_nicht_zu", "teils", "trifft_eher_zu", "trifft_voll_zu"]
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
# Two dimensions: likert statements (ids not in code-point order) and scenarios.
ITEMS = {"werte": ["we_z", "we_b", "we_m", "we_a"], "preise": ["pr_2", "pr_10", "pr_1"]}
STATEMENTS = {"we_z", "we_b", "we_m", "we_a", "pr_2"}


@dataclass(frozen=True)
class Given:
    question_id: str
    option_id: str
    dimension_id: str
    points: int | None


def answers_for(points: dict[str, int], not_applicable: Collection[str] = ()) -> list[Given]:
    """Answers with these points; statements use the scale's option ids."""
    out = []
    for dimension, items in ITEMS.items():
        for item in items:
            value = points[item]
            option = SCALE[value] if item in STATEMENTS else f"o{value}"
            if item in not_applicable:
                out.append(Given(item, "kam_nicht_vor", dimension, None))
            else:
                out.append(Given(item, option, dimension, value))
    return out


def finish(
    points: dict[str, int],
    *,
    seconds: int = 600,
    demo: bool = False,
    version: str = "2026.1",
    scores: dict[str, int] | None = None,
    counted: bool = True,
    not_applicable: Collection[str] = (),
) -> int:
    """Write a finished response with its answers and count it, as the finishing writer will."""
    begin_write()
    scores = scores or {}
    response = Response(
        draft_token=secrets.token_urlsafe(24),
        result_token=secrets.token_urlsafe(24),
        status="finished",
        content_version=version,
        content_hash="0" * 64,
        started_at=START,
        finished_at=START + timedelta(seconds=seconds),
        steps_completed=7,
        step_times={},
        is_demo=demo,
        **{f"score_{d}": scores.get(d, 50) for d in SCORED_DIMENSIONS},
    )
    db.session.add(response)
    db.session.flush()
    given = answers_for(points, not_applicable)
    for answer in given:
        db.session.add(Answer(response_id=response.id, **vars(answer)))
    if counted:
        item_stats.on_finish(response, given)
    db.session.commit()
    return int(response.id)


def delete(response_id: int) -> None:
    """Delete a response the way the data-rights writer will: take back, then delete."""
    begin_write()
    response = db.session.get(Response, response_id)
    assert response is not None
    item_stats.on_delete(response, response.answers)
    db.session.delete(response)
    db.session.commit()


def generated(seed: int, n: int, coherent: bool = True) -> np.ndarray:
    """n rows of points 0..4 for every item of ITEMS (columns in ITEMS order)."""
    rng = np.random.default_rng(seed)
    k = sum(len(items) for items in ITEMS.values())
    trait = rng.normal(size=(n, 1)) if coherent else np.zeros((n, 1))
    raw = 2 + trait * rng.uniform(0.2, 1.2, size=(1, k)) + rng.normal(size=(n, k))
    x = np.clip(np.rint(raw), 0, 4).astype(int)
    flat = [item for items in ITEMS.values() for item in items]
    statements = [flat.index(item) for item in sorted(STATEMENTS)]
    for row in x:  # no accidental straight-lining: the tests decide who is flagged
        if len(set(row[statements].tolist())) == 1:
            row[statements[0]] = (row[statements[0]] + 1) % 5
    return x


def as_points(row: np.ndarray) -> dict[str, int]:
    flat = [item for items in ITEMS.values() for item in items]
    return dict(zip(flat, (int(v) for v in row), strict=True))


def numpy_alpha(x: np.ndarray) -> float:
    k = x.shape[1]
    return k / (k - 1) * (1 - x.var(axis=0, ddof=1).sum() / x.sum(axis=1).var(ddof=1))


def assert_in_step() -> None:
    assert item_stats_rebuild.check() == []
    assert item_stats_rebuild.snapshot() == item_stats_rebuild.recompute()


def test_counters_after_finish_and_delete_equal_a_recomputation(app: Flask) -> None:
    x = generated(1, 24)
    with app.app_context():
        ids = [
            finish(as_points(row), demo=i % 3 == 0, scores={"werte": i}) for i, row in enumerate(x)
        ]
        ids.append(finish(as_points(x[0]), version="2026.2"))
        assert_in_step()
        kept = item_stats_rebuild.snapshot()
        assert kept["item_stat_sums"][("2026.2", False, 0, "werte", "", "")] == 1
        # Pair keys are in code-point order: pr_10 < pr_2 although 2 < 10.
        assert ("2026.1", False, 0, "preise", "pr_10", "pr_2") in kept["item_stat_sums"]
        for response_id in ids[::4]:
            delete(response_id)
        assert_in_step()
        for response_id in ids:
            if response_id not in ids[::4]:
                delete(response_id)
        assert item_stats_rebuild.snapshot() == {name: {} for name in item_stats.TABLES}


def test_deleting_a_draft_or_an_unjudged_response_takes_nothing_back(app: Flask) -> None:
    with app.app_context():
        finish(as_points(generated(2, 1)[0]))
        unjudged = finish(as_points(generated(3, 1)[0]), counted=False)
        before = item_stats_rebuild.snapshot()
        delete(unjudged)
        assert item_stats_rebuild.snapshot() == before


def test_read_gives_the_statistics_numpy_computes_from_the_raw_points(app: Flask) -> None:
    x = generated(4, 80)
    real, demo = x[:50], x[50:]
    with app.app_context():
        for row in real:
            finish(as_points(row))
        for row in demo:
            finish(as_points(row), demo=True)
        for demo_filter, data in (("include", x), ("exclude", real), ("only", demo)):
            report = item_stats_read.read("2026.1", demo_filter)
            assert report.finished == len(data)
            column = 0
            for dimension, items in ITEMS.items():
                block = data[:, column : column + len(items)]
                figures = report.dimensions[dimension]
                assert figures.n == len(data)
                assert figures.alpha == pytest.approx(numpy_alpha(block), rel=1e-12)
                for i, item in enumerate(items):
                    rest = np.delete(block, i, axis=1)
                    question = report.questions[item]
                    expected_r = np.corrcoef(block[:, i], rest.sum(axis=1))[0, 1]
                    assert question.analysis.item_total_r == pytest.approx(expected_r, rel=1e-12)
                    if rest.shape[1] > 1:
                        assert question.analysis.alpha_if_deleted == pytest.approx(
                            numpy_alpha(rest), rel=1e-12
                        )
                    values, counts = np.unique(block[:, i], return_counts=True)
                    options = SCALE if item in STATEMENTS else [f"o{v}" for v in range(5)]
                    expected = {options[v]: int(c) for v, c in zip(values, counts, strict=True)}
                    assert dict(question.counts) == expected
                    distribution = question.analysis.distribution
                    assert distribution.mean == pytest.approx(block[:, i].mean(), rel=1e-12)
                    assert distribution.floor_share == pytest.approx((block[:, i] == 0).mean())
                    assert distribution.ceiling_share == pytest.approx((block[:, i] == 4).mean())
                column += len(items)
        data = report.as_json()
        assert data["dimensions"]["werte"]["n"] == 30
        assert data["questions"]["we_a"]["counts"] == dict(report.questions["we_a"].counts)
        assert item_stats_read.versions() == ["2026.1"]


def test_flagged_responses_can_be_left_out_of_every_figure(app: Flask) -> None:
    x = generated(5, 40)
    with app.app_context():
        for row in x:
            finish(as_points(row), seconds=600)
        # Same option on all five statements (and scenarios at will): straight-lining.
        lined = {**as_points(x[0]), **dict.fromkeys(STATEMENTS, 3)}
        finish(lined, seconds=590)
        # Under a third of the median of the 41 earlier finishes (600 s): a speeder.
        finish(as_points(x[1]), seconds=150)
        flags = dict(
            db.session.execute(
                select(Response.__table__.c.id, Response.__table__.c.quality_flags)
            ).all()
        )
        assert sorted(flags.values()) == [0] * 40 + [STRAIGHT_LINING, SPEEDER]
        everyone = item_stats_read.read("2026.1", quality="all")
        clean = item_stats_read.read("2026.1", quality="clean")
        flagged = item_stats_read.read("2026.1", quality="flagged")
        assert (everyone.finished, clean.finished, flagged.finished) == (42, 40, 2)
        assert everyone.responses.straight_lining == 1 and everyone.responses.speeders == 1
        assert everyone.responses.median_seconds == 600
        assert clean.dimensions["werte"].alpha == pytest.approx(numpy_alpha(x[:, :4]), rel=1e-12)
        assert clean.score_histograms["werte"] == {50: 40}
        assert norms_read.norms("2026.1", False, 1)["werte"].n == 42
        assert norms_read.norms("2026.1", False, 1, quality="clean")["werte"].n == 40
        assert sum(clean.questions["we_a"].counts.values()) == 40
        assert_in_step()


def test_speeders_wait_for_thirty_earlier_finishes(app: Flask) -> None:
    x = generated(6, 31)
    with app.app_context():
        for row in x[:29]:
            finish(as_points(row), seconds=900)
        fast = finish(as_points(x[29]), seconds=10)  # 29 earlier: not judged a speeder
        faster = finish(as_points(x[30]), seconds=10)  # 30 earlier: a speeder
        flags = dict(
            db.session.execute(
                select(Response.__table__.c.id, Response.__table__.c.quality_flags)
            ).all()
        )
        assert flags[fast] == 0 and flags[faster] == SPEEDER
        # Demo takers are compared with demo takers only.
        assert finish(as_points(x[0]), seconds=10, demo=True) in {
            i
            for i, f in db.session.execute(
                select(Response.__table__.c.id, Response.__table__.c.quality_flags)
            )
            if f == 0
        }


def test_norms_give_the_mid_rank_percentile_from_the_histogram(app: Flask) -> None:
    row = generated(7, 1)[0]
    with app.app_context():
        for score, count in ((10, 1), (20, 2), (30, 1)):
            for _ in range(count):
                finish(as_points(row), scores={"preise": score})
        finish(as_points(row), scores={"preise": 90}, demo=True)
        assert norms_read.percentile("2026.1", "preise", 10, False, 4) == 13
        assert norms_read.percentile("2026.1", "preise", 20, False, 4) == 50
        assert norms_read.percentile("2026.1", "preise", 30, False, 4) == 88
        assert norms_read.percentile("2026.1", "preise", 30, False, 5) is None
        # With the demo taker (90) counted: 30 is now 3.5 of 5.
        assert norms_read.percentile("2026.1", "preise", 30, True, 5) == 70
        result = norms_read.norms("2026.1", include_demo=False, min_n=4)
        assert result["preise"].n == 4
        table = result["preise"].percentile_by_score
        assert table is not None and table[25] == 75 and len(table) == 101
        assert (
            norms_read.norms("2026.1", include_demo=False, min_n=5)["preise"].percentile_by_score
            is None
        )
        data = norms_read.norms_json(result)
        assert data["preise"]["n"] == 4 and data["preise"]["percentile_by_score"]["100"] == 100


def test_rebuild_judges_and_counts_what_was_missed_and_check_reports_drift(app: Flask) -> None:
    x = generated(8, 35)
    with app.app_context():
        for row in x[:5]:
            finish(as_points(row))
        for row in x[5:]:
            finish(as_points(row), counted=False)
        problems = item_stats_rebuild.check()
        assert problems and "30 finished but not judged" in problems[0]
        begin_write()
        assert item_stats_rebuild.rebuild() == 30
        db.session.commit()
        assert_in_step()
        assert item_stats_read.read("2026.1").dimensions["werte"].n == 35

        begin_write()
        t = ItemStatSum.__table__.c
        db.session.execute(
            update(ItemStatSum.__table__)
            .where(t.item_a == "", t.dimension == "werte")
            .values(total=t.total + 1)
        )
        db.session.commit()
        problems = item_stats_rebuild.check()
        assert (
            len(problems) == 1
            and "item_stat_sums" in problems[0]
            and "kept 36, raw rows 35" in problems[0]
        )
        # A straight-lining flag the answers disagree with is reported too.
        begin_write()
        db.session.execute(update(Response.__table__).values(quality_flags=STRAIGHT_LINING))
        db.session.commit()
        assert any("straight-lining" in p for p in item_stats_rebuild.check())


@contextmanager
def nullable_points() -> Iterator[None]:
    """Let `answers.points` hold NULL (content 2026.2's N/A answers) if the schema does not yet.

    A no-op once a migration makes the column nullable. SQLite's test file is a copy of its own;
    PostgreSQL's schema is shared by the session's tests, so the constraint comes back after.
    """
    column = next(c for c in inspect(db.engine).get_columns("answers") if c["name"] == "points")
    if column["nullable"]:
        yield
        return
    db.session.remove()
    if db.engine.dialect.name == "postgresql":
        with db.engine.begin() as conn:
            conn.execute(text("ALTER TABLE answers ALTER COLUMN points DROP NOT NULL"))
        try:
            yield
        finally:
            db.session.remove()
            with db.engine.begin() as conn:
                conn.execute(text("DELETE FROM answers WHERE points IS NULL"))
                conn.execute(text("ALTER TABLE answers ALTER COLUMN points SET NOT NULL"))
        return
    with db.engine.begin() as conn:  # answers has no children, so a copy loses nothing
        ddl = conn.execute(
            text("SELECT sql FROM sqlite_master WHERE name = 'answers'")
        ).scalar_one()
        indexes = (
            conn.execute(
                text(
                    "SELECT sql FROM sqlite_master WHERE tbl_name = 'answers' AND type = 'index' AND sql IS NOT NULL"
                )
            )
            .scalars()
            .all()
        )
        relaxed = ddl.replace("points INTEGER NOT NULL", "points INTEGER")
        assert relaxed != ddl
        conn.execute(text("ALTER TABLE answers RENAME TO answers_old"))
        conn.execute(text(relaxed))
        conn.execute(text("INSERT INTO answers SELECT * FROM answers_old"))
        conn.execute(text("DROP TABLE answers_old"))
        for index in indexes:
            conn.execute(text(index))
    yield


def test_not_applicable_answers_leave_the_response_out_of_that_dimension_only(app: Flask) -> None:
    x = generated(9, 40)
    with app.app_context(), nullable_points():
        for row in x[:30]:
            finish(as_points(row))
        for row in x[30:]:
            finish(as_points(row), not_applicable={"pr_1"})
        assert_in_step()
        report = item_stats_read.read("2026.1")
        werte, preise = x[:, :4], x[:30, 4:]
        assert report.dimensions["werte"].n == 40
        assert report.dimensions["werte"].alpha == pytest.approx(numpy_alpha(werte), rel=1e-12)
        assert report.dimensions["preise"].n == 30
        assert report.dimensions["preise"].alpha == pytest.approx(numpy_alpha(preise), rel=1e-12)
        question = report.questions["pr_1"]
        assert question.not_applicable == 10 and question.counts["kam_nicht_vor"] == 10
        assert question.analysis.distribution.n == 30
        assert question.analysis.distribution.mean == pytest.approx(x[:30, 6].mean(), rel=1e-12)
        # Every applicable answer counts for an item's own figures, complete or not.
        pr_2 = report.questions["pr_2"].analysis.distribution
        assert pr_2.n == 40 and pr_2.mean == pytest.approx(x[:, 4].mean(), rel=1e-12)


def test_read_counts_drafts_by_the_step_they_stopped_at(app: Flask) -> None:
    with app.app_context():
        for steps in (0, 2, 2, 5):
            add_response(started="2026-10-01 10:00:00", steps=steps)
        add_response(started="2026-10-01 10:00:00", steps=3, demo=True)
        add_response(started="2026-10-01 10:00:00", finished="2026-10-01 10:09:00")
        add_response(started="2026-10-01 10:00:00", steps=1, version="2026.2")
        assert item_stats_read.read("2026.1").drafts_by_steps == {0: 1, 2: 2, 3: 1, 5: 1}
        assert item_stats_read.read("2026.1", demo="exclude").drafts_by_steps == {0: 1, 2: 2, 5: 1}
        assert item_stats_read.read("2026.1", demo="only").drafts_by_steps == {3: 1}


def test_on_finish_needs_the_stored_finish_time(app: Flask) -> None:
    with app.app_context():
        begin_write()
        response = Response(
            draft_token=secrets.token_urlsafe(24),
            status="draft",
            content_version="2026.1",
            content_hash="0" * 64,
            started_at=START,
            step_times={},
        )
        db.session.add(response)
        db.session.flush()
        with pytest.raises(ValueError, match="finished_at"):
            item_stats.on_finish(response, answers_for(as_points(generated(10, 1)[0])))
        db.session.rollback()


def test_an_item_everyone_answers_with_zero_points_still_counts_in_alpha(app: Flask) -> None:
    x = generated(11, 40)
    x[:, 1] = 0  # we_b: the floor for everyone, so every sum it has is 0
    with app.app_context():
        for row in x:
            finish(as_points(row))
        report = item_stats_read.read("2026.1")
        werte = report.dimensions["werte"]
        assert werte.alpha == pytest.approx(numpy_alpha(x[:, :4]), rel=1e-12)
        assert werte.items["we_b"].item_total_r is None  # no variance
        assert [f.code for f in werte.items["we_b"].flags] == ["floor"]


def test_concurrent_finishes_and_deletes_keep_the_counters_in_step(app: Flask) -> None:
    threads_n, per_thread = 6, 4
    x = generated(12, threads_n * per_thread)
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads_n)

    def taker(index: int) -> None:
        try:
            with app.app_context():
                barrier.wait(timeout=30)
                ids = [
                    finish(as_points(x[index * per_thread + i]), demo=i == 0)
                    for i in range(per_thread)
                ]
                delete(ids[-1])
                db.session.remove()
        except BaseException as exc:  # re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=taker, args=(i,)) for i in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors[0]
    with app.app_context():
        assert_in_step()
        assert item_stats_read.read("2026.1").finished == threads_n * (per_thread - 1)
