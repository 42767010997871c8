"""The end-to-end demo on the embedded engine, no server: the sample platform's logs → ingest → detections
→ an incident (GDPR playbook, clock) → the affected people → notices and the authority report for review.

It writes the seeded sample dataset (the same bytes as the repository's samples/), a config and a
workspace into one folder, ingests the three logs into the embedded store, runs the bundled rules, opens
an incident for the customer-record enumeration they find, builds its subject list from the logs and the
sample user directory, and renders (never sends) the emails and the authority report into `review/`.

The incident is a case file a DPO could file: the installer account whose API token was abused is declared
compromised (its holder gets the compromise notice; its requests are not records), the categories declared are
those the logs show, the decision facts are recorded, the people in Switzerland bring in the revFADP, the lead
authority, measures and consequences are written and the DPO contact is complete — so the pre-filing check
passes, and only then does the DPO approve the report (four eyes) and the approved copy is filed
(`review/filed/report.pdf`, kept with the filing, through the use case that runs the check again).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from breachkit.config import Config, load_config
from breachkit.detect.api import ruleset_from_config
from breachkit.detect.engines import LocalEngine
from breachkit.detect.run import Detection, DetectionRun, run
from breachkit.logs.ingest import IngestOptions, IngestSummary, ingest
from breachkit.logs.local import LocalStore
from breachkit.sample import write_sample
from breachkit.workspace import Workspace, init_workspace

ENUMERATION_RULE = "7812597d-689d-4c98-9368-df332764cd05"  # rules/api/customer_record_enumeration.yml


@dataclass(frozen=True)
class DemoResult:
    directory: Path
    ingested: IngestSummary
    detections: DetectionRun
    incident_id: str | None = None
    people: int = 0  # whose data was exposed
    compromised: int = 0  # accounts used by someone else (counted apart)
    review: Path | None = None
    check_passed: bool | None = None
    config_path: Path | None = None  # the demo folder's breachkit.toml
    opened_by: str = ENUMERATION_RULE  # the rule whose detections the incident was opened for


# The incident's own text in the languages of the demo's customers (de, fr, nl, it besides en), so every notice
# carries it and the pre-send language check has nothing to report.
TRANSLATIONS = {
    "de": {"description": "Das API-Token eines Installateur-Kontos wurde von einer Hosting-Adresse aus benutzt, um "
                          "über die öffentliche API den Energieverbrauch von Kundinnen und Kunden zu lesen, die es "
                          "nicht betreut – eine Kundennummer nach der anderen (fehlende Autorisierung auf "
                          "Objektebene).",
           "consequences": "Der Energieverbrauch verrät den Tagesablauf – wann jemand zu Hause oder unterwegs ist – "
                           "und könnte für Einbrüche oder gezielte Phishing-Versuche genutzt werden.",
           "measures_taken": "Das API-Token des Installateurs wurde am folgenden Morgen gesperrt; die API prüft "
                             "jetzt, dass ein Installateur die Kundin oder den Kunden betreut.",
           "measures_proposed": "Begrenzung der Anfragen je Token auf Kundenendpunkten; Alarme bei "
                                "Aufzählungsmustern; Überprüfung aller Installateur-Tokens."},
    "fr": {"description": "Le jeton d'API d'un compte d'installateur a été utilisé depuis une adresse d'hébergeur "
                          "pour lire, via l'API publique, la consommation d'énergie de clients qu'il ne dessert "
                          "pas, un numéro de client après l'autre (contrôle d'autorisation par objet manquant).",
           "consequences": "La consommation d'énergie révèle le rythme de vie – quand on est chez soi ou absent – "
                           "et pourrait servir à des cambriolages ou à un hameçonnage ciblé.",
           "measures_taken": "Le jeton d'API de l'installateur a été révoqué le lendemain matin ; l'API vérifie "
                             "désormais qu'un installateur dessert bien le client.",
           "measures_proposed": "Limites de requêtes par jeton sur les points d'accès clients ; alertes sur les "
                                "schémas d'énumération ; revue de tous les jetons d'installateurs."},
    "nl": {"description": "Het API-token van een installateursaccount werd vanaf een hostingadres gebruikt om via de "
                          "openbare API het energieverbruik te lezen van klanten die het niet bedient, het ene "
                          "klantnummer na het andere (ontbrekende autorisatie op objectniveau).",
           "consequences": "Het energieverbruik verraadt iemands dagritme – wanneer men thuis of weg is – en kan "
                           "worden gebruikt voor inbraak of gerichte phishing.",
           "measures_taken": "Het API-token van de installateur is de volgende ochtend ingetrokken; de API "
                             "controleert nu dat een installateur de klant bedient.",
           "measures_proposed": "Limieten per token op klantendpoints; meldingen bij opsommingspatronen; een "
                                "controle van alle installateurstokens."},
    "it": {"description": "Il token API di un account di installatore è stato usato da un indirizzo di hosting per "
                          "leggere, tramite l'API pubblica, il consumo di energia di clienti che non segue, un numero "
                          "cliente dopo l'altro (mancata autorizzazione a livello di oggetto).",
           "consequences": "Il consumo di energia rivela le abitudini quotidiane – quando si è in casa o fuori – e "
                           "potrebbe essere usato per furti in casa o phishing mirato.",
           "measures_taken": "Il token API dell'installatore è stato revocato la mattina seguente; l'API verifica "
                             "ora che un installatore segua il cliente.",
           "measures_proposed": "Limiti di richieste per token sugli endpoint dei clienti; allarmi sugli schemi di "
                                "enumerazione; una revisione di tutti i token degli installatori."},
}

def run_demo(directory: Path, *, now: datetime | None = None) -> DemoResult:
    directory.mkdir(parents=True, exist_ok=True)
    config_path = directory / "breachkit.toml"
    if not config_path.exists():
        init_workspace(directory)
        text = config_path.read_text(encoding="utf-8")
        for old, new in (('# source = "directory.csv"', 'source = "samples/directory.csv"'),
                         ('# devices = "devices.csv"', 'devices = "samples/devices.csv"'),
                         ('timezone = "UTC"', 'timezone = "Europe/Berlin"'),
                         ('controller_name = "Example Energy GmbH"', 'controller_name = "HeimWatt Energie GmbH"'),
                         ('dpo_name = "Data Protection Officer"', 'dpo_name = "Dr. Miriam Vogt"'),
                         ('dpo_email = "dpo@example.org"', 'dpo_email = "datenschutz@heimwatt.example"'),
                         ('# dpo_phone = "+49 …"', 'dpo_phone = "+49 711 555 0190"'),
                         ('# dpo_address = "Street 1, 12345 City, Country"',
                          'dpo_address = "Datenschutz, Königstraße 10, 70173 Stuttgart, Germany"'),
                         ('# controller_address = "Street 1, 12345 City, Country"',
                          'controller_address = "Königstraße 10, 70173 Stuttgart, Germany"'),
                         ('# sender = "privacy@your-domain.example"', 'sender = "datenschutz@heimwatt.example"')):
            text = text.replace(old, new, 1)
        config_path.write_text(text, encoding="utf-8")
    config = load_config(config_path, environ={})
    workspace = Workspace(config.workspace_dir).ensure()
    samples = directory / "samples"
    write_sample(samples)
    now = now or datetime.now(UTC)
    summaries = []
    with LocalStore(workspace.events_db) as store:
        for name, options in (
            ("portal-access.log", IngestOptions(format="combined", remote_user_field="user.id")),
            ("app-api.jsonl.gz", IngestOptions(format="jsonl")),
            ("auth.log", IngestOptions(format="auth", year=2026)),
        ):
            summaries.append(ingest([str(samples / name)], store, config, workspace, options=options, now=now))
        ruleset = ruleset_from_config(config)
        with LocalEngine(store) as engine:
            detections = run(ruleset, engine)
    ingested = IngestSummary("local", tuple(f for s in summaries for f in s.files))
    found = [d for d in detections.detections if d.rule_id == ENUMERATION_RULE]
    result = DemoResult(directory, ingested, detections, config_path=config_path)
    if not found:
        return result
    return _incident(config, directory, found, now, result)


def _incident(config: Config, directory: Path, found: list[Detection], now: datetime,
              result: DemoResult) -> DemoResult:
    """Open the incident, build its subject list, record what the responders established, decide, render the
    notices and the report for review, check the case file and file it — through the library's use cases, as a
    Python user would."""
    from breachkit.incidents import api as incidents
    from breachkit.incidents.check_api import check_case
    from breachkit.incidents.decisions_api import decide
    from breachkit.notices import api as notices
    from breachkit.notices.approvals import approve_notices
    from breachkit.scan import _linked
    from breachkit.session import Session
    from breachkit.subjects.api import build_subjects

    aware_at = max(d.last_seen for d in found) + timedelta(hours=2)
    day_after = aware_at + timedelta(hours=20)  # the demo's incident work happens on the day after awareness
    review = directory / "review"
    # the accounts whose token made the requests: the installer says it did not (declared compromised)
    tokens = sorted({v for d in found for k, v in d.key if k == "user.id"})
    with Session(config, actor="demo@heimwatt.example", clock=lambda: day_after) as session:
        opened = incidents.open_incident(
            session, title="Customer records enumerated through the public API",
            description="The API token of an installer account was used from a hosting address to read the energy "
                        "consumption of customers it does not serve, one customer id after the other, through the "
                        "public API (missing object-level authorisation).",
            aware_at=aware_at, detected_at=min(d.last_seen for d in found),
            occurred_at=min(d.first_seen for d in found),
            justification="The security team confirmed from the API logs that the responses contained "
                          "other customers' records.",
            playbook="gdpr-personal-data-breach", commander="ic@heimwatt.example",
            regimes=["gdpr-33", "gdpr-34", "ch-fadp"],  # 22 of the customers live in Switzerland
            detections=[_linked(d) for d in found], detections_source="demo",
            fields={"impact": {"confidentiality": True}, "malicious": True,
                    "cause": "abuse of a stolen installer API token; the API did not check that the installer "
                             "serves the customer (broken object-level authorisation)",
                    "occurred_until": max(d.last_seen for d in found), "compromised_accounts": tokens,
                    "data_categories": ["usage"],
                    "lead_authority": "LfDI Baden-Württemberg",
                    "systems": ["public API (app-api)"],
                    "consequences": "The customers' energy consumption reveals their daily routine — when they "
                                    "are at home or away — which could be used for burglary or targeted "
                                    "phishing.",
                    "measures_taken": "The installer's API token was revoked on the morning after; object-level "
                                      "authorisation now checks that an installer serves the customer.",
                    "measures_proposed": "Rate limits per token on customer endpoints; alerts on enumeration "
                                         "patterns; a review of all installer tokens.",
                    "facts": {"confidentiality_reach": "wide", "exfiltration": "confirmed", "encryption": "none",
                              "already_public": "no"},
                    "translations": TRANSLATIONS})
        incident_id = opened.incident.id
        outcome = build_subjects(session, incident_id, engine="local")
        found_people = outcome.record.summary["found_subject_categories"]
        incidents.update_incident(session, incident_id, {"subject_categories": found_people},
                                  reason=f"confirmed from subject list v{outcome.record.version}")
        incidents.set_status(session, incident_id, "contained", reason="token revoked, authorisation fixed")
        decide(session, incident_id, authority=True, subjects=True,
               reason=f"Consumption data of {outcome.counts.people} customers in an attacker's hands: their "
                      "routines at home can be read from it, a high risk (Art. 34(1)).")
        notices.render_subject_notices(session, incident_id, review / "subjects", overwrite=True)
        notices.render_authority_reports(session, incident_id, review / "authority", formats=("md", "html", "json"),
                                         overwrite=True)
        checked = check_case(session, incident_id)
        if checked.passed:  # file_report runs the same check and would refuse otherwise
            # four eyes on the report, then the approved PDF is what is filed (and kept with the filing)
            approved = approve_notices(session.as_actor("dpo@heimwatt.example"), incident_id, version=1,
                                       kind="authority", formats=("pdf",), out=review / "filed", overwrite=True,
                                       reason="demo: facts, numbers and contact point checked against the incident")
            incidents.file_report(session, incident_id, regime="gdpr-33", stage="authority",
                                  reference="DEMO-LDA-0001", recipient="LfDI Baden-Württemberg",
                                  note="demo: initial report filed", document=Path(approved.files[0]))
    return dataclasses.replace(result, incident_id=incident_id, people=outcome.counts.people,
                               compromised=outcome.counts.compromised_accounts, review=review,
                               check_passed=checked.passed)
