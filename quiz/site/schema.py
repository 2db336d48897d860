"""The site's settings: every key, its group on the settings page, its default and its check.

Plain data and pure functions (no Flask, no database), so the settings page, the command line and
the tests check a value the same way; how each kind of value is checked is quiz.site.value_checks.
Secrets never live here: they stay in the environment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from quiz.site.value_checks import (
    MAX_FOLLOWUPS,
    Check,
    SettingError,
    check_bool,
    check_color,
    check_cta_url,
    check_days,
    check_duration,
    check_email,
    check_frame_ancestors,
    check_optional_duration,
    check_phone,
    image_check,
    schedule_check,
    text_check,
)

# The default brand colour of the stylesheet (static/css/site.css), white text on it: 8.3:1.
DEFAULT_COLOR = "#0b5563"
IMAGE_KINDS = ("image",)


@dataclass(frozen=True)
class Setting:
    """One setting: where it is shown, what it looks like and how it is checked."""

    key: str
    group: str
    label: str
    kind: str  # text, multiline, email, url, bool, color, image, frame_ancestors, duration_list
    default: str | bool = ""
    help: str = ""
    max_length: int = 200
    placeholder: str = ""
    # Part of the Impressum (§ 5 DDG): the dashboard and check-deploy insist on it.
    required_for_impressum: bool = False
    # An empty value switches the feature off rather than restoring the default.
    empty_is_off: bool = False
    check: Check | None = field(default=None, compare=False)


GROUPS: tuple[tuple[str, str], ...] = (
    ("brand", "Marke"),
    ("contact", "Kontakt & Impressum"),
    ("privacy", "Datenschutz"),
    ("cta", "Handlungsaufforderung"),
    ("mail", "E-Mail-Absender"),
    ("notify", "Benachrichtigungen"),
    ("followup", "Nachfass-E-Mails"),
    ("embed", "Einbetten"),
)


DEFAULT_BRAND = "Ihre Praxis"
DEFAULT_CTA_LABEL = "Kostenloses Erstgespräch vereinbaren"
DEFAULT_CTA_TEXT = (
    "Sie möchten Ihren Engpass nicht allein angehen? In einem kostenlosen Erstgespräch schauen "
    "wir gemeinsam auf Ihre Antworten und klären, womit Sie am besten anfangen."
)

_BASE: tuple[Setting, ...] = (
    Setting(
        "brand.name",
        "brand",
        "Name Ihrer Praxis oder Marke",
        "text",
        DEFAULT_BRAND,
        "Steht im Kopf jeder Seite, in den E-Mails, im PDF und im Vorschaubild.",
        max_length=80,
        placeholder="z. B. Praxis Muster – Coaching für Selbstständige",
        check=text_check(80),
    ),
    Setting(
        "brand.logo",
        "brand",
        "Logo",
        "image",
        "",
        "PNG oder JPEG, höchstens 2 MB; es wird auf dieser Website gespeichert und ausgeliefert.",
        check=image_check,
    ),
    Setting(
        "brand.color",
        "brand",
        "Markenfarbe",
        "color",
        DEFAULT_COLOR,
        "Hex-Farbwert für Knöpfe und Überschriften; weiße Schrift darauf muss gut lesbar sein.",
        max_length=7,
        check=check_color,
    ),
    Setting(
        "contact.name",
        "contact",
        "Name (Person oder Firma)",
        "text",
        "",
        "Wer für diese Website verantwortlich ist: Impressum und Datenschutzhinweis.",
        max_length=120,
        placeholder="Ihr Name",
        required_for_impressum=True,
        check=text_check(120),
    ),
    Setting(
        "contact.address",
        "contact",
        "Postanschrift",
        "multiline",
        "",
        "Straße, Hausnummer, PLZ und Ort, jeweils in einer eigenen Zeile.",
        max_length=400,
        placeholder="Musterstraße 1\n12345 Musterstadt",
        required_for_impressum=True,
        check=text_check(400, multiline=True),
    ),
    Setting(
        "contact.email",
        "contact",
        "E-Mail-Adresse",
        "email",
        "",
        "Für das Impressum und als Antwortadresse der Handlungsaufforderung.",
        max_length=254,
        placeholder="name@ihre-praxis.de",
        required_for_impressum=True,
        check=check_email,
    ),
    Setting(
        "contact.phone",
        "contact",
        "Telefon (optional)",
        "text",
        "",
        max_length=40,
        placeholder="+49 30 1234567",
        check=check_phone,
    ),
    Setting(
        "legal.impressum_extra",
        "contact",
        "Weitere Angaben im Impressum (optional)",
        "multiline",
        "",
        "z. B. Umsatzsteuer-Identifikationsnummer, Kammer und Berufsbezeichnung, Register.",
        max_length=2000,
        check=text_check(2000, multiline=True),
    ),
    Setting(
        "privacy.hosting",
        "privacy",
        "Hosting-Anbieter (optional)",
        "multiline",
        "",
        "Name und Anschrift des Anbieters, bei dem diese Website läuft; er verarbeitet die Daten "
        "in Ihrem Auftrag.",
        max_length=400,
        check=text_check(400, multiline=True),
    ),
    Setting(
        "privacy.extra",
        "privacy",
        "Ergänzung zum Datenschutzhinweis (optional)",
        "multiline",
        "",
        "Wird unter dem erzeugten Hinweis angezeigt, z. B. die Kontaktdaten Ihres "
        "Datenschutzbeauftragten.",
        max_length=5000,
        check=text_check(5000, multiline=True),
    ),
    Setting(
        "cta.label",
        "cta",
        "Beschriftung des Knopfs",
        "text",
        DEFAULT_CTA_LABEL,
        max_length=60,
        check=text_check(60),
    ),
    Setting(
        "cta.url",
        "cta",
        "Ziel des Knopfs",
        "url",
        "",
        "Eine https://-Adresse (z. B. Ihr Terminkalender) oder ein mailto:-Link. Leer: eine "
        "E-Mail an die Adresse unter „Kontakt“.",
        max_length=500,
        placeholder="https://ihre-praxis.de/termin",
        check=check_cta_url,
    ),
    Setting(
        "cta.text",
        "cta",
        "Text über dem Knopf",
        "multiline",
        DEFAULT_CTA_TEXT,
        max_length=400,
        check=text_check(400, multiline=True),
    ),
    Setting(
        "mail.sender_name",
        "mail",
        "Absendername",
        "text",
        "",
        "Leer: der Name Ihrer Marke.",
        max_length=80,
        check=text_check(80),
    ),
    Setting(
        "mail.sender_address",
        "mail",
        "Absenderadresse",
        "email",
        "",
        "Eine Adresse, die Ihr E-Mail-Anbieter für diesen Server zulässt. Leer: die Adresse aus "
        "MAIL_FROM.",
        max_length=254,
        placeholder="quiz@ihre-praxis.de",
        check=check_email,
    ),
    Setting(
        "notify.new_lead",
        "notify",
        "E-Mail an mich bei jedem neuen Kontakt",
        "bool",
        False,
        "Nach jeder bestätigten Newsletter-Anmeldung: Vorname, Engpass und Werte, mit Link zum "
        "Kontakt. Sie geht an die E-Mail-Adresse unter „Kontakt“.",
        check=check_bool,
    ),
    Setting(
        "embed.frame_ancestors",
        "embed",
        "Websites, die das Quiz einbetten dürfen",
        "frame_ancestors",
        "'self'",
        "Durch Leerzeichen getrennt, z. B. 'self' https://www.ihre-praxis.de",
        max_length=1000,
        check=check_frame_ancestors,
    ),
)


def followup_settings(available: int) -> tuple[Setting, ...]:
    """The follow-up series' settings; `available`: emails per dimension in the content."""
    return (
        Setting(
            "followup.enabled",
            "followup",
            "Nachfass-E-Mails senden",
            "bool",
            True,
            "Nur an Personen, die den Newsletter per E-Mail bestätigt haben, passend zu ihrem "
            "Engpass. Wer sich vor dem Einschalten angemeldet hat, erhält keine.",
            check=check_bool,
        ),
        Setting(
            "followup.schedule",
            "followup",
            "Zeitpunkte nach der Bestätigung",
            "duration_list",
            "2d 5d 10d",
            "Eine E-Mail je Zeitpunkt, z. B. 2d 5d 10d (s, m, h, d = Tage, w = Wochen).",
            max_length=100,
            check=schedule_check(available),
        ),
        Setting(
            "followup.min_gap",
            "followup",
            "Mindestabstand zwischen zwei Nachfass-E-Mails",
            "duration",
            "1d",
            "Auch nach einer Störung nie mehr als eine Nachfass-E-Mail je Person in dieser Zeit.",
            max_length=20,
            check=check_duration,
        ),
        Setting(
            "followup.reassess_after",
            "followup",
            "Einladung zur erneuten Einschätzung nach",
            "duration",
            "8w",
            "Wer den Newsletter bestätigt hat, wird nach dieser Zeit eingeladen, das Quiz erneut "
            "zu machen, und sieht dann vorher und nachher (z. B. 8w). Leer: keine Einladung.",
            max_length=20,
            empty_is_off=True,
            check=check_optional_duration,
        ),
        Setting(
            "followup.link_days",
            "followup",
            "Gültigkeit des Einladungslinks (Tage)",
            "text",
            "30",
            "So viele Tage nach dem Versand startet der Link der Einladung das Quiz erneut.",
            max_length=3,
            check=check_days,
        ),
        Setting(
            "followup.stop_on_click",
            "followup",
            "Nach einem Klick auf die Handlungsaufforderung keine weiteren senden",
            "bool",
            True,
            check=check_bool,
        ),
    )


def cta_text_setting(dimension_id: str, dimension_name: str) -> Setting:
    """The optional text of the call to action when this dimension is the bottleneck."""
    return Setting(
        f"cta.text.{dimension_id}",
        "cta",
        f"Text bei Engpass „{dimension_name}“ (optional)",
        "multiline",
        "",
        "Leer: der allgemeine Text.",
        max_length=400,
        check=text_check(400, multiline=True),
    )


@dataclass(frozen=True)
class Schema:
    """Every setting of this site, by key, in page order."""

    settings: tuple[Setting, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_key", {s.key: s for s in self.settings})

    def get(self, key: str) -> Setting | None:
        """The setting of this key, or None."""
        by_key: Mapping[str, Setting] = object.__getattribute__(self, "_by_key")
        return by_key.get(key)

    def defaults(self) -> dict[str, str | bool]:
        """Every key with its default."""
        return {s.key: s.default for s in self.settings}

    def check(self, key: str, raw: str) -> str | bool:
        """The value as stored; SettingError for an unknown key or a bad value."""
        setting = self.get(key)
        if setting is None:
            raise SettingError(key, "Diese Einstellung gibt es nicht.")
        assert setting.check is not None
        return setting.check(key, raw)

    def in_group(self, group: str) -> list[Setting]:
        """The settings of one group of the settings page, in order."""
        return [s for s in self.settings if s.group == group]


def build_schema(
    dimensions: Sequence[tuple[str, str]] = (), followups_available: int = MAX_FOLLOWUPS
) -> Schema:
    """The schema with an optional call-to-action text per (dimension id, name), and the
    follow-up settings for as many emails per dimension as the content has."""
    extra = tuple(cta_text_setting(i, name) for i, name in dimensions)
    cta_end = max(i for i, s in enumerate(_BASE) if s.group == "cta") + 1
    notify_end = max(i for i, s in enumerate(_BASE) if s.group == "notify") + 1
    return Schema(
        _BASE[:cta_end]
        + extra
        + _BASE[cta_end:notify_end]
        + followup_settings(followups_available)
        + _BASE[notify_end:]
    )
