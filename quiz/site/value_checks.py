"""How each kind of site setting is checked: a check returns the value as it is stored (trimmed,
normalised) or raises `SettingError` with a German message for the coach.

Plain functions (no Flask, no database), apart from the settings' schema (quiz.site.schema) that
names which check each key takes, so the settings page, the command line and the tests check a
value the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from itertools import pairwise
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email

from quiz.site.durations import parse_duration, parse_durations

MIN_CONTRAST = 4.5  # WCAG 2.2 AA for normal text
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


def check_optional_duration(key: str, raw: str) -> str:
    """One duration such as 8w, or empty (the feature it times is off)."""
    return check_duration(key, raw) if raw.strip() else ""


def check_days(key: str, raw: str) -> str:
    """A whole number of days from 1 to 365."""
    text = _plain(key, raw, 3)
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= 365:
        raise SettingError(key, "Bitte eine ganze Zahl von Tagen zwischen 1 und 365 angeben.")
    return str(int(text))


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


def text_check(max_length: int, multiline: bool = False) -> Check:
    def check(key: str, raw: str) -> str:
        return _plain(key, raw, max_length, multiline)

    return check


def image_check(key: str, raw: str) -> str:
    """The logo is set from an uploaded file (quiz.site.logo), never from text."""
    if raw.strip():
        raise SettingError(key, "Das Logo wird als Datei hochgeladen (PNG oder JPEG).")
    return ""
