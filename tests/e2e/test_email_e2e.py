"""The taker finishes the quiz in Chromium, the summary arrives by SMTP, its links work."""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from playwright.sync_api import expect

from quiz.app_state import get_content
from quiz.domain.scoring import sample_answers, score_answers
from quiz.mail.sender import deliver_due
from tests.mailserver import MailServer


@pytest.fixture
def mail_server() -> Iterator[MailServer]:
    """A real SMTP server in the test process."""
    server = MailServer().start()
    yield server
    server.stop()


def text_of(message: EmailMessage) -> str:
    """The plain-text part of a message."""
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def first_link(message: EmailMessage, base: str, path: str) -> str:
    """The first link under `base` + `path` in the plain-text part."""
    match = re.search(re.escape(base + path) + r"[^\s]+", text_of(message))
    assert match, f"no {path} link in the message"
    return match.group(0)


def test_summary_email_links_lead_to_the_result_and_confirm_the_optin(
    live_server: Any,
    page: Any,
    open_tab: Any,
    mail_server: MailServer,
    screenshot: Any,
    check_accessibility: Any,
) -> None:
    app = live_server.app
    app.config.update(mail_server.smtp_config(), PUBLIC_URL=live_server.url)
    content = get_content(app)
    # Seed 12 gets no extra page (tests/e2e/test_quiz_e2e.py takes one).
    answers = sample_answers(content, "random", seed=12)
    bottleneck = content.dimension_by_id[score_answers(content, answers).bottleneck].name

    # The quiz page by page, as a phone without JavaScript shows it: the flow is the subject of
    # tests/e2e/test_quiz_e2e.py (one question per screen too), the emails' links are this one's.
    taker = open_tab(javascript=False)
    taker.goto(live_server.url + "/")
    taker.get_by_role("button", name="Quiz starten").click()
    for number, quiz_page in enumerate(content.pages, start=1):
        taker.wait_for_url(f"**/quiz/{number}")
        for question in quiz_page.questions:
            taker.locator(
                f'label:has(input[name="{question.id}"][value="{answers[question.id]}"])'
            ).click()
        taker.get_by_role("button", name="Weiter").click()
    taker.get_by_label("E-Mail-Adresse").fill("jana@example.com")
    taker.locator('label[for="consent_data"]').click()
    taker.locator('label[for="consent_marketing"]').click()
    taker.get_by_role("button", name="Ergebnis anzeigen").click()
    taker.wait_for_url("**/r/*")
    result_url = taker.url

    report = deliver_due(app)

    assert report.sent == 2, report.errors
    messages = mail_server.wait_for(2)
    summary = next(m for m in messages if "Engpass-Analyse" in str(m["Subject"]))
    optin = next(m for m in messages if "bestätigen" in str(m["Subject"]))

    # The summary as a mail program shows it (the inline chart aside), then its link.
    html_part = summary.get_body(("html",))
    assert html_part is not None
    page.goto("about:blank")  # away from the site, whose CSP would block the inline styles
    page.set_content(html_part.get_content())  # type: ignore[attr-defined]
    screenshot(page, "summary-email")
    link = first_link(summary, live_server.url, "/r/")
    assert link == result_url
    page.goto(link)
    assert page.get_by_role("heading", level=1).inner_text() == f"Ihr größter Engpass: {bottleneck}"

    # The opt-in: the link shows a button, the click confirms.
    page.goto(first_link(optin, live_server.url, "/bestaetigen/"))
    check_accessibility(page)
    screenshot(page, "optin-confirm")
    page.get_by_role("button", name="Anmeldung bestätigen").click()
    expect(page.get_by_role("heading", name="Danke, Ihre Anmeldung ist bestätigt")).to_be_visible()
    check_accessibility(page)

    # The unsubscribe link at the foot of the summary.
    page.goto(first_link(summary, live_server.url, "/abmelden/"))
    check_accessibility(page)
    page.get_by_role("button", name="Jetzt abmelden").click()
    expect(page.get_by_role("heading", name="Sie sind abgemeldet")).to_be_visible()
    screenshot(page, "unsubscribed")
