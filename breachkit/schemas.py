"""The result documents breachkit produces, and their JSON Schemas (`python -m breachkit.schemas DIR` writes
one file per document; docs/schemas/ holds them and a test keeps them current)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from breachkit.detect.document import DetectionsDocument
from breachkit.document import Document
from breachkit.incidents.documents import CheckDocument, ClockDocument, DecisionDocument, IncidentDocument
from breachkit.notices.api import NoticeStatusDocument
from breachkit.notices.approvals import ApprovalDocument, SendPlanDocument
from breachkit.notices.disclosures import DisclosuresDocument
from breachkit.scan import ScanDocument
from breachkit.subjects.document import SubjectsDocument

DOCUMENTS: tuple[type[Document], ...] = (DetectionsDocument, IncidentDocument, ClockDocument, DecisionDocument,
                                         SubjectsDocument, NoticeStatusDocument, ScanDocument, CheckDocument,
                                         ApprovalDocument, SendPlanDocument, DisclosuresDocument)


def schema_files() -> dict[str, str]:
    """File name → JSON text of each document's schema."""
    out = {}
    for doc in DOCUMENTS:
        name, _, version = doc.SCHEMA.partition("/")
        out[f"{name}.v{version}.schema.json"] = json.dumps(doc.json_schema(), indent=2, sort_keys=True) + "\n"
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    folder = Path(args[0] if args else "docs/schemas")
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in schema_files().items():
        (folder / name).write_text(text, encoding="utf-8")
        print(folder / name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
