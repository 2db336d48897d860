"""The privacy notice's machinery: a processing, the facts of this installation, the wording.

Each `Processing` says what is processed, why, on which legal basis (Art. 6 (1) a, b or f GDPR),
for how long and who receives it; `applies` leaves out what this installation does not do (no
SMTP server, no webhooks), and `each` repeats an entry per item (one per webhook host). The texts
are `str.format` templates over `Facts.values()`: the retention periods, the hosts and the
controller come from the configuration and the settings, so the notice says what really happens.

The entries themselves are data in quiz.site.processings. Plain data and pure functions: no
Flask, no database (quiz.web.legal gathers the facts).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

# The legal bases (Art. 6 (1) GDPR) an entry can name, as the notice words them.
BASES: Mapping[str, str] = {
    "a": "Ihre Einwilligung (Art. 6 Abs. 1 lit. a DSGVO)",
    "b": "die Erbringung der Leistung, die Sie nutzen (Art. 6 Abs. 1 lit. b DSGVO)",
    "f": "ein berechtigtes Interesse (Art. 6 Abs. 1 lit. f DSGVO)",
}


def period(days: int) -> str:
    """A number of days as the notice writes it after "nach" (dative): "30 Tagen"."""
    if days == 1:
        return "einem Tag"
    if days % 365 == 0:
        years = days // 365
        return "einem Jahr" if years == 1 else f"{years} Jahren"
    return f"{days} Tagen"


def duration(seconds: int) -> str:
    """A counter's lifetime after "nach" (dative): "einer Stunde", "10 Minuten"."""
    if seconds % 86400 == 0:
        return period(seconds // 86400)
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return "einer Stunde" if hours == 1 else f"{hours} Stunden"
    minutes = max(1, -(-seconds // 60))
    return "einer Minute" if minutes == 1 else f"{minutes} Minuten"


_UNITS = {
    "s": ("Sekunde", "Sekunden"),
    "m": ("Minute", "Minuten"),
    "h": ("Stunde", "Stunden"),
    "d": ("Tag", "Tage"),
    "w": ("Woche", "Wochen"),
}


def schedule(text: str) -> str:
    """A follow-up schedule ("2d 5d 10d") as the notice writes it: "2 Tage, 5 Tage und 10 Tage"."""
    times = []
    for token in text.split():
        number, unit = token[:-1], token[-1:]
        if not number.isdigit() or unit not in _UNITS:
            continue
        one, many = _UNITS[unit]
        times.append(f"{number} {one if number == '1' else many}")
    if len(times) < 2:
        return "".join(times)
    return ", ".join(times[:-1]) + " und " + times[-1]


@dataclass(frozen=True)
class WebhookHost:
    """A host the coach's webhooks go to, and the events it receives."""

    host: str
    events: tuple[str, ...]


@dataclass(frozen=True)
class Facts:
    """What this installation does, as far as the notice depends on it."""

    controller: str
    contact_email: str
    optin_days: int
    anonymise_days: int
    optin_link_days: int
    draft_cookie_days: int
    require_email: bool
    # The SMTP server mail goes through ("" in development: mail is written to files).
    smtp_host: str = ""
    # Where the rate limits' counters live ("" for this server's own memory or Redis).
    ratelimit_host: str = ""
    ratelimit_seconds: int = 0  # 0: no rate limits
    webhook_hosts: tuple[WebhookHost, ...] = ()
    # The hosting provider (the setting privacy.hosting), "" when not named.
    hosting: str = ""
    # The follow-up series' times after the opt-in ("2d 5d 10d"), "" when it is switched off.
    followup_schedule: str = ""
    # Whether the coach gets an email about each confirmed newsletter sign-up (notify.new_lead).
    notify_new_lead: bool = False
    # When the invitation to take the quiz again goes out after the opt-in ("8w"; "" for none),
    # and how many days its link works (followup.reassess_after, followup.link_days).
    reassess_after: str = ""
    reassess_link_days: int = 30

    def hosts_receiving(self, *events: str) -> list[str]:
        """The webhook hosts that receive any of these events."""
        return [hook.host for hook in self.webhook_hosts if set(hook.events) & set(events)]

    def values(self) -> dict[str, str]:
        """The placeholders the entries' texts may use."""
        hosting = self.hosting.strip().split("\n")[0]
        return {
            "controller": self.controller,
            "contact_email": self.contact_email,
            "optin_period": period(self.optin_days),
            "anonymise_period": period(self.anonymise_days),
            "optin_link_period": period(self.optin_link_days),
            "draft_cookie_period": period(self.draft_cookie_days),
            "email_required": (
                "Die Angabe ist nötig, um das Quiz abzuschließen."
                if self.require_email
                else "Die Angabe ist freiwillig; ohne sie sehen Sie Ihr Ergebnis nur auf der Seite."
            ),
            "smtp_host": self.smtp_host,
            "followup_times": schedule(self.followup_schedule),
            "reassess_invitation": (
                f"Nach Ihrer Bestätigung des Newsletters laden wir Sie "
                f"{schedule(self.reassess_after)} danach per E-Mail ein, das Quiz noch einmal zu "
                f"machen; der Link darin gilt {period(self.reassess_link_days)}."
                if self.reassess_after
                else "Sie können das Quiz über den Link einer früheren Einladung noch einmal machen."
            ),
            "mail_recipients": (
                f"Der Betreiber des Mailservers {self.smtp_host}, als Auftragsverarbeiter."
                if self.smtp_host
                else "Niemand."
            ),
            "result_forwarded": _forwarded(self.hosts_receiving("quiz.completed")),
            "optin_forwarded": _forwarded(
                self.hosts_receiving("lead.optin_confirmed", "lead.unsubscribed")
            ),
            "hosting_recipients": (
                f"Der Anbieter, bei dem diese Website läuft ({hosting}), als Auftragsverarbeiter."
                if hosting
                else "Niemand."
            ),
            "ratelimit_period": duration(self.ratelimit_seconds),
            "ratelimit_recipients": (
                f"Der Betreiber des Zwischenspeichers {self.ratelimit_host}."
                if self.ratelimit_host
                else "Niemand: die Zähler liegen auf dem Server dieser Website."
            ),
        }


def _forwarded(hosts: list[str]) -> str:
    """A sentence naming the webhook hosts that also receive the data ("" for none)."""
    if not hosts:
        return ""
    names = ", ".join(hosts[:-1]) + (" und " if len(hosts) > 1 else "") + hosts[-1]
    return f" Außerdem {names} (siehe „Weitergabe an …“ unten)."


def _always(_facts: Facts) -> bool:
    return True


@dataclass(frozen=True)
class Processing:
    """One processing of the notice; every text a template over `Facts.values()`."""

    key: str
    title: str
    data: str
    purpose: str
    bases: tuple[str, ...]
    storage: str
    recipients: str
    basis_note: str = ""
    applies: Callable[[Facts], bool] = field(default=_always, compare=False)
    # One entry per item: each mapping adds placeholders (e.g. {host}) to the texts.
    each: Callable[[Facts], Iterable[Mapping[str, str]]] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Entry:
    """A processing as the notice shows it: texts filled in, bases worded."""

    key: str
    title: str
    data: str
    purpose: str
    bases: tuple[str, ...]
    basis_note: str
    storage: str
    recipients: str


def notice(facts: Facts, processings: Iterable[Processing]) -> list[Entry]:
    """The entries that apply to this installation, their texts filled in."""
    base = facts.values()
    entries: list[Entry] = []
    for processing in processings:
        if not processing.applies(facts):
            continue
        items = processing.each(facts) if processing.each else [{}]
        for item in items:
            values = {**base, **item}
            entries.append(
                Entry(
                    key=processing.key,
                    title=processing.title.format_map(values),
                    data=processing.data.format_map(values),
                    purpose=processing.purpose.format_map(values),
                    bases=tuple(BASES[basis] for basis in processing.bases),
                    basis_note=processing.basis_note.format_map(values),
                    storage=processing.storage.format_map(values),
                    recipients=processing.recipients.format_map(values),
                )
            )
    return entries
