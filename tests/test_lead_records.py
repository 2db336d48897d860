"""Leads the coach can work: status with history, notes and tags on the lead's page, the leads
list filtered and sorted by them, the CSV and `lead.updated` carrying status and tags (never the
notes), and the taker's export, deletion and anonymising covering all of it."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from quiz.extensions import db
from quiz.models import LeadRecord, LeadStatusChange, LeadTag, Response, utcnow
from quiz.taker import lead_records, retention, rights
from quiz.webhooks import endpoints
from quiz.webhooks.models import WebhookDelivery
from tests.coach_factories import create_test_coach, csrf_token, login
from tests.factories import finished_response


@pytest.fixture
def coach(app: Flask, client: FlaskClient) -> FlaskClient:
    create_test_coach(app)
    assert login(client).status_code == 302
    return client


def _save(client: FlaskClient, lead_id: int, **form: str) -> object:
    page = client.get(f"/coach/leads/{lead_id}")
    data = {"csrf_token": csrf_token(page.get_data(as_text=True)), "status": "new", **form}
    return client.post(f"/coach/leads/{lead_id}/bearbeitung", data=data)


def _updated_events(app: Flask) -> list[dict[str, object]]:
    with app.app_context():
        rows = db.session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.event_type == "lead.updated")
            .order_by(WebhookDelivery.id)
        )
        return [json.loads(row.payload)["data"] for row in rows]


def test_the_coach_records_status_notes_and_tags_with_history_and_the_crm_hears_status_and_tags(
    app: Flask, coach: FlaskClient
) -> None:
    with app.app_context():
        endpoints.add_endpoint("https://crm.example.com/hook", events=["lead.updated"])
    taker = finished_response(app, first_name="Jana")

    saved = _save(
        coach,
        taker.id,
        status="contacted",
        notes="Rückruf Dienstag; Preisfrage ist heikel",
        tags="Workshop,  empfehlung , workshop",
    )
    _save(
        coach,
        taker.id,
        status="meeting",
        notes="Rückruf Dienstag; Preisfrage ist heikel",
        tags="Workshop, Empfehlung",
    )

    assert saved.status_code == 302  # type: ignore[attr-defined]
    page = coach.get(f"/coach/leads/{taker.id}").get_data(as_text=True)
    assert "Rückruf Dienstag" in page
    assert 'value="Empfehlung, Workshop"' in page
    assert "neu → kontaktiert" in page and "kontaktiert → Gespräch vereinbart" in page
    events = _updated_events(app)
    assert [(e["status"], e["tags"]) for e in events] == [
        ("contacted", ["Workshop", "empfehlung"]),
        ("meeting", ["Empfehlung", "Workshop"]),
    ]
    assert all("Rückruf" not in json.dumps(e) for e in events)
    assert events[0]["first_name"] == "Jana"  # the data consent covers the contact


def test_saving_the_same_values_again_records_and_sends_nothing_new(
    app: Flask, coach: FlaskClient
) -> None:
    with app.app_context():
        endpoints.add_endpoint("https://crm.example.com/hook", events=["lead.updated"])
    taker = finished_response(app)

    for _ in range(2):
        _save(coach, taker.id, status="client", notes="", tags="VIP")

    assert len(_updated_events(app)) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(LeadStatusChange)) == 1


@pytest.mark.dialect_independent
@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("tags", "gut,\u202egnaL", "keine Steuer- oder unsichtbaren Zeichen"),
        ("tags", "x" * 41, "höchstens 40 Zeichen"),
        ("tags", ",".join(f"t{n}" for n in range(13)), "höchstens 12 Schlagwörter"),
        ("status", "vip", "einen der angebotenen Status"),
        ("notes", "n" * 10_001, "höchstens 10.000 Zeichen"),
    ],
)
def test_a_refused_value_keeps_what_was_typed_and_stores_nothing(
    app: Flask, coach: FlaskClient, field: str, value: str, message: str
) -> None:
    taker = finished_response(app)
    form = {"status": "contacted", "notes": "Meine Notiz", "tags": "eins", field: value}

    refused = _save(coach, taker.id, **form)

    html = refused.get_data(as_text=True)  # type: ignore[attr-defined]
    assert refused.status_code == 422  # type: ignore[attr-defined]
    assert message in html
    if field != "notes":
        assert "Meine Notiz" in html
    with app.app_context():
        assert db.session.get(LeadRecord, taker.id) is None
        assert db.session.scalar(select(func.count()).select_from(LeadTag)) == 0


def test_the_leads_list_filters_by_status_and_tag_and_sorts_by_status(
    app: Flask, coach: FlaskClient
) -> None:
    first = finished_response(app, first_name="Erste", seed=1)
    second = finished_response(app, first_name="Zweite", email="zwei@example.com", seed=2)
    finished_response(app, first_name="Dritte", email="drei@example.com", seed=3)
    with app.app_context():
        lead_records.update(first.id, status="client", notes="", tags=["Workshop"])
        lead_records.update(second.id, status="contacted", notes="", tags=["Empfehlung"])

    by_status = coach.get("/coach/leads?status=client").get_data(as_text=True)
    by_tag = coach.get("/coach/leads?tag=empfehlung").get_data(as_text=True)
    sorted_page = coach.get("/coach/leads?sort=status").get_data(as_text=True)
    bad = coach.get("/coach/leads?status=vip").get_data(as_text=True)

    assert "Erste" in by_status and "Zweite" not in by_status and "Dritte" not in by_status
    assert "Zweite" in by_tag and "Erste" not in by_tag
    # new (Dritte) before contacted (Zweite) before client (Erste)
    assert sorted_page.index("Dritte") < sorted_page.index("Zweite") < sorted_page.index("Erste")
    assert "Dritte" in bad and "Status" in bad  # ignored and named, like every bad filter


def test_the_csv_carries_status_and_tags_but_never_the_notes(
    app: Flask, coach: FlaskClient
) -> None:
    taker = finished_response(app, first_name="Jana")
    with app.app_context():
        lead_records.update(
            taker.id, status="meeting", notes="=HYPERLINK(geheim)", tags=["@Workshop", "B"]
        )

    body = coach.get("/coach/leads.csv?tag=b").get_data(as_text=True)

    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff")), delimiter=";"))
    assert rows[0][-2:] == ["Status", "Schlagwörter"]
    assert rows[1][-2:] == ["Gespräch vereinbart", "'@Workshop, B"]
    assert "geheim" not in body


def test_the_taker_export_and_deletion_cover_status_history_notes_and_tags(app: Flask) -> None:
    taker = finished_response(app)
    with app.app_context():
        lead_records.update(taker.id, status="contacted", notes="Notiz", tags=["Workshop"])
        lead_records.update(taker.id, status="client", notes="Notiz 2", tags=["Workshop"])
        from quiz.app_state import get_content

        exported = rights.export_data(get_content(), db.session.get(Response, taker.id))

        assert exported["coach"]["status"] == "client"
        assert exported["coach"]["notes"] == "Notiz 2"
        assert exported["coach"]["tags"] == ["Workshop"]
        assert [(c["from"], c["to"]) for c in exported["coach"]["status_history"]] == [
            ("new", "contacted"),
            ("contacted", "client"),
        ]

        assert rights.delete_data(taker.id)
        for model in (LeadRecord, LeadTag, LeadStatusChange):
            assert db.session.scalar(select(func.count()).select_from(model)) == 0


def test_anonymising_clears_the_notes_and_tags_and_keeps_the_status_and_its_history(
    app: Flask,
) -> None:
    """Notes and tags are free text that may name the person: they go when the response is
    anonymised; a lead finished after the cutoff keeps everything."""
    old, recent = finished_response(app), finished_response(app)
    with app.app_context():
        for taker in (old, recent):
            lead_records.update(
                taker.id, status="contacted", notes="Frau M., Tel. 0171", tags=["M."]
            )
    later = utcnow() + timedelta(days=400)
    with app.app_context():
        db.session.execute(
            update(Response)
            .where(Response.id == recent.id)
            .values(finished_at=later - timedelta(days=1))
        )
        db.session.commit()
        report = retention.purge(optin_days=30, anonymise_days=365, now=later)
        assert report.responses_anonymised == 1
        db.session.expire_all()
        gone, kept = lead_records.work_on(old.id), lead_records.work_on(recent.id)
    assert (gone.notes, gone.tags, gone.status) == ("", (), "contacted")
    assert [(c.old_status, c.new_status) for c in gone.history] == [("new", "contacted")]
    assert (kept.notes, kept.tags, kept.status) == ("Frau M., Tel. 0171", ("M.",), "contacted")
