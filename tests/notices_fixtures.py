"""Sample incidents for the notice tests (and the delivery tests that reuse them).

Three incidents, each with everything the authority report and the subject emails need:

* ``credential_stuffing`` — an initial report rendered after the 72-hour deadline (overdue: delay reasons given);
  its own text also in German and French (`Incident.translations`);
* ``device_imei`` — device identifiers and locations exposed through an API, children's data among them;
* ``ransomware_follow_up`` — a follow-up report quoting the authority's reference of the initial filing, with a
  NIS2 early warning and a police complaint as other bodies informed, and a decision not to inform the people;
  the categories declared (financial) and found (orders) differ; its text in German, except the measures proposed
  (the German report says which fields are in English only).

``credential_stuffing`` counts the taken-over accounts apart (compromised accounts that are data subjects too);
its recipient also gets the compromise notice and the combined one (`compromised_recipient`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

import pandas as pd

from breachkit.config import NoticesConfig
from breachkit.incidents.clock import Deadline, deadlines
from breachkit.incidents.model import (
    Assessment,
    Decision,
    DecisionKind,
    Filing,
    FilingKind,
    Impact,
    Incident,
    Role,
    Severity,
    Status,
)
from breachkit.incidents.regimes import builtin_regimes
from breachkit.notices.context import (
    AuthorityContext,
    IncidentNoticeContext,
    ReportType,
    SubjectNumbers,
    authority_context,
    incident_notice_context,
)
from breachkit.notices.recipients import Recipient
from breachkit.subjects import schema as S

ZONE = "Europe/Berlin"
CONFIG = NoticesConfig(
    controller_name="Example Energy GmbH", controller_address="Musterstraße 1, 70173 Stuttgart, Germany",
    dpo_name="Dr. Jana Schulz", dpo_email="dpo@example-energy.de", dpo_phone="+49 711 555 0100",
    dpo_address="Datenschutz, Musterstraße 1, 70173 Stuttgart, Germany",
    reporter_name="Tom Becker", reporter_email="security@example-energy.de", default_locale="en")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@dataclass(frozen=True)
class Sample:
    key: str
    incident: Incident
    now: datetime
    numbers: SubjectNumbers | None
    filings: tuple[Filing, ...]
    decisions: tuple[Decision, ...]
    assessment: Assessment | None
    report_type: ReportType
    recipient: Recipient  # the person the golden subject emails are rendered for

    def deadlines(self) -> list[Deadline]:
        regimes = builtin_regimes()
        out: list[Deadline] = []
        for regime_id in self.incident.regimes:
            filed = {f.stage: f.filed_at for f in self.filings if f.regime == regime_id}
            out += deadlines(regimes[regime_id], self.incident.aware_at, self.now, filed)
        return out

    def authority_context(self, locale: str = "en", **changes: object) -> AuthorityContext:
        incident = self.incident.model_copy(update=changes) if changes else self.incident
        return authority_context(incident, config=CONFIG, now=self.now, deadlines=self.deadlines(),
                                 numbers=self.numbers, filings=self.filings, decisions=self.decisions,
                                 assessment=self.assessment, report_type=self.report_type, zone=ZONE,
                                 locale=locale, source_locale=CONFIG.default_locale)

    def incident_context(self) -> IncidentNoticeContext:
        return incident_notice_context(self.incident, config=CONFIG, zone=ZONE, filings=self.filings)


def _incident(**fields: object) -> Incident:
    base: dict[str, object] = {"created_at": fields["aware_at"], "updated_at": fields["aware_at"],
                               "role": Role.CONTROLLER}
    return Incident.model_validate({**base, **fields})


CREDENTIAL_STUFFING = Sample(
    key="credential_stuffing",
    incident=_incident(
        id="BK-2026-0007", title="Credential stuffing against the customer portal", status=Status.CONTAINED,
        severity=Severity.HIGH,
        description="Between 24 and 26 March 2026 an attacker tried about 180,000 username/password pairs taken "
                    "from other services' breaches against the login of the customer portal. 1,234 logins "
                    "succeeded; for these accounts the attacker viewed the profile page and the energy "
                    "consumption dashboard and exported consumption data.",
        occurred_at=at("2026-03-24T21:10:00+00:00"), occurred_until=at("2026-03-26T05:40:00+00:00"),
        detected_at=at("2026-03-26T08:15:00+00:00"), aware_at=at("2026-03-27T09:00:00+00:00"),
        aware_justification="Log analysis on 27 March confirmed successful logins from the attacking addresses "
                            "followed by profile views; until then only failed attempts were known.",
        how_discovered="Alert from the brute-force correlation rule on the portal's access logs, confirmed by "
                       "the security team.",
        lead_authority="LfDI Baden-Württemberg", countries=["DE", "AT", "FR"],
        impact=Impact(confidentiality=True),
        cause="Credential stuffing by an external attacker (passwords reused from third-party breaches)",
        malicious=True, systems=["customer-portal", "api-gateway"],
        data_categories=["identity", "contact", "credentials", "usage"], subject_categories=["customers"],
        approx_subjects=1300, approx_records=6000,
        consequences="Takeover of the affected customer accounts; phishing with the exposed contact details; "
                     "inferences about household routines from the consumption data.",
        measures_taken="Blocked the attacking address ranges at the web application firewall on 26 March.\n"
                       "Forced a password reset and ended all sessions of the 1,234 affected accounts.\n"
                       "Enabled rate limiting on the login endpoint.",
        measures_proposed="Offer two-factor authentication by May 2026 – check new passwords against lists of "
                          "breached passwords – monitor the affected accounts for 90 days.",
        delay_reasons="The affected accounts could only be identified after the access logs of the second data "
                      "centre had been restored from backup on 29 March. We notified as soon as the scope was "
                      "established.",
        translations={
            "de": {"description": "Zwischen dem 24. und 26. März 2026 hat ein Angreifer rund 180.000 Kombinationen "
                                  "aus Benutzername und Passwort, die aus Datenlecks anderer Dienste stammen, am "
                                  "Login des Kundenportals ausprobiert. 1.234 Anmeldungen waren erfolgreich; bei "
                                  "diesen Konten hat der Angreifer die Profilseite und die Übersicht des "
                                  "Energieverbrauchs aufgerufen und Verbrauchsdaten exportiert.",
                   "consequences": "Übernahme der betroffenen Kundenkonten; Phishing mit den offengelegten "
                                   "Kontaktdaten; Rückschlüsse auf den Tagesablauf der Haushalte aus den "
                                   "Verbrauchsdaten.",
                   "measures_taken": "Die angreifenden Adressbereiche wurden am 26. März an der Web Application "
                                     "Firewall gesperrt.\nFür die 1.234 betroffenen Konten wurde ein Zurücksetzen "
                                     "des Passworts erzwungen, und alle Sitzungen wurden beendet.\nDer Login-Endpunkt "
                                     "begrenzt jetzt die Zahl der Anmeldeversuche.",
                   "measures_proposed": "Zwei-Faktor-Authentifizierung bis Mai 2026 anbieten – neue Passwörter "
                                        "gegen Listen bekannter kompromittierter Passwörter prüfen – die betroffenen "
                                        "Konten 90 Tage lang überwachen.",
                   "advice": "Wir haben Ihr Passwort zurückgesetzt: Über den Link „Passwort vergessen“ im "
                             "Kundenportal vergeben Sie ein neues."},
            "fr": {"description": "Entre le 24 et le 26 mars 2026, un attaquant a essayé environ 180 000 couples "
                                  "identifiant/mot de passe, issus de fuites de données d'autres services, sur la "
                                  "page de connexion de l'espace client. 1 234 connexions ont réussi ; pour ces "
                                  "comptes, l'attaquant a consulté la page de profil et le tableau de bord de "
                                  "consommation d'énergie, et a exporté des données de consommation.",
                   "consequences": "Prise de contrôle des comptes clients concernés ; hameçonnage à l'aide des "
                                   "coordonnées exposées ; déductions sur les habitudes des foyers à partir des "
                                   "données de consommation.",
                   "measures_taken": "Les plages d'adresses de l'attaquant ont été bloquées sur le pare-feu "
                                     "applicatif le 26 mars.\nLa réinitialisation du mot de passe a été imposée "
                                     "aux 1 234 comptes concernés et toutes leurs sessions ont été fermées.\nLe "
                                     "nombre de tentatives de connexion est désormais limité.",
                   "measures_proposed": "Proposer l'authentification à deux facteurs d'ici mai 2026 – vérifier "
                                        "les nouveaux mots de passe auprès de listes de mots de passe compromis – "
                                        "surveiller les comptes concernés pendant 90 jours.",
                   "advice": "Nous avons réinitialisé votre mot de passe : choisissez-en un nouveau avec le lien "
                             "« Mot de passe oublié » de l'espace client."}},
        commander="security@example-energy.de"),
    now=at("2026-03-31T10:00:00+00:00"),
    numbers=SubjectNumbers(people=1234, records=5678, exact=True, per_country={"DE": 1001, "AT": 150, "FR": 83},
                           per_category={"credentials": 1234, "contact": 1234, "identity": 1234, "usage": 987},
                           compromised_accounts=1234, compromised_requests=4321, found_in=3,
                           found_categories=("contact", "credentials", "identity", "usage")),
    filings=(),
    decisions=(
        Decision(incident_id="BK-2026-0007", kind=DecisionKind.NOTIFY_AUTHORITY, decision=True,
                 reasons="Working credentials were used: a risk to the customers.", decided_by="dpo@example-energy.de",
                 decided_at=at("2026-03-27T11:00:00+00:00")),
        Decision(incident_id="BK-2026-0007", kind=DecisionKind.NOTIFY_SUBJECTS, decision=True,
                 reasons="High risk: account takeover and phishing; the customers must change their passwords.",
                 decided_by="dpo@example-energy.de", decided_at=at("2026-03-30T16:00:00+00:00"))),
    assessment=Assessment(incident_id="BK-2026-0007", dpc=2, dpc_basis="behavioural data (consumption) with "
                          "credentials", ei=1, cb_confidentiality=0.5, cb_malicious=0.5, score=3.0,
                          severity=Severity.HIGH, notes="Name and customer number identify the person directly.",
                          assessed_by="dpo@example-energy.de", assessed_at=at("2026-03-28T10:00:00+00:00")),
    report_type="initial",
    recipient=Recipient(row=2, subject_id="u100001", email="anna.mueller@example.org", name="Anna Müller",
                        locale="de-AT", country="AT", categories=("contact", "credentials", "identity", "usage"),
                        first_seen=at("2026-03-25T02:14:00+00:00"), last_seen=at("2026-03-25T02:31:00+00:00"),
                        records=7),
)

DEVICE_IMEI = Sample(
    key="device_imei",
    incident=_incident(
        id="BK-2026-0012", title="Device registry API exposed device identifiers and household members",
        status=Status.CONTAINED,
        description="A misconfigured endpoint of the device registry API returned the device records of other "
                    "households to any logged-in user who changed the household number in the request. The "
                    "records hold the IMEI of the smart meter gateway, its location and the household members "
                    "registered in the family app, some of them children.",
        occurred_at=at("2026-05-02T06:00:00+00:00"), occurred_until=at("2026-05-14T13:20:00+00:00"),
        detected_at=at("2026-05-14T11:05:00+00:00"), aware_at=at("2026-05-14T16:30:00+00:00"),
        aware_justification="We reproduced the researcher's report and found in the API logs that records of "
                            "other households had actually been retrieved.",
        how_discovered="Report from a security researcher through our vulnerability disclosure programme.",
        countries=["DE", "AT"], impact=Impact(confidentiality=True),
        cause="Broken object-level authorisation in a new API release (internal error)", malicious=False,
        systems=["device-registry-api"], data_categories=["device_identifiers", "location", "identity"],
        subject_categories=["customers", "children"], approx_subjects=8500,
        consequences="Devices and households could be located and tracked; names and ages of children became "
                     "visible to other users; gateways could be impersonated towards the API using the IMEI.",
        measures_taken="Disabled the endpoint on 14 May and deployed a fix with object-level authorisation "
                       "checks; revoked the device tokens of the affected gateways.",
        measures_proposed="Add authorisation tests for every API endpoint to the release pipeline; review the API "
                          "logs of the whole period."),
    now=at("2026-05-15T10:00:00+00:00"),
    numbers=SubjectNumbers(people=8423, records=15210, exact=False, per_country={"DE": 7801, "AT": 610, "": 12},
                           per_category={"device_identifiers": 8423, "location": 8423, "identity": 3120},
                           minors=1290),
    filings=(),
    decisions=(Decision(incident_id="BK-2026-0012", kind=DecisionKind.NOTIFY_SUBJECTS, decision=True,
                        reasons="Children's data and locations: high risk.", decided_by="dpo@example-energy.de",
                        decided_at=at("2026-05-15T08:00:00+00:00")),),
    assessment=None,
    report_type="initial",
    recipient=Recipient(row=5, subject_id="u204417", email="leon.weber@example.org", name="Leon Weber",
                        locale="fr-CH", country="CH", minor=True, categories=("device_identifiers", "location"),
                        first_seen=at("2026-05-09T17:45:00+00:00"), last_seen=at("2026-05-09T17:45:00+00:00")),
)

RANSOMWARE_FOLLOW_UP = Sample(
    key="ransomware_follow_up",
    incident=_incident(
        id="BK-2026-0003", title="Ransomware on the billing file server", status=Status.RECOVERED,
        description="Ransomware encrypted the billing file server in the night of 8 to 9 February 2026.\n\n"
                    "Forensic analysis has since found that the attacker copied an archive of PDF invoices "
                    "before encrypting the server.",
        occurred_at=at("2026-02-08T22:40:00+00:00"), occurred_until=at("2026-02-09T03:15:00+00:00"),
        detected_at=at("2026-02-09T06:30:00+00:00"), aware_at=at("2026-02-09T12:00:00+00:00"),
        aware_justification="The ransom note named data theft; the invoice archive on the server holds personal "
                            "data.",
        how_discovered="Monitoring alert: the billing service could not read its files.",
        lead_authority="LfDI Baden-Württemberg", countries=["DE"], impact=Impact(confidentiality=True,
                                                                                 availability=True),
        cause="Ransomware by an external criminal group; initial access through a phished VPN account",
        malicious=True, systems=["billing-fileserver (Łódź data centre)", "vpn"],
        data_categories=["identity", "contact", "financial"], subject_categories=["customers", "installers"],
        approx_subjects=20000, approx_records=52000,
        consequences="Targeted phishing with invoice data; publication of the invoices on the attackers' leak "
                     "site. Bank account numbers on the invoices are masked except the last four digits.",
        measures_taken="Isolated the server, restored it from offline backups by 11 February, reset all VPN "
                       "credentials and enforced two-factor authentication on the VPN; filed a criminal complaint.",
        measures_proposed="Watch the attackers' leak site and request take-down of any publication (≥ weekly).",
        translations={"de": {
            "description": "In der Nacht vom 8. auf den 9. Februar 2026 hat Ransomware den Abrechnungs-Dateiserver "
                           "verschlüsselt.\n\nDie forensische Analyse hat seither ergeben, dass der Angreifer vor "
                           "der Verschlüsselung ein Archiv mit PDF-Rechnungen kopiert hat.",
            "consequences": "Gezieltes Phishing mit Rechnungsdaten; Veröffentlichung der Rechnungen auf der "
                            "Leak-Seite der Angreifer. Die Kontonummern auf den Rechnungen sind bis auf die letzten "
                            "vier Ziffern maskiert.",
            "measures_taken": "Der Server wurde isoliert und bis zum 11. Februar aus Offline-Sicherungen "
                              "wiederhergestellt; alle VPN-Zugangsdaten wurden zurückgesetzt und die "
                              "Zwei-Faktor-Authentifizierung am VPN verpflichtend eingeführt; Strafanzeige wurde "
                              "erstattet."}},
        commander="security@example-energy.de"),
    now=at("2026-03-02T09:00:00+00:00"),
    numbers=SubjectNumbers(people=18342, records=51877, exact=True, per_country={"DE": 18342},
                           per_category={"identity": 18342, "contact": 18342, "orders": 17950}, found_in=2,
                           found_categories=("contact", "identity", "orders")),
    filings=(
        Filing(incident_id="BK-2026-0003", regime="gdpr-33", stage="authority", kind=FilingKind.INITIAL,
               filed_at=at("2026-02-11T10:00:00+00:00"), reference="LfDI-BW-2026-0147",
               recipient="LfDI Baden-Württemberg", filed_by="dpo@example-energy.de"),
        Filing(incident_id="BK-2026-0003", regime="nis2", stage="early_warning",
               filed_at=at("2026-02-10T09:00:00+00:00"), reference="CERT-2026-311", recipient="BSI (CSIRT)",
               filed_by="security@example-energy.de"),
        Filing(incident_id="BK-2026-0003", regime="police", stage="complaint",
               filed_at=at("2026-02-10T15:00:00+00:00"), recipient="Landeskriminalamt Baden-Württemberg",
               filed_by="security@example-energy.de")),
    decisions=(Decision(incident_id="BK-2026-0003", kind=DecisionKind.NOTIFY_SUBJECTS, decision=False,
                        reasons="Bank details are masked and no passwords were stored on the server: no high risk "
                                "(Art. 34(1)); we monitor the leak site and will inform the people if that changes.",
                        decided_by="dpo@example-energy.de", decided_at=at("2026-02-12T09:00:00+00:00")),),
    assessment=Assessment(incident_id="BK-2026-0003", dpc=2.5, dpc_basis="financial data (3), −0.5: masked",
                          ei=0.75, cb_confidentiality=0.5, cb_availability=0.25, cb_malicious=0.5, score=3.125,
                          severity=Severity.HIGH, assessed_by="dpo@example-energy.de",
                          assessed_at=at("2026-02-10T12:00:00+00:00")),
    report_type="follow_up",
    recipient=Recipient(row=3, subject_id="c-88412", email="claire.dubois@example.org", name="Claire Dubois",
                        locale="", country="DE", categories=()),
)

SAMPLES = {s.key: s for s in (CREDENTIAL_STUFFING, DEVICE_IMEI, RANSOMWARE_FOLLOW_UP)}
# The notice kinds of a compromised account (subjects.roles): the account only, and the account and its data.
COMPROMISE_KINDS = {"compromise": ("compromised_account",), "breach_and_compromise": ("data_subject",
                                                                                     "compromised_account")}


def compromised_recipient(kind: str) -> Recipient:
    recipient = CREDENTIAL_STUFFING.recipient
    categories = recipient.categories if "data_subject" in COMPROMISE_KINDS[kind] else ()
    return replace(recipient, roles=COMPROMISE_KINDS[kind], requests=37, categories=categories)

_PEOPLE = [("Anna Müller", "de", "DE"), ("Jean Martin", "fr", "FR"), ("Olivia Smith", "en", "IE"),
           ("Lukas Gruber", "de-AT", "AT"), ("Chiara Rossi", "it", "IT"), ("Zoë Ørsted", "", "DK")]


def subject_table(n: int = 12) -> pd.DataFrame:
    """`n` valid rows of the subject table (schema.SUBJECT_COLUMNS), cycling through locales and countries."""
    rows = []
    for i in range(n):
        name, locale, country = _PEOPLE[i % len(_PEOPLE)]
        rows.append({S.SUBJECT_ID: f"u{100000 + i}", S.EMAIL: f"person{i}@example.org", S.NAME: name,
                     S.PHONE: "", S.LOCALE: locale, S.COUNTRY: country, S.ACCOUNT_TYPE: "end_user",
                     S.MINOR: i % 7 == 3, S.CATEGORIES: ["credentials", "contact"], S.IDENTIFIERS: [f"user.id:u{i}"],
                     S.FIRST_SEEN: at("2026-03-25T02:14:00+00:00"), S.LAST_SEEN: at("2026-03-25T03:00:00+00:00"),
                     S.RECORDS: i + 1})
    return pd.DataFrame(rows, columns=list(S.SUBJECT_COLUMNS))
