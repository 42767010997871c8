"""The authority report's vocabulary per language (en, de, fr) and which language an authority reads.

The md and html reports word themselves in their templates (notices/authority/report[.<locale>].{md,html}); what
they and the JSON and PDF versions take from here: the labels of the data and subject categories, the names of
the free-text fields (for the note on fields given in the source language only), and the PDF's own wording.

Which language (`authority_language`): ``notices.authority_locale`` when set (one language for every report), else
the lead authority looked up in ``notices.authority_languages`` (configured, case-insensitive: the authority's full
name or its first word) over `AUTHORITY_LANGUAGES`, else English. The built-in table names the German federal and
state authorities (BfDI, LfDI, LfD, LDI, BayLDA, HmbBfDI, BlnBDI, ULD, …) and Austria's DSB → de; the CNIL → fr;
Belgium's APD/GBA → fr (it accepts French and Dutch; breachkit ships a French report, so French it is); the
Dutch AP → nl, Italy's Garante → it, Spain's AEPD → es, Poland's UODO → pl, Switzerland's FDPIC/EDÖB → de — a
language without report templates falls back to English, and the report says which language it is in and why.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from breachkit.incidents.model import DATA_CATEGORIES, SUBJECT_CATEGORIES

AUTHORITY_LANGUAGES: dict[str, str] = {
    # Germany (federal, Länder) and Austria
    "bfdi": "de", "lfdi": "de", "lfd": "de", "ldi": "de", "lda": "de", "baylda": "de", "hmbbfdi": "de",
    "blnbdi": "de", "uld": "de", "hbdi": "de", "tlfdi": "de", "sächsdsb": "de", "lfdi bw": "de", "dsb": "de",
    "datenschutzbehörde": "de", "landesbeauftragte": "de", "landesbeauftragter": "de", "bundesbeauftragte": "de",
    "bundesbeauftragter": "de", "bayerisches landesamt für datenschutzaufsicht": "de",
    "unabhängiges landeszentrum für datenschutz": "de",
    # Switzerland (German, French and Italian are all accepted; German first)
    "edöb": "de", "fdpic": "de", "préposé fédéral": "fr", "pfpdt": "fr",
    # France, Belgium
    "cnil": "fr", "commission nationale de l'informatique et des libertés": "fr", "apd": "fr", "gba": "fr",
    "apd/gba": "fr", "autorité de protection des données": "fr",
    # Netherlands, Italy, Spain, Poland
    "ap": "nl", "autoriteit persoonsgegevens": "nl", "garante": "it", "aepd": "es", "uodo": "pl",
}


def authority_language(lead_authority: str | None, configured: Mapping[str, str] | None = None) -> str | None:
    """The language of `lead_authority` (see the module docstring), or None when neither table names it."""
    if not lead_authority or not lead_authority.strip():
        return None
    table = {**AUTHORITY_LANGUAGES, **{k.casefold().strip(): v for k, v in (configured or {}).items()}}
    name = " ".join(lead_authority.casefold().split())
    if name in table:
        return table[name]
    words = re.split(r"[\s,;:()\-–]+", name)
    for n in range(len(words), 0, -1):  # the longest run of leading words the table knows
        if " ".join(words[:n]) in table:
            return table[" ".join(words[:n])]
    return None


LANGUAGE_NAMES = {"en": "English", "de": "Deutsch", "fr": "français"}

DATA_CATEGORY_LABELS: dict[str, dict[str, str]] = {
    "en": dict(DATA_CATEGORIES),
    "de": {
        "identity": "Identifikationsdaten (Name, Geburtsdatum, Kundennummer)",
        "contact": "Kontaktdaten (E-Mail-Adresse, Telefonnummer, Postanschrift)",
        "credentials": "Zugangsdaten (Passwörter, Passwort-Hashes, Tokens, Antworten auf Sicherheitsfragen)",
        "online_identifiers": "Online-Kennungen (IP-Adressen, Cookies, Sitzungs-IDs)",
        "device_identifiers": "Gerätekennungen (Geräte-ID, IMEI, Seriennummer)",
        "location": "Standortdaten",
        "usage": "Nutzungs- und Verbrauchsdaten (Energie, Telemetrie, Aktivität)",
        "financial": "Finanzdaten (Bankverbindung, Zahlungskarte, Abrechnung)",
        "official_id": "Amtliche Ausweisdokumente und deren Nummern",
        "communications": "Inhalte von Kommunikation",
        "orders": "Bestellungen und Käufe (Artikel, Preise, Lieferdaten)",
        "contracts": "Vertragsdaten (Bedingungen, Tarife, Vertragsnummern)",
        "insurance": "Versicherungsdaten (Versicherungsnummern, Deckung, Beiträge)",
        "special": "Besondere Kategorien (Art. 9 DSGVO: Gesundheit, Biometrie, politische Meinungen, religiöse "
                   "Überzeugungen, Sexualleben …)",
        "criminal": "Strafrechtliche Verurteilungen und Straftaten (Art. 10 DSGVO)",
    },
    "fr": {
        "identity": "Données d'identification (nom, date de naissance, identifiant de compte)",
        "contact": "Coordonnées (adresse e-mail, numéro de téléphone, adresse postale)",
        "credentials": "Identifiants de connexion (mots de passe, empreintes de mots de passe, jetons, réponses aux "
                       "questions de sécurité)",
        "online_identifiers": "Identifiants en ligne (adresses IP, cookies, identifiants de session)",
        "device_identifiers": "Identifiants d'appareil (identifiant de l'appareil, IMEI, numéro de série)",
        "location": "Données de localisation",
        "usage": "Données d'utilisation et de consommation (énergie, télémétrie, activité)",
        "financial": "Données financières (compte bancaire, carte de paiement, facturation)",
        "official_id": "Documents d'identité officiels et leurs numéros",
        "communications": "Contenu de communications",
        "orders": "Commandes et achats (articles, prix, informations de livraison)",
        "contracts": "Données contractuelles (conditions, tarifs, numéros de contrat)",
        "insurance": "Données d'assurance (numéros de police, garanties, primes)",
        "special": "Catégories particulières (article 9 du RGPD : santé, données biométriques, opinions politiques, "
                   "convictions religieuses, vie sexuelle…)",
        "criminal": "Condamnations pénales et infractions (article 10 du RGPD)",
    },
}
SUBJECT_CATEGORY_LABELS: dict[str, dict[str, str]] = {
    "en": dict(SUBJECT_CATEGORIES),
    "de": {"customers": "Kundinnen und Kunden, Endnutzer", "installers": "Installateure und Geschäftspartner",
           "employees": "Beschäftigte", "children": "Kinder (unter 18 Jahren)",
           "vulnerable": "Schutzbedürftige Personen", "prospects": "Interessenten und Besucher"},
    "fr": {"customers": "Clients et utilisateurs finaux", "installers": "Installateurs et partenaires commerciaux",
           "employees": "Salariés", "children": "Enfants (moins de 18 ans)", "vulnerable": "Personnes vulnérables",
           "prospects": "Prospects et visiteurs"},
}
# The incident's free-text fields, as the note on text given in the source language only names them.
FIELD_NAMES: dict[str, dict[str, str]] = {
    "en": {"description": "description", "cause": "cause", "consequences": "likely consequences",
           "measures_taken": "measures taken", "measures_proposed": "measures proposed",
           "aware_justification": "why awareness dates from then", "how_discovered": "how it was discovered",
           "delay_reasons": "reasons for the delay"},
    "de": {"description": "Beschreibung", "cause": "Ursache", "consequences": "wahrscheinliche Folgen",
           "measures_taken": "ergriffene Maßnahmen", "measures_proposed": "vorgeschlagene Maßnahmen",
           "aware_justification": "Begründung des Kenntniszeitpunkts", "how_discovered": "Art der Entdeckung",
           "delay_reasons": "Gründe für die Verzögerung"},
    "fr": {"description": "description", "cause": "cause", "consequences": "conséquences probables",
           "measures_taken": "mesures prises", "measures_proposed": "mesures proposées",
           "aware_justification": "justification de la date de prise de connaissance",
           "how_discovered": "mode de découverte", "delay_reasons": "motifs du retard"},
}


def words(language: str) -> dict[str, str]:
    """The PDF's wording in `language` (English for any language without its own)."""
    return PDF_WORDS.get(language, PDF_WORDS["en"])


PDF_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Personal data breach notification (Art. 33 GDPR)", "doc": "Personal data breach notification",
        "footer": "breach notification", "page": "page",
        "initial": "Initial notification", "follow_up": "Follow-up notification", "final": "Final report",
        "yes": "yes", "no": "no", "unknown": "unknown", "none": "none", "to_follow": "to follow",
        "information": "Information", "language": "Language of this report",
        "untranslated": "Given in the original language only",
        "s_report": "Report", "type": "Type", "earlier": "Earlier reference", "incident": "Incident",
        "generated": "Generated",
        "s_parties": "Controller, reporter and contact point", "controller": "Controller", "address": "Address",
        "role": "Role", "reporter": "Reporter", "dpo": "DPO / contact point (Art. 33(3)(b))",
        "controller_role": "controller", "joint_controller_role": "joint controller", "processor_role": "processor",
        "s_timing": "Timing", "occurred": "Occurred", "until": "until", "ongoing": "Ongoing", "state": "State",
        "contained": "contained", "ended": "ended; still being investigated", "ongoing_state": "ongoing",
        "detected": "Detected", "aware": "Aware", "why_aware": "Why aware then",
        "processor_notified": "Processor notified us", "how_discovered": "How discovered",
        "deadline": "Deadline (72 h)", "elapsed": "Time since awareness", "delay": "Reasons for the delay",
        "running": "running", "overdue": "overdue", "met": "met", "late": "late",
        "s_nature": "Nature of the breach (Art. 33(3)(a))", "description": "Description", "cause": "Cause",
        "malicious": "Malicious", "confidentiality": "Confidentiality", "integrity": "Integrity",
        "availability": "Availability", "systems": "Systems",
        "s_data": "Personal data concerned (Art. 33(3)(a))", "categories": "Categories",
        "special": "Special categories", "declared": "declared", "not_declared": "not declared",
        "no_list": "no subject list yet", "found_for": "found for {n} people", "found_for_one": "found for 1 person",
        "not_found": "not found in the logs",
        "s_subjects": "Data subjects (Art. 33(3)(a))", "children": "Children",
        "vulnerable": "Vulnerable persons", "people": "People whose data was exposed", "records": "Records",
        "minors": "Minors", "compromised": "Accounts compromised (counted apart)",
        "requests": "{n} requests made with them", "exact": "exact", "approximate": "approximate",
        "s_consequences": "Likely consequences (Art. 33(3)(c))", "consequences": "Consequences",
        "s_severity": "Severity assessment", "method": "Method", "score": "Score", "inputs": "Inputs",
        "basis": "Basis", "notes": "Notes", "assessed": "Assessed",
        "low": "low", "medium": "medium", "high": "high", "very_high": "very high",
        "s_measures": "Measures (Art. 33(3)(d))", "taken": "Taken", "proposed": "Proposed",
        "s_informed": "Communication to the data subjects (Art. 34)", "status": "Status", "when": "When",
        "how": "How", "reasons": "Reasons", "informed": "informed", "planned": "planned",
        "not_informed": "not informed", "undecided": "undecided",
        "s_cross_border": "Cross-border processing", "cross_border": "Cross-border",
        "lead_authority": "Lead authority", "countries": "Countries", "people_in": "People in {country}",
        "s_bodies": "Other bodies informed", "reference": "reference",
        "s_regimes": "Other regimes followed", "people_there": "{n} people affected there",
    },
    "de": {
        "title": "Meldung einer Verletzung des Schutzes personenbezogener Daten (Art. 33 DSGVO)",
        "doc": "Meldung einer Datenschutzverletzung", "footer": "Meldung einer Datenschutzverletzung",
        "page": "Seite",
        "initial": "Erstmeldung", "follow_up": "Nachmeldung", "final": "Abschlussmeldung",
        "yes": "ja", "no": "nein", "unknown": "unbekannt", "none": "keine", "to_follow": "folgt",
        "information": "Angaben", "language": "Sprache dieser Meldung",
        "untranslated": "Nur in der Originalsprache angegeben",
        "s_report": "Meldung", "type": "Art", "earlier": "Früheres Aktenzeichen", "incident": "Vorgang",
        "generated": "Erstellt",
        "s_parties": "Verantwortlicher, meldende Person und Anlaufstelle", "controller": "Verantwortlicher",
        "address": "Anschrift", "role": "Rolle", "reporter": "Meldende Person",
        "dpo": "Datenschutzbeauftragter / Anlaufstelle (Art. 33 Abs. 3 lit. b DSGVO)",
        "controller_role": "Verantwortlicher", "joint_controller_role": "gemeinsam Verantwortlicher",
        "processor_role": "Auftragsverarbeiter",
        "s_timing": "Zeitlicher Ablauf", "occurred": "Zeitpunkt der Verletzung", "until": "bis",
        "ongoing": "Dauert noch an", "state": "Stand", "contained": "eingedämmt",
        "ended": "beendet; wird noch untersucht", "ongoing_state": "dauert an", "detected": "Entdeckt",
        "aware": "Kenntnis erlangt", "why_aware": "Begründung des Kenntniszeitpunkts",
        "processor_notified": "Mitteilung des Auftragsverarbeiters", "how_discovered": "Art der Entdeckung",
        "deadline": "Frist (72 Std.)", "elapsed": "Zeit seit Kenntnis", "delay": "Gründe für die Verzögerung",
        "running": "läuft", "overdue": "überschritten", "met": "eingehalten", "late": "verspätet eingehalten",
        "s_nature": "Art der Verletzung (Art. 33 Abs. 3 lit. a DSGVO)", "description": "Beschreibung",
        "cause": "Ursache", "malicious": "Vorsätzlich", "confidentiality": "Vertraulichkeit",
        "integrity": "Integrität", "availability": "Verfügbarkeit", "systems": "Systeme",
        "s_data": "Betroffene personenbezogene Daten (Art. 33 Abs. 3 lit. a DSGVO)", "categories": "Kategorien",
        "special": "Besondere Kategorien", "declared": "angegeben", "not_declared": "nicht angegeben",
        "no_list": "noch keine Liste der betroffenen Personen", "found_for": "für {n} Personen gefunden",
        "found_for_one": "für 1 Person gefunden", "not_found": "in den Protokollen nicht gefunden",
        "s_subjects": "Betroffene Personen (Art. 33 Abs. 3 lit. a DSGVO)", "children": "Kinder",
        "vulnerable": "Schutzbedürftige Personen", "people": "Personen, deren Daten betroffen sind",
        "records": "Datensätze", "minors": "Minderjährige", "compromised": "Kompromittierte Konten (gesondert gezählt)",
        "requests": "damit {n} Anfragen gestellt", "exact": "genau", "approximate": "ungefähr",
        "s_consequences": "Wahrscheinliche Folgen (Art. 33 Abs. 3 lit. c DSGVO)", "consequences": "Folgen",
        "s_severity": "Bewertung des Schweregrads", "method": "Methode", "score": "Ergebnis",
        "inputs": "Eingangswerte", "basis": "Grundlage", "notes": "Anmerkungen", "assessed": "Bewertet",
        "low": "niedrig", "medium": "mittel", "high": "hoch", "very_high": "sehr hoch",
        "s_measures": "Maßnahmen (Art. 33 Abs. 3 lit. d DSGVO)", "taken": "Ergriffen", "proposed": "Vorgeschlagen",
        "s_informed": "Benachrichtigung der betroffenen Personen (Art. 34 DSGVO)", "status": "Stand",
        "when": "Wann", "how": "Wie", "reasons": "Begründung", "informed": "benachrichtigt",
        "planned": "geplant", "not_informed": "nicht benachrichtigt", "undecided": "noch nicht entschieden",
        "s_cross_border": "Grenzüberschreitende Verarbeitung", "cross_border": "Grenzüberschreitend",
        "lead_authority": "Federführende Aufsichtsbehörde", "countries": "Länder",
        "people_in": "Personen ({country})", "s_bodies": "Weitere informierte Stellen",
        "reference": "Aktenzeichen", "s_regimes": "Weitere beachtete Regelwerke",
        "people_there": "dort {n} betroffene Personen",
    },
    "fr": {
        "title": "Notification d'une violation de données à caractère personnel (article 33 du RGPD)",
        "doc": "Notification de violation de données", "footer": "notification de violation de données",
        "page": "page",
        "initial": "Notification initiale", "follow_up": "Notification complémentaire",
        "final": "Notification finale",
        "yes": "oui", "no": "non", "unknown": "inconnu", "none": "aucune", "to_follow": "à suivre",
        "information": "Informations", "language": "Langue de la présente notification",
        "untranslated": "Disponible uniquement dans la langue d'origine",
        "s_report": "Notification", "type": "Type", "earlier": "Référence antérieure", "incident": "Incident",
        "generated": "Établie le",
        "s_parties": "Responsable du traitement, déclarant et point de contact",
        "controller": "Responsable du traitement", "address": "Adresse", "role": "Rôle", "reporter": "Déclarant",
        "dpo": "DPD / point de contact (art. 33, par. 3, point b))",
        "controller_role": "responsable du traitement", "joint_controller_role": "responsable conjoint du traitement",
        "processor_role": "sous-traitant",
        "s_timing": "Chronologie", "occurred": "Date de la violation", "until": "au", "ongoing": "En cours",
        "state": "État", "contained": "maîtrisée", "ended": "terminée ; investigations en cours",
        "ongoing_state": "en cours", "detected": "Détection", "aware": "Prise de connaissance",
        "why_aware": "Justification de la date de prise de connaissance",
        "processor_notified": "Information par le sous-traitant", "how_discovered": "Mode de découverte",
        "deadline": "Délai (72 h)", "elapsed": "Temps écoulé depuis la prise de connaissance",
        "delay": "Motifs du retard",
        "running": "en cours", "overdue": "dépassé", "met": "respecté", "late": "respecté avec retard",
        "s_nature": "Nature de la violation (art. 33, par. 3, point a))", "description": "Description",
        "cause": "Cause", "malicious": "Acte malveillant", "confidentiality": "Confidentialité",
        "integrity": "Intégrité", "availability": "Disponibilité", "systems": "Systèmes",
        "s_data": "Données à caractère personnel concernées (art. 33, par. 3, point a))",
        "categories": "Catégories", "special": "Catégories particulières", "declared": "déclarée",
        "not_declared": "non déclarée", "no_list": "pas encore de liste des personnes concernées",
        "found_for": "trouvée pour {n} personnes", "found_for_one": "trouvée pour 1 personne",
        "not_found": "non trouvée dans les journaux",
        "s_subjects": "Personnes concernées (art. 33, par. 3, point a))", "children": "Enfants",
        "vulnerable": "Personnes vulnérables", "people": "Personnes dont les données sont concernées",
        "records": "Enregistrements", "minors": "Mineurs", "compromised": "Comptes compromis (comptés à part)",
        "requests": "{n} requêtes effectuées avec ces comptes", "exact": "exact", "approximate": "approximatif",
        "s_consequences": "Conséquences probables (art. 33, par. 3, point c))", "consequences": "Conséquences",
        "s_severity": "Évaluation de la gravité", "method": "Méthode", "score": "Résultat",
        "inputs": "Paramètres", "basis": "Fondement", "notes": "Remarques", "assessed": "Évaluation",
        "low": "faible", "medium": "moyen", "high": "élevé", "very_high": "très élevé",
        "s_measures": "Mesures (art. 33, par. 3, point d))", "taken": "Mesures prises",
        "proposed": "Mesures proposées",
        "s_informed": "Communication aux personnes concernées (article 34 du RGPD)", "status": "État",
        "when": "Date", "how": "Moyen", "reasons": "Motifs", "informed": "informées", "planned": "prévue",
        "not_informed": "non informées", "undecided": "pas encore décidée",
        "s_cross_border": "Traitement transfrontalier", "cross_border": "Transfrontalier",
        "lead_authority": "Autorité chef de file", "countries": "Pays", "people_in": "Personnes ({country})",
        "s_bodies": "Autres organismes informés", "reference": "référence",
        "s_regimes": "Autres régimes appliqués", "people_there": "{n} personnes concernées dans ces pays",
    },
}
