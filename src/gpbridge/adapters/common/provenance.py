"""One Provenance per import: what came in, from whom, when, and which adapter translated it."""

from __future__ import annotations

from typing import Any

ODS_SYSTEM = "https://fhir.nhs.uk/Id/ods-organization-code"
MESSAGE_ID_SYSTEM = "https://gpbridge.dev/Id/source-message"
_PARTICIPANT = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"


def build_provenance(
    *,
    provenance_id: str,
    adapter: str,
    adapter_version: str,
    source_system: str,
    ods_code: str | None,
    message_id: str,
    received: str,
    targets: list[str],
    archive_reference: str,
) -> dict[str, Any]:
    source_agent: dict[str, Any] = {
        "type": {"coding": [{"system": _PARTICIPANT, "code": "author", "display": "Author"}]},
        "who": {"display": source_system or "unknown source system"},
    }
    if ods_code:
        source_agent["who"]["identifier"] = {"system": ODS_SYSTEM, "value": ods_code}
    return {
        "resourceType": "Provenance",
        "id": provenance_id,
        "target": [{"reference": t} for t in targets],
        "occurredDateTime": received,
        "recorded": received,
        "activity": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation", "code": "CREATE"}],
            "text": f"{adapter} import",
        },
        "agent": [
            source_agent,
            {
                "type": {"coding": [{"system": _PARTICIPANT, "code": "assembler", "display": "Assembler"}]},
                "who": {"display": f"gpbridge {adapter} adapter {adapter_version}"},
            },
        ],
        "entity": [
            {
                "role": "source",
                "what": {
                    "reference": archive_reference,
                    "identifier": {"system": f"{MESSAGE_ID_SYSTEM}/{adapter}", "value": message_id},
                    "display": f"{adapter} message {message_id}",
                },
            }
        ],
    }
