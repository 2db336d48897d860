"""What this installation does with a taker's data: the privacy notice's entries, as data.

Each entry (quiz.site.privacy_notice.Processing) says what is processed, why, on which legal
basis, for how long and who receives it, as templates over `Facts.values()`. A feature that
processes personal data adds its entry here (and, when it depends on the installation, its fact to
`Facts`) in the same change that adds the data to the taker's export and deletion.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from quiz.site.privacy_notice import Facts, Processing

# What each webhook event hands on, as the notice says it (quiz.webhooks.queue.EVENT_TYPES).
WEBHOOK_EVENT_DATA: Mapping[str, str] = {
    "quiz.completed": (
        "Ihr Ergebnis (Werte, Engpass, nächste Schritte), die Kampagnenangaben des Links, über "
        "den Sie kamen, und der Link zu Ihrem Ergebnis; Ihre E-Mail-Adresse und Ihr Vorname "
        "nur, wenn Sie eingewilligt haben, Ihr Ergebnis per E-Mail zu erhalten"
    ),
    "lead.optin_confirmed": "die Bestätigung Ihrer Newsletter-Anmeldung",
    "lead.unsubscribed": "Ihre Abmeldung vom Newsletter",
    "lead.updated": "der Bearbeitungsstand und die Schlagwörter Ihres Kontakts (nie die Notizen)",
    "lead.deleted": "die Nachricht, dass Sie Ihre Daten gelöscht haben (nur eine Kennnummer)",
}


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
        storage="Bis Sie Ihre Daten löschen; Teil Ihres Datenexports. Nach {anonymise_period} "
        "bleibt der Klick nur noch ohne Ihren Namen und Ihre E-Mail-Adresse bei Ihrem Ergebnis.",
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
        storage="Bei uns nur als Verweis auf Ihre Anfrage, bis Sie Ihre Daten löschen; im "
        "Postfach von {controller} nach dessen Vorgaben.",
        recipients="{controller}, zugestellt über den Mailserver dieser Website.",
        applies=lambda facts: facts.notify_new_lead,
    ),
    Processing(
        key="followups",
        title="Nachfass-E-Mails zu Ihrem Engpass",
        data="Nach Ihrer Bestätigung des Newsletters einige E-Mails zu Ihrem Engpass, "
        "{followup_times} danach, die je eine Ihrer Antworten aufgreifen; ein Protokoll, welche "
        "versandt oder durch Ihre Abmeldung gestoppt wurden.",
        purpose="Ihnen zu Ihrem Ergebnis passende Impulse von {controller} zu schicken.",
        bases=("a",),
        basis_note="Ihre Einwilligung in den Newsletter; die E-Mails enden sofort, wenn Sie sich "
        "abmelden oder Ihre Daten löschen.",
        storage="Das Protokoll gehört zu Ihren Daten: bis Sie sie löschen, spätestens nach "
        "{anonymise_period}.",
        recipients="{mail_recipients}",
        applies=lambda facts: bool(facts.followup_schedule),
    ),
    Processing(
        key="reassess",
        title="Erneute Einschätzung (vorher und nachher)",
        data="{reassess_invitation} Machen Sie es, speichern wir Ihre neuen Antworten und Ihr "
        "neues Ergebnis wie beim ersten Mal, verknüpft mit dem früheren, und übernehmen Ihren "
        "Vornamen, Ihre E-Mail-Adresse und Ihre Einwilligungen von damals; das Protokoll der "
        "Einladung gehört zu Ihren E-Mails.",
        purpose="Ihnen zu zeigen, wie sich Ihre Werte und Ihr Engpass seitdem verändert haben. "
        "In die Vergleichswerte und die Statistik des Fragebogens geht die erneute Einschätzung "
        "nicht ein, damit niemand doppelt zählt.",
        bases=("a", "b"),
        basis_note="Die Einladung beruht auf Ihrer Einwilligung in den Newsletter und endet, wenn "
        "Sie sich abmelden; die erneute Einschätzung selbst auf Ihrer Anfrage, sie zu machen.",
        storage="Wie Ihre übrigen Antworten: bis Sie Ihre Daten löschen, spätestens nach "
        "{anonymise_period}. Löschen Sie Ihre Daten, löschen wir alle verknüpften Durchgänge, "
        "den früheren wie die späteren; Ihr Datenexport enthält sie alle.",
        recipients="{mail_recipients}",
    ),
    Processing(
        key="lead_notes",
        title="Bearbeitung Ihrer Anfrage",
        data="Ein Bearbeitungsstand Ihres Kontakts (z. B. „kontaktiert“) mit seinem Verlauf, "
        "Schlagwörter und Notizen, die {controller} dazu festhält.",
        purpose="Ihre Anfrage bearbeiten und nachhalten, wer wann mit Ihnen in Kontakt war.",
        bases=("f",),
        basis_note="Das berechtigte Interesse ist, Anfragen geordnet zu bearbeiten.",
        storage="Bis Sie Ihre Daten löschen oder {controller} die Angaben entfernt, spätestens "
        "nach {anonymise_period}: dann werden Notizen und Schlagwörter gelöscht, der "
        "Bearbeitungsstand bleibt ohne Bezug zu Ihrer Person. Alles ist Teil Ihres Datenexports.",
        recipients="Niemand; Bearbeitungsstand und Schlagwörter auch an angebundene Werkzeuge "
        "(siehe „Weitergabe an …“), wenn {controller} das eingerichtet hat, die Notizen nie.",
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
