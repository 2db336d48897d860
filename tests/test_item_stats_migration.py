"""Migration 0006 judges and counts the responses finished before it, and its downgrade keeps them."""

from __future__ import annotations

import numpy as np
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import func, select

from quiz.counters import item_stats_read, item_stats_rebuild
from quiz.counters.models import SPEEDER, STRAIGHT_LINING
from quiz.extensions import db
from quiz.models import Answer, Response
from tests.test_item_stats import STATEMENTS, as_points, finish, generated, nullable_points


def test_upgrade_counts_existing_responses_and_downgrade_keeps_them(app: Flask) -> None:
    x = generated(20, 40)
    with app.app_context():
        kept = finish(as_points(x[0]), counted=False)  # written before the downgrade
        db.session.remove()
        downgrade(revision="0005")
        try:
            assert db.session.execute(select(func.count()).select_from(Answer)).scalar() == 7
            for row in x[1:36]:
                finish(as_points(row), seconds=700, counted=False)
            lined = finish(
                {**as_points(x[36]), **dict.fromkeys(STATEMENTS, 0)}, seconds=700, counted=False
            )
            fast = finish(as_points(x[37]), seconds=200, counted=False)
            demo = finish(as_points(x[38]), seconds=200, demo=True, counted=False)
            with nullable_points():
                finish(as_points(x[39]), seconds=700, counted=False, not_applicable={"pr_1"})
                db.session.remove()
                upgrade()
                # Inside: on PostgreSQL leaving the block deletes the N/A answers again.
                flags = dict(
                    db.session.execute(
                        select(Response.__table__.c.id, Response.__table__.c.quality_flags)
                    ).all()
                )
                assert (
                    flags[kept] == 0 and flags[lined] == STRAIGHT_LINING and flags[fast] == SPEEDER
                )
                assert flags[demo] == 0  # one demo finish: no median to compare with
                assert item_stats_rebuild.check() == []
                report = item_stats_read.read("2026.1", demo="exclude", quality="clean")
                assert report.finished == 37
                assert report.questions["pr_1"].not_applicable == 1
                assert report.dimensions["preise"].n == 36 and report.dimensions["werte"].n == 37
                block = np.vstack([x[0], x[1:36], x[39]])[:, :4]
                k = block.shape[1]
                expected = (
                    k
                    / (k - 1)
                    * (1 - block.var(axis=0, ddof=1).sum() / block.sum(axis=1).var(ddof=1))
                )
                alpha = report.dimensions["werte"].alpha
                assert alpha is not None and abs(alpha - expected) < 1e-12
        finally:
            upgrade()
