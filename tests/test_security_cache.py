"""No cache keeps a page with personal data: every route of the app, found in its URL map.

A route is personal unless `security.PUBLIC_ENDPOINTS` names it, so a new route is checked here
the day it is added; the only thing it may need is a value for a new kind of URL parameter.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from quiz.experiments import lifecycle
from quiz.experiments.lifecycle import VariantInput
from quiz.extensions import db
from quiz.links import DATA, OPTIN, REASSESS, UNSUBSCRIBE, make_cta_token, make_token
from quiz.site import settings as site_settings
from quiz.taker import pdf
from quiz.web.security import NO_STORE, PUBLIC_ENDPOINTS
from quiz.webhooks import endpoints
from quiz.webhooks.models import WebhookDelivery
from tests.coach_factories import create_test_coach, login
from tests.factories import finished_response, reassessment

# The link purpose of each blueprint's `token`; the public and PDF routes take the result token.
TOKEN_PURPOSE = {
    "account.confirm": OPTIN,
    "account.confirm_post": OPTIN,
    "account.unsubscribe": UNSUBSCRIBE,
    "account.unsubscribe_post": UNSUBSCRIBE,
}


def _values(app: Flask) -> dict[str, Callable[[str], object]]:
    """A value that reaches the real page, per URL parameter name (given the endpoint)."""
    with app.app_context():
        endpoint, _secret = endpoints.add_endpoint("https://hooks.example.com/catch?key=1")
        endpoint_id = endpoint.id
    # The finish queues a delivery to that endpoint, for the delivery log's routes.
    taker = finished_response(app, first_name="Anna")
    # Its re-assessment, for the before-and-after chart (issue 24).
    again = reassessment(app, taker)
    with app.app_context():
        delivery_id = db.session.scalar(select(WebhookDelivery.id))
    assert delivery_id is not None
    with app.app_context():
        experiment_id = lifecycle.create(
            "Überschrift",
            "landing_headline",
            "start",
            [VariantInput("A", "Erste Fassung"), VariantInput("B", "Zweite Fassung")],
            "coach:c@example.com",
        )

    with app.app_context():
        site_settings.update({"cta.url": "https://termine.example.com/"}, changed_by="test")

    def token(endpoint: str) -> str:
        if endpoint == "cta.follow":
            return make_cta_token(app.config, taker.id, taker.token, "result")
        if endpoint.startswith("reassess.start"):
            return make_token(app.config, REASSESS, taker.id, taker.token)
        if endpoint == "reassess.progress_chart":
            return again.token
        if endpoint.startswith("account."):
            purpose = TOKEN_PURPOSE.get(endpoint, DATA)
            return make_token(app.config, purpose, taker.id, taker.token)
        return taker.token

    return {
        "token": token,
        "number": lambda _endpoint: 1,
        "response_id": lambda _endpoint: taker.id,
        "endpoint_id": lambda _endpoint: endpoint_id,
        "delivery_id": lambda _endpoint: delivery_id,
        "experiment_id": lambda _endpoint: experiment_id,
        "name": lambda _endpoint: "scores",
        "group": lambda _endpoint: "marke",
    }


METRICS_TOKEN = "metrics-token-for-the-cache-test-0123456789"
METRICS_BEARER = {"Authorization": f"Bearer {METRICS_TOKEN}"}


@pytest.mark.dialect_independent
@pytest.mark.app_config(QUIZ_METRICS_TOKEN=METRICS_TOKEN)
def test_every_personal_route_forbids_every_cache(app: Flask, client: FlaskClient) -> None:
    create_test_coach(app)
    values_for = _values(app)
    assert login(client).status_code == 302
    checked: list[str] = []
    rules = sorted(app.url_map.iter_rules(), key=lambda rule: (rule.rule, rule.endpoint))
    urls = app.url_map.bind("localhost")
    for rule in rules:
        if rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        unknown = set(rule.arguments) - set(values_for)
        assert not unknown, f"{rule.rule}: add a value for {unknown} to this test"
        url = urls.build(rule.endpoint, {a: values_for[a](rule.endpoint) for a in rule.arguments})
        for method in sorted((rule.methods or set()) & {"GET", "POST"}):
            # POSTs carry no form token: the refusal must not be cached either, and nothing
            # changes (but the one-click unsubscribe, which needs none).
            headers = METRICS_BEARER if rule.endpoint == "metrics.metrics" else {}
            answer = client.open(url, method=method, headers=headers)
            if rule.endpoint == "cta.follow":  # the redirect to the coach's booking page
                assert answer.status_code == 303, (url, answer.status_code)
            elif method == "GET" and rule.endpoint not in (
                "coach.login",
                "public.step",
                "public.extra",
            ):
                assert answer.status_code in (200, 202), (url, answer.status_code)
            assert answer.headers.get("Cache-Control") == NO_STORE, (method, url)
            checked.append(f"{method} {rule.rule}")
    assert pdf.wait_for_renders(app, timeout=60)
    assert "GET /r/<token>" in checked and "GET /daten/<token>/export.json" in checked
    assert "GET /coach/leads/<row_id:response_id>" in checked
    assert len(checked) >= 35


@pytest.mark.dialect_independent
def test_public_pages_may_be_cached_only_by_their_own_rules(client: FlaskClient) -> None:
    """The landing page and the privacy notice show nobody's data and keep their defaults."""
    for url in ("/", "/datenschutz", "/healthz"):
        assert "no-store" not in client.get(url).headers.get("Cache-Control", ""), url
