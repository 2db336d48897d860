"""The site's settings: every key, its group on the settings page, its default and its check.

Plain data and pure functions (no Flask, no database), so the settings page, the command line and
the tests check a value the same way. A check either returns the value as it is stored (trimmed,
normalised) or raises `SettingError` with a German message for the coach. Secrets never live here:
they stay in the environment.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email

from quiz.site.durations import parse_duration, parse_durations

# The default brand colour of the stylesheet (static/css/site.css), white text on it: 8.3:1.
DEFAULT_COLOR = "#0b5563"
MIN_CONTRAST = 4.5  # WCAG 2.2 AA for normal text
IMAGE_KINDS = ("image",)
# Sources allowed among the frame ancestors: keywords and scheme://host[:port] origins.
_FRAME_SOURCE = re.compile(r"^('self'|'none'|https?://[A-Za-z0-9.*-]+(:\d+)?)$")
_HEX = re.compile(r"^#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})$")
_INVISIBLE = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]"
)


class SettingError(ValueError):
    """A value the coach entered cannot be used; `message` says why, in German."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


Check = Callable[[str, str], "str | bool"]


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


def _plain(key: str, raw: str, max_length: int, multiline: bool = False) -> str:
    """Trimmed text without control or bidi characters (line breaks only where allowed)."""
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    if not multiline and "\n" in text.strip():
        raise SettingError(key, "Bitte ohne Zeilenumbruch.")
    if _INVISIBLE.search(text.replace("\n", "").replace("\t", " ")):
        raise SettingError(key, "Bitte ohne Steuer- oder unsichtbare Zeichen.")
    text = "\n".join(line.strip() for line in text.strip().split("\n"))
    if len(text) > max_length:
        raise SettingError(key, f"Bitte höchstens {max_length} Zeichen.")
    return text


def relative_luminance(hex_color: str) -> float:
    """WCAG 2.2's relative luminance of a #rrggbb colour."""

    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast_with_white(hex_color: str) -> float:
    """The contrast ratio of white text on this colour (1 to 21)."""
    return 1.05 / (relative_luminance(hex_color) + 0.05)


def check_color(key: str, raw: str) -> str:
    """A #rrggbb colour on which white text reaches WCAG AA (4.5:1)."""
    match = _HEX.match(raw.strip())
    if not match:
        raise SettingError(key, "Bitte als Hex-Farbwert angeben, z. B. #0b5563.")
    digits = match.group(1).lower()
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    color = f"#{digits}"
    ratio = contrast_with_white(color)
    if ratio < MIN_CONTRAST:
        raise SettingError(
            key,
            f"Weiße Schrift auf dieser Farbe ist schlecht lesbar (Kontrast {ratio:.1f} : 1, "
            f"nötig sind mindestens {MIN_CONTRAST:.1f} : 1). Bitte wählen Sie eine dunklere Farbe.",
        )
    return color


def check_email(key: str, raw: str) -> str:
    """An email address (syntax only), normalised; encoded words refused."""
    text = _plain(key, raw, 254)
    if not text:
        return ""
    if "=?" in text:
        raise SettingError(key, "Bitte geben Sie eine gewöhnliche E-Mail-Adresse an.")
    try:
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError:
        raise SettingError(
            key, "Bitte geben Sie eine gültige E-Mail-Adresse an, z. B. name@beispiel.de."
        ) from None


def check_cta_url(key: str, raw: str) -> str:
    """Where the call to action leads: an https:// address or a mailto: link."""
    text = _plain(key, raw, 500)
    if not text:
        return ""
    parts = urlsplit(text)
    if parts.scheme == "mailto":
        address, _, _query = text[len("mailto:") :].partition("?")
        check_email(key, address)
        return text
    if parts.scheme != "https" or not parts.hostname:
        raise SettingError(
            key, "Bitte eine Adresse, die mit https:// beginnt, oder einen mailto:-Link angeben."
        )
    if parts.username or parts.password:
        raise SettingError(
            key, "Die Adresse darf keinen Benutzernamen und kein Passwort enthalten."
        )
    return text


def check_phone(key: str, raw: str) -> str:
    """A phone number: digits, spaces and + ( ) / - only."""
    text = _plain(key, raw, 40)
    if text and not re.fullmatch(r"[0-9 +()/\-]{5,40}", text):
        raise SettingError(key, "Bitte nur Ziffern, Leerzeichen und + ( ) / - verwenden.")
    return text


def check_frame_ancestors(key: str, raw: str) -> str:
    """Who may frame the quiz: 'self', 'none' and origins like https://www.example.com."""
    text = " ".join(_plain(key, raw, 1000).split())
    if not text:
        return "'self'"
    bad = [source for source in text.split() if not _FRAME_SOURCE.match(source)]
    if bad:
        raise SettingError(
            key,
            "Erlaubt sind 'self', 'none' und Adressen wie https://www.beispiel.de, nicht: "
            + ", ".join(bad),
        )
    return text


MAX_FOLLOWUPS = 6


def check_duration(key: str, raw: str) -> str:
    """One duration such as 1d (units s, m, h, d, w)."""
    text = _plain(key, raw, 20)
    try:
        parse_duration(text)
    except ValueError:
        raise SettingError(
            key, "Bitte als Zahl mit Einheit angeben, z. B. 1d (s, m, h, d oder w)."
        ) from None
    return text


def schedule_check(available: int) -> Check:
    """The check of `followup.schedule`: one to six rising times, at most `available` (the
    emails the content has for every dimension)."""

    def check(key: str, raw: str) -> str:
        text = " ".join(_plain(key, raw, 100).split())
        try:
            times = parse_durations(text)
        except ValueError:
            raise SettingError(
                key,
                "Bitte Zeitpunkte wie 2d 5d 10d angeben: je eine Zahl mit Einheit "
                "(s, m, h, d oder w), durch Leerzeichen getrennt.",
            ) from None
        limit = min(MAX_FOLLOWUPS, available)
        if not 1 <= len(times) <= limit:
            raise SettingError(
                key,
                f"Bitte 1 bis {limit} Zeitpunkte angeben (so viele E-Mails gibt es je Engpass).",
            )
        if any(later <= earlier for earlier, later in pairwise(times)):
            raise SettingError(key, "Bitte die Zeitpunkte aufsteigend angeben, z. B. 2d 5d 10d.")
        return text

    return check


def check_bool(key: str, raw: str) -> bool:
    """true/false (also ja/nein, 1/0, on/off)."""
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on", "ja"}:
        return True
    if lowered in {"0", "false", "no", "off", "nein", ""}:
        return False
    raise SettingError(key, "Bitte true oder false angeben.")


def _text(max_length: int, multiline: bool = False) -> Check:
    def check(key: str, raw: str) -> str:
        return _plain(key, raw, max_length, multiline)

    return check


def _image(key: str, raw: str) -> str:
    """The logo is set from an uploaded file (quiz.site.logo), never from text."""
    if raw.strip():
        raise SettingError(key, "Das Logo wird als Datei hochgeladen (PNG oder JPEG).")
    return ""


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
        check=_text(80),
    ),
    Setting(
        "brand.logo",
        "brand",
        "Logo",
        "image",
        "",
        "PNG oder JPEG, höchstens 2 MB; es wird auf dieser Website gespeichert und ausgeliefert.",
        check=_image,
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
        check=_text(120),
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
        check=_text(400, multiline=True),
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
        check=_text(2000, multiline=True),
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
        check=_text(400, multiline=True),
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
        check=_text(5000, multiline=True),
    ),
    Setting(
        "cta.label",
        "cta",
        "Beschriftung des Knopfs",
        "text",
        DEFAULT_CTA_LABEL,
        max_length=60,
        check=_text(60),
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
        check=_text(400, multiline=True),
    ),
    Setting(
        "mail.sender_name",
        "mail",
        "Absendername",
        "text",
        "",
        "Leer: der Name Ihrer Marke.",
        max_length=80,
        check=_text(80),
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
        check=_text(400, multiline=True),
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
