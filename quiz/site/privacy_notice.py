"""The privacy notice's processings, as data: what this installation does with a taker's data.

Each `Processing` says what is processed, why, on which legal basis (Art. 6 (1) a, b or f GDPR),
for how long and who receives it; `applies` leaves out what this installation does not do (no
SMTP server, no webhooks), and `each` repeats an entry per item (one per webhook host). The texts
are `str.format` templates over `Facts.values()`: the retention periods, the hosts and the
controller come from the configuration and the settings, so the notice says what really happens.

A feature that processes personal data adds its entry to `PROCESSINGS` (and, when it depends on
the installation, its fact to `Facts`) in the same change that adds it to the taker's export and
deletion. Plain data and pure functions: no Flask, no database (quiz.web.legal gathers the facts).
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

# What each webhook event hands on, as the notice says it (quiz.webhooks.queue.EVENT_TYPES).
WEBHOOK_EVENT_DATA: Mapping[str, str] = {
    "quiz.completed": (
        "Ihr Ergebnis (Werte, Engpass, nächste Schritte), die Kampagnenangaben des Links, über "
        "den Sie kamen, und der Link zu Ihrem Ergebnis; Ihre E-Mail-Adresse und Ihr Vorname "
        "nur, wenn Sie eingewilligt haben, Ihr Ergebnis per E-Mail zu erhalten"
    ),
    "lead.optin_confirmed": "die Bestätigung Ihrer Newsletter-Anmeldung",
    "lead.unsubscribed": "Ihre Abmeldung vom Newsletter",
    "lead.updated": (
        "den Bearbeitungsstand Ihrer Anfrage und ihre Schlagwörter (nie die Notizen dazu)"
    ),
    "lead.deleted": "die Nachricht, dass Sie Ihre Daten gelöscht haben (nur eine Kennnummer)",
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
    # Whether the coach gets an email about each confirmed newsletter sign-up (notify.new_lead).
    notify_new_lead: bool = False
    # The hosting provider (the setting privacy.hosting), "" when not named.
    hosting: str = ""

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


def _webhook_items(facts: Facts) -> Iterable[Mapping[str, str]]:
    for hook in facts.webhook_hosts:
        items = [WEBHOOK_EVENT_DATA[event] for event in hook.events if event in WEBHOOK_EVENT_DATA]
        yield {"host": hook.host, "webhook_data": "; ".join(items) or "keine Angaben über Sie"}


PROCESSINGS: tuple[Processing, ...] = (
    Processing(
        key="visit",
        title="Aufruf der Website",
        data="Ihre IP-Adresse, der Zeitpunkt, die aufgerufene Adresse und die Kennung Ihres "
        "Browsers, wie sie jeder Browser beim Abruf einer Seite mitschickt.",
        purpose="Die Seiten an Ihren Browser ausliefern, Fehler finden und Angriffe abwehren.",
        bases=("f",),
        basis_note="Das berechtigte Interesse ist ein sicherer und funktionierender Betrieb.",
        storage="Die Anwendung selbst speichert Ihre IP-Adresse nicht. Das Protokoll des "
        "Webservers macht E-Mail-Adressen und geheime Links darin unkenntlich und wird vom "
        "Server nach dessen Einstellungen gelöscht.",
        recipients="{hosting_recipients}",
    ),
    Processing(
        key="cookies",
        title="Cookies",
        data="Ein Cookie „quiz_draft“ mit einer zufälligen Kennung Ihres Quiz-Durchgangs und ein "
        "Cookie „session“ mit einem Schutz gegen untergeschobene Formulare. Es gibt keine "
        "Tracking- oder Werbe-Cookies und keine Inhalte von Drittanbietern.",
        purpose="Damit Sie nach einer Unterbrechung dort weitermachen können, wo Sie aufgehört "
        "haben, und niemand in Ihrem Namen Antworten absenden kann.",
        bases=("b",),
        basis_note="Beide Cookies sind für das Quiz technisch erforderlich "
        "(§ 25 Abs. 2 Nr. 2 TDDDG) und brauchen keine Einwilligung.",
        storage="„quiz_draft“ verfällt nach {draft_cookie_period}, nach dem Abschluss des Quiz "
        "schon nach zehn Minuten; „session“, wenn Sie den Browser schließen.",
        recipients="Niemand.",
    ),
    Processing(
        key="answers",
        title="Ihre Antworten im Quiz",
        data="Ihre Antworten auf die Fragen und die Zeitpunkte, zu denen Sie jede Seite "
        "abgeschickt haben.",
        purpose="Daraus errechnen wir Ihre Auswertung; bis zum Abschluss werden sie "
        "zwischengespeichert, damit nichts verloren geht.",
        bases=("b",),
        storage="Bis Sie Ihre Daten löschen. Nach {anonymise_period} entfernen wir alles, was auf "
        "Sie verweist; die Antworten bleiben dann ohne jeden Bezug zu Ihnen für die Statistik "
        "des Fragebogens.",
        recipients="Niemand.",
    ),
    Processing(
        key="origin",
        title="Woher Sie zum Quiz kamen",
        data="Die Kampagnenangaben des Links, über den Sie kamen (utm_source, utm_medium, "
        "utm_campaign, utm_term, utm_content), und die Seite, die auf das Quiz verwiesen hat.",
        purpose="{controller} sieht in Summen, über welche Wege Menschen zum Quiz finden.",
        bases=("f",),
        basis_note="Das berechtigte Interesse ist, die eigene Werbung beurteilen zu können.",
        storage="Verweisende Seite, utm_term und utm_content löschen wir nach "
        "{anonymise_period}; Quelle, Medium und Kampagne bleiben ohne Bezug zu Ihnen in der "
        "Statistik.",
        recipients="Niemand.",
    ),
    Processing(
        key="result",
        title="Ihr Ergebnis",
        data="Ihre Werte in jedem Bereich, Ihr Engpass und die Auswertung mit ihren "
        "Empfehlungen, erreichbar über einen geheimen Link zu Ihrer Ergebnisseite.",
        purpose="Ihnen Ihre Auswertung zeigen, auch später noch über den Link. Die Auswertung "
        "entsteht automatisch aus Ihren Antworten, hat aber keine rechtliche oder ähnlich "
        "erhebliche Wirkung für Sie (keine automatisierte Entscheidung nach Art. 22 DSGVO).",
        bases=("b",),
        storage="Bis Sie Ihre Daten löschen; nach {anonymise_period} ohne Ihren Namen und Ihre "
        "E-Mail-Adresse.",
        recipients="Niemand.",
    ),
    Processing(
        key="pdf",
        title="Ihr Bericht als PDF",
        data="Ihr Ergebnis und Ihr Vorname, als PDF-Datei.",
        purpose="Damit Sie Ihre Auswertung herunterladen, ausdrucken und aufheben können. Er "
        "entsteht gleich nach dem Abschluss, damit er beim ersten Öffnen sofort bereitsteht.",
        bases=("b",),
        storage="Gespeichert, bis sich Ihr Ergebnis ändert (etwa durch das Entfernen Ihres "
        "Namens nach {anonymise_period}) oder Sie Ihre Daten löschen.",
        recipients="Niemand.",
    ),
    Processing(
        key="email",
        title="Ihre E-Mail-Adresse und die Zusammenfassung",
        data="Ihre E-Mail-Adresse, Ihr Vorname (freiwillig), die E-Mail mit der Zusammenfassung "
        "Ihres Ergebnisses und Ihre Einwilligung mit Zeitpunkt und Fassung des Textes. "
        "{email_required}",
        purpose="Ihnen Ihr Ergebnis zum Aufheben zuzusenden, mit den Links zu Ihrem Ergebnis, "
        "zur Abmeldung und zu Ihren Daten.",
        bases=("a",),
        basis_note="Sie geben die Einwilligung mit dem Häkchen auf der letzten Seite des Quiz "
        "und können sie jederzeit widerrufen, indem Sie Ihre Daten löschen.",
        storage="Bis Sie Ihre Daten löschen, spätestens nach {anonymise_period}: dann löschen wir "
        "Adresse, Vorname und die E-Mails an Sie.",
        recipients="{mail_recipients}{result_forwarded}",
    ),
    Processing(
        key="marketing",
        title="Newsletter und Bestätigung der Anmeldung (Double-Opt-in)",
        data="Ihre Einwilligung, gelegentlich Impulse und Angebote per E-Mail zu erhalten, mit "
        "Zeitpunkt und Fassung des Textes; die Bestätigungs-E-Mail; der Zeitpunkt Ihrer "
        "Bestätigung und gegebenenfalls Ihres Widerrufs.",
        purpose="Ihnen Impulse und Angebote von {controller} zu schicken, wenn Sie das "
        "angekreuzt und bestätigt haben. Mit der Bestätigung stellen wir sicher, dass die "
        "Adresse Ihnen gehört, und können Ihre Einwilligung nachweisen.",
        bases=("a", "f"),
        basis_note="Für den Versand Ihre Einwilligung; für den Nachweis der Einwilligung das "
        "berechtigte Interesse, sie belegen zu können. Sie können die Einwilligung jederzeit "
        "mit einem Klick in jeder E-Mail widerrufen.",
        storage="Nicht bestätigte Anmeldungen löschen wir nach {optin_period}; der "
        "Bestätigungslink verfällt nach {optin_link_period}. Eine bestätigte Einwilligung gilt bis zu "
        "Ihrem Widerruf; ihr Nachweis bleibt so lange wie Ihre E-Mail-Adresse.",
        recipients="{mail_recipients}{optin_forwarded}",
    ),
    Processing(
        key="cta_clicks",
        title="Klicks auf den Knopf zum Gespräch",
        data="Wann und an welcher Stelle (Ergebnisseite, E-Mail, PDF, Nachfass-E-Mail) Sie auf den "
        "Knopf zum Gespräch mit {controller} geklickt haben.",
        purpose="Der Link führt zunächst über diese Website, damit {controller} sieht, ob das Quiz "
        "hilft: Der Klick wird zu Ihrem Ergebnis gespeichert und ohne Bezug zu Ihnen in der "
        "Statistik gezählt (nach Herkunft des Besuchs, Version des Quiz und Engpass). Dafür wird "
        "kein Cookie gesetzt; automatische Linkprüfungen von E-Mail-Programmen zählen nicht.",
        bases=("f",),
        basis_note="Das berechtigte Interesse ist, beurteilen zu können, ob das Quiz seinen Zweck "
        "erfüllt.",
        storage="Bis Sie Ihre Daten löschen, spätestens nach {anonymise_period}; Teil Ihres "
        "Datenexports.",
        recipients="Niemand.",
    ),
    Processing(
        key="visits",
        title="Zählung der Aufrufe der Startseite",
        data="Keine personenbezogenen Daten: Pro Tag erhöhen wir nur einen Zähler je Herkunft (die "
        "utm-Angaben des Links und der Name der Website, von der Sie kamen). Ihre IP-Adresse, "
        "Ihren Browser oder einzelne Aufrufe speichern wir dabei nicht, und es wird kein Cookie "
        "gesetzt. Aufrufe, die der Browser nur vorab lädt, und bekannte Bots zählen nicht mit.",
        purpose="{controller} sieht, wie viele Menschen die Startseite aufrufen und wie viele "
        "davon das Quiz beginnen.",
        bases=("f",),
        basis_note="Das berechtigte Interesse ist, die eigene Website beurteilen zu können.",
        storage="Die Tageszähler bleiben ohne Bezug zu Ihnen in der Statistik.",
        recipients="Niemand.",
    ),
    Processing(
        key="variants",
        title="Vergleich von Textfassungen (A/B-Test)",
        data="Welche von zwei bis vier Fassungen eines Textes (etwa der Überschrift oder der "
        "Einladung zum Gespräch) Ihnen zufällig gezeigt wurde.",
        purpose="Herausfinden, welche Fassung verständlicher ist. Dafür wird kein zusätzliches "
        "Cookie gesetzt.",
        bases=("f",),
        basis_note="Das berechtigte Interesse ist, die Texte der Website zu verbessern.",
        storage="Mit Ihren Antworten, bis Sie Ihre Daten löschen; Teil Ihres Datenexports.",
        recipients="Niemand.",
    ),
    Processing(
        key="new_lead",
        title="Benachrichtigung an {controller} über Ihre Anmeldung",
        data="Ihr Vorname, Ihr Engpass und Ihre Werte.",
        purpose="Bestätigen Sie den Newsletter, erhält {controller} eine E-Mail, um sich bei "
        "Ihnen melden zu können.",
        bases=("f",),
        basis_note="Das berechtigte Interesse ist, Anfragen zeitnah zu bearbeiten.",
        storage="Bei uns, bis Sie Ihre Daten löschen, spätestens nach {anonymise_period}; im "
        "Postfach von {controller} nach dessen Vorgaben.",
        recipients="{controller}, zugestellt über den Mailserver dieser Website.",
        applies=lambda facts: facts.notify_new_lead,
    ),
    Processing(
        key="followups",
        title="Nachfass-E-Mails nach Ihrer Newsletter-Anmeldung",
        data="Ihr Engpass und je eine Ihrer Antworten, die eine E-Mail aufgreift; wann welche "
        "E-Mail fällig ist, versandt oder abbestellt wurde.",
        purpose="Ihnen in den Tagen nach Ihrer Bestätigung einige E-Mails zu Ihrem Engpass zu "
        "schicken, die auf Ihre Antworten eingehen.",
        bases=("a",),
        basis_note="Ihre Einwilligung in den Newsletter; mit der Abmeldung (ein Klick in jeder "
        "E-Mail) enden die Nachfass-E-Mails sofort.",
        storage="Bis Sie sich abmelden oder Ihre Daten löschen, spätestens nach "
        "{anonymise_period}.",
        recipients="{mail_recipients}",
    ),
    Processing(
        key="lead_work",
        title="Bearbeitung Ihrer Anfrage durch {controller}",
        data="Ein Bearbeitungsstand (etwa „kontaktiert“ oder „Gespräch vereinbart“) mit seinem "
        "Verlauf, Schlagwörter und Notizen von {controller} zu Ihrer Anfrage.",
        purpose="Damit {controller} Ihre Anfrage nachverfolgen und sich bei Ihnen melden kann.",
        bases=("f",),
        basis_note="Das berechtigte Interesse ist, Anfragen geordnet zu bearbeiten.",
        storage="Bis Sie Ihre Daten löschen, spätestens nach {anonymise_period}. Sie sind Teil "
        "Ihres Datenexports.",
        recipients="Niemand; Bearbeitungsstand und Schlagwörter gehen nur an die angebundenen "
        "Werkzeuge von {controller} (siehe Weitergabe), die Notizen nie.",
    ),
    Processing(
        key="webhook",
        title="Weitergabe an {host}",
        data="{webhook_data}.",
        purpose="{controller} führt Ihre Angaben in einem Werkzeug zur Kundenverwaltung oder "
        "zum E-Mail-Versand weiter, etwa für den Newsletter, wenn Sie ihn bestellt haben.",
        bases=("a", "f"),
        basis_note="E-Mail-Adresse und Vorname nur mit Ihrer Einwilligung; Ergebnis und "
        "Kennnummern aus dem berechtigten Interesse, Anfragen im eigenen Werkzeug zu "
        "bearbeiten und Löschungen dorthin weiterzugeben.",
        storage="Auf dieser Website das Protokoll der Übermittlungen, gelöscht nach "
        "{anonymise_period}; beim Empfänger, bis {controller} die Daten dort löscht, spätestens "
        "nach der Nachricht über Ihre Löschung.",
        recipients="Der Betreiber von {host}, als Auftragsverarbeiter von {controller}.",
        applies=lambda facts: bool(facts.webhook_hosts),
        each=_webhook_items,
    ),
    Processing(
        key="smtp",
        title="E-Mail-Versand über {smtp_host}",
        data="Ihre E-Mail-Adresse, Ihr Vorname und der Inhalt der E-Mails an Sie.",
        purpose="Die E-Mails zustellen, die Sie angefordert haben.",
        bases=("a",),
        basis_note="Dieselbe Grundlage wie die E-Mail selbst (Ihre Einwilligung).",
        storage="Bei uns, bis Sie Ihre Daten löschen, spätestens nach {anonymise_period}; beim "
        "Versanddienst dessen Zustellprotokolle nach seinen Vorgaben.",
        recipients="Der Betreiber des Mailservers {smtp_host}, als Auftragsverarbeiter.",
        applies=lambda facts: bool(facts.smtp_host),
    ),
    Processing(
        key="ratelimit",
        title="Schutz vor Missbrauch",
        data="Ihre IP-Adresse, als Schlüssel eines Zählers, wie oft von ihr aus in kurzer Zeit "
        "Formulare abgeschickt wurden.",
        purpose="Begrenzen, wie oft ein Anschluss das Quiz starten, Antworten senden und "
        "E-Mails anfordern kann, damit niemand die Website lahmlegt oder mit automatischen "
        "Eingaben füllt.",
        bases=("f",),
        basis_note="Das berechtigte Interesse ist der Schutz der Website und ihrer Nutzer.",
        storage="Jeder Zähler verfällt spätestens nach {ratelimit_period}.",
        recipients="{ratelimit_recipients}",
        applies=lambda facts: facts.ratelimit_seconds > 0,
    ),
)


def notice(facts: Facts, processings: Iterable[Processing] = PROCESSINGS) -> list[Entry]:
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
