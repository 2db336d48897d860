"""deploy/prometheus/engpass-quiz-alerts.yml: valid rules that use only series /metrics has.

`promtool check rules` runs when promtool is installed (Debian's `prometheus` package); the YAML
is always parsed and checked here, as promtool would for the structure.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from ruamel.yaml import YAML

from tests.conftest import ROOT
from tests.test_metrics import documented_series

RULES = ROOT / "deploy" / "prometheus" / "engpass-quiz-alerts.yml"
# Series of a histogram or counter that the README names by their family.
SERIES = re.compile(r"\b((?:quiz|node)_[a-z_]+)\b")
DURATION = re.compile(r"^\d+[smhd]$")


def rules() -> list[dict[str, object]]:
    """Every rule of the file (one group)."""
    document = YAML(typ="safe").load(RULES.read_text(encoding="utf-8"))
    (group,) = document["groups"]
    assert group["name"] == "engpass-quiz"
    found: list[dict[str, object]] = group["rules"]
    return found


@pytest.mark.dialect_independent
def test_the_alert_rules_are_well_formed() -> None:
    names = []
    for rule in rules():
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
        assert isinstance(rule["expr"], str) and rule["expr"].strip()
        assert DURATION.match(str(rule["for"])), rule
        assert rule["labels"]["severity"] in {"page", "warn"}  # type: ignore[index]
        assert rule["annotations"]["summary"]  # type: ignore[index]
        expr = rule["expr"]
        assert expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}")
        names.append(rule["alert"])
    assert len(names) == len(set(names))


@pytest.mark.dialect_independent
def test_the_alerts_cover_stuck_mail_server_errors_and_disk_with_series_that_exist() -> None:
    by_name = {str(rule["alert"]): str(rule["expr"]) for rule in rules()}
    assert "quiz_outbox_oldest_due_seconds) > 900" in by_name["EngpassQuizMailStuck"]
    assert 'status=~"5.."' in by_name["EngpassQuizServerErrors"]
    assert "node_filesystem_avail_bytes" in by_name["EngpassQuizDiskFilling"]
    used = {name for expr in by_name.values() for name in SERIES.findall(expr)}
    ours = {name for name in used if name.startswith("quiz_")}
    assert sorted(ours - documented_series()) == []


@pytest.mark.dialect_independent
@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_accepts_the_rules() -> None:
    subprocess.run(["promtool", "check", "rules", str(RULES)], check=True)
