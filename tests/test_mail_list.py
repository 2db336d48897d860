"""`flask --app quiz mail list`: the outbox for operators and scripts, never a local part."""

from __future__ import annotations

import json

from flask import Flask
from flask.testing import FlaskCliRunner

from tests.factories import finished_response


def test_mail_list_json_names_kind_status_due_time_and_domain_only(
    app: Flask, runner: FlaskCliRunner
) -> None:
    taker = finished_response(app, email="Kundin.Geheim@Beispiel.ORG", consent_marketing=True)

    result = runner.invoke(args=["mail", "list", "--json"])

    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert sorted(row["kind"] for row in rows) == ["optin", "result"]
    for row in rows:
        assert set(row) == {"id", "kind", "status", "due_at", "response_id", "recipient_domain"}
        assert row["status"] == "queued"
        assert row["response_id"] == taker.id
        assert row["recipient_domain"] == "beispiel.org"
        assert row["due_at"].endswith("Z") and "T" in row["due_at"]
    assert "geheim" not in result.output.lower()


def test_mail_list_filters_by_kind_and_status(app: Flask, runner: FlaskCliRunner) -> None:
    finished_response(app, consent_marketing=True)
    finished_response(app, email="zweite@example.com", seed=3)

    kinds = json.loads(runner.invoke(args=["mail", "list", "--json", "--kind", "optin"]).output)
    sent = json.loads(runner.invoke(args=["mail", "list", "--json", "--status", "sent"]).output)
    plain = runner.invoke(args=["mail", "list", "--status", "queued"])

    assert [row["kind"] for row in kinds] == ["optin"]
    assert sent == []
    assert "3 message(s)" in plain.output
    assert "kundin@" not in plain.output and "@example.com" in plain.output


def test_mail_list_refuses_an_unknown_status(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["mail", "list", "--status", "lost"])

    assert result.exit_code != 0
    assert "lost" in result.output
