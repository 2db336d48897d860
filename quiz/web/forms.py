"""Forms: one built per quiz page from the content, and the lead form of the last step.

Validation messages are German because takers read them; they live here, next to the validators
that raise them, as WTForms expects.
"""

from __future__ import annotations

from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, Field, RadioField, StringField
from wtforms.fields import SelectChoice  # type: ignore[attr-defined]  # new in WTForms 3.3; types-WTForms stops at 3.2
from wtforms.form import BaseForm
from wtforms.validators import InputRequired, Length, Optional, ValidationError

from quiz import caches
from quiz.domain.content import Choice, Content, Page
from quiz.mail.headers import ENCODED_WORD, format_characters, unsafe_name
from quiz.taker.responses import Lead

CHOOSE_ONE = "Bitte wählen Sie eine Antwort."
INVALID_CHOICE = "Bitte wählen Sie eine der angebotenen Antworten."


class AnswerField(RadioField):
    """A radio group whose 'not a valid choice' message is German and shown only once."""

    def __init__(self, label: str, options: tuple[Choice, ...], **kwargs: Any) -> None:
        super().__init__(
            label, choices=[SelectChoice(option.id, option.label) for option in options], **kwargs
        )
        self.allowed = frozenset(option.id for option in options)

    def pre_validate(self, form: BaseForm) -> None:
        """Refuse values that are not among the choices; a missing one is InputRequired's job."""
        if self.data is not None and self.data not in self.allowed:
            raise ValidationError(INVALID_CHOICE)


class StepForm(FlaskForm):
    """Base class of the per-page forms; `build_step_form` adds one radio group per question."""

    def answers(self) -> dict[str, str]:
        """The valid answers given on this page (partial on 'back')."""
        result: dict[str, str] = {}
        for name, field in self._fields.items():
            if isinstance(field, AnswerField) and field.data in field.allowed:
                result[name] = field.data
        return result


def build_step_form(content: Content, page: Page, **kwargs: Any) -> StepForm:
    """A form with one required radio group per question of this page.

    The form class depends only on the (immutable) content and the page's questions (the extra
    page's depend on the answers): it is built once per app (`quiz.caches`), the form itself
    per request.
    """
    form_class: type[StepForm] = caches.current().step_forms.get_or_make(
        (content.sha256, page.id, *(q.id for q in page.questions)),
        lambda: _step_form_class(content, page),
    )
    return form_class(**kwargs)


def _step_form_class(content: Content, page: Page) -> type[StepForm]:
    fields = {
        question.id: AnswerField(
            question.text,
            content.choices(question.id),
            validators=[InputRequired(message=CHOOSE_ONE)],
        )
        for question in page.questions
    }
    return type(f"PageForm_{page.id}", (StepForm,), fields)


def no_line_breaks(_form: FlaskForm, field: Field) -> None:
    """CR or LF in a name or address could smuggle email headers in; refuse them."""
    if field.data and ("\r" in field.data or "\n" in field.data):
        raise ValidationError("Bitte ohne Zeilenumbrüche eingeben.")


def no_control_characters(_form: FlaskForm, field: Field) -> None:
    """NUL and other control characters have no place in a name or address."""
    if field.data and any(ord(char) < 32 for char in field.data if char not in "\r\n"):
        raise ValidationError("Diese Eingabe enthält ungültige Zeichen.")


def no_encoded_words(_form: FlaskForm, field: Field) -> None:
    """An RFC 2047 encoded word (=?…?=) in a name could turn into email headers; refuse it.

    Line separators a header could break on are refused too. The name is otherwise kept exactly
    as typed.
    """
    if field.data and ENCODED_WORD.search(field.data):
        raise ValidationError(
            "Bitte geben Sie Ihren Vornamen ohne die Zeichenfolge „=?…?=“ ein: E-Mail-Programme "
            "lesen sie als Steuerbefehl, deshalb können wir sie im Namen leider nicht verwenden."
        )
    if field.data and format_characters(field.data):
        raise ValidationError(
            "Ihr Vorname enthält unsichtbare Steuerzeichen (etwa zur Schreibrichtung), die wir "
            "nicht verwenden können. Bitte tippen Sie ihn noch einmal von Hand ein."
        )
    if field.data and unsafe_name(field.data):
        raise ValidationError("Diese Eingabe enthält ungültige Zeichen.")


def valid_email(_form: FlaskForm, field: Field) -> None:
    """Check the address with email-validator (syntax only; no DNS lookups in a request)."""
    if not field.data:
        return
    try:
        result = validate_email(field.data, check_deliverability=False)
    except EmailNotValidError:
        raise ValidationError(
            "Bitte geben Sie eine gültige E-Mail-Adresse ein, z. B. name@beispiel.de."
        ) from None
    if ENCODED_WORD.search(result.local_part):
        raise ValidationError(
            "Bitte geben Sie Ihre E-Mail-Adresse ohne die Zeichenfolge „=?…?=“ an: "
            "E-Mail-Programme lesen sie als Steuerbefehl und sähen darin eine andere Adresse."
        )
    field.data = result.normalized


class LeadForm(FlaskForm):
    """The last step: where to send the result, and the consents."""

    first_name = StringField(
        "Vorname (optional)",
        validators=[
            Optional(),
            Length(max=100, message="Bitte höchstens 100 Zeichen."),
            no_line_breaks,
            no_control_characters,
            no_encoded_words,
        ],
        filters=[lambda value: value.strip() if isinstance(value, str) else value],
    )
    email = EmailField(
        "E-Mail-Adresse",
        validators=[
            Length(max=254, message="Diese Adresse ist zu lang."),
            no_line_breaks,
            no_control_characters,
            valid_email,
        ],
        filters=[lambda value: value.strip() if isinstance(value, str) else value],
    )
    consent_data = BooleanField("")
    consent_marketing = BooleanField("")
    # Honeypot: hidden from people by CSS and aria-hidden; bots fill in every field.
    website = StringField("Website")

    def __init__(self, *args: Any, require_email: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.require_email = require_email

    def validate_email(self, field: Field) -> None:
        """Required when the site requires it, or when the data consent is ticked."""
        if not field.data and (self.require_email or self.consent_data.data):
            raise ValidationError("Bitte geben Sie Ihre E-Mail-Adresse an.")

    def validate_consent_data(self, field: Field) -> None:
        """Without this consent nothing may be stored or sent."""
        if not field.data and (self.require_email or self.email.data):
            raise ValidationError(
                "Bitte stimmen Sie zu, damit wir Ihr Ergebnis speichern und senden dürfen."
            )

    def validate_consent_marketing(self, field: Field) -> None:
        """Newsletter consent needs an address to confirm."""
        if field.data and not self.email.data:
            raise ValidationError("Für den Newsletter brauchen wir Ihre E-Mail-Adresse.")

    @property
    def is_bot(self) -> bool:
        """True when the honeypot was filled in."""
        return bool(self.website.data)

    def lead(self) -> Lead:
        """The lead as entered, for the finish."""
        return Lead(
            first_name=self.first_name.data or None,
            email=self.email.data or None,
            consent_data=bool(self.consent_data.data),
            consent_marketing=bool(self.consent_marketing.data),
        )


class CarriedLeadForm(FlaskForm):
    """The last step of a re-assessment from the invitation's link: only the button, as the
    address and the consents come with the earlier response (quiz.taker.responses.finish)."""

    is_bot = False

    def lead(self) -> Lead:
        """An empty lead: the finish fills it in from the draft."""
        return Lead(first_name=None, email=None, consent_data=True, consent_marketing=False)
