"""Parse an RCMR_IN030000UK06 EHR Extract message safely and read its envelope.

lxml is configured for untrusted input: no network access, no entity expansion or DTD loading
(billion-laughs / XXE), and ``huge_tree`` off so pathological nesting or text sizes are refused.
The interaction id is checked before anything is mapped.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from gpbridge.adapters.gp2gp.errors import Gp2gpError
from gpbridge.adapters.gp2gp.hl7v3 import V3, T, local_name

INTERACTION = "RCMR_IN030000UK06"
NHS_NUMBER_OID = "2.16.840.1.113883.2.1.4.1"

_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
)


@dataclass
class Envelope:
    message_id: str
    created: str | None  # creationTime value as sent
    extract_id: str
    nhs_number: str
    author_ods: str | None
    destination_ods: str | None
    sending_system: str
    folder: etree._Element
    extract: etree._Element


def parse_message(xml: bytes) -> etree._Element:
    if not isinstance(xml, (bytes, bytearray)):
        raise Gp2gpError("an EHR Extract must be given as bytes", "message", status=400)
    if not xml.strip():
        raise Gp2gpError("the message is empty", "message", code="required", status=400)
    try:
        root = etree.fromstring(bytes(xml), _PARSER)
    except etree.XMLSyntaxError as exc:
        line, column = exc.position if exc.position else (0, 0)
        raise Gp2gpError(f"not well-formed XML: {exc.msg}", f"line {line}, column {column}",
                         code="structure", status=400) from None
    except (ValueError, LookupError) as exc:  # e.g. an unknown or lying encoding declaration
        raise Gp2gpError(f"cannot decode the message: {exc}", "XML declaration", code="structure",
                         status=400) from None
    if root is None:
        raise Gp2gpError("the message has no root element", "message", code="structure", status=400)
    return root


def read_envelope(root: etree._Element) -> Envelope:
    if not isinstance(root.tag, str) or etree.QName(root).namespace != V3:
        raise Gp2gpError(f"root element is {root.tag!r}, not an HL7 V3 {INTERACTION}", "/",
                         code="structure", status=400)
    interaction = root.find(T.interactionId)
    interaction_id = interaction.get("extension") if interaction is not None else None
    if local_name(root) != INTERACTION or interaction_id != INTERACTION:
        raise Gp2gpError(
            f"interaction {interaction_id or local_name(root)!r} is not {INTERACTION} (GP2GP EHR Extract)",
            f"/{local_name(root)}/interactionId/@extension", code="not-supported", status=400,
        )
    message_id = _required_root(root, f"/{INTERACTION}/id")
    extract = root.find(f"{T.ControlActEvent}/{T.subject}/{T.EhrExtract}")
    if extract is None:
        raise Gp2gpError("no EhrExtract", f"/{INTERACTION}/ControlActEvent/subject/EhrExtract", code="required")
    extract_id = _required_root(extract, ".../EhrExtract/id")
    patient_id = extract.find(f"{T.recordTarget}/{T.patient}/{T.id}")
    nhs_number = (patient_id.get("extension") or "").strip() if patient_id is not None else ""
    if not nhs_number:
        raise Gp2gpError("the extract names no patient", ".../EhrExtract/recordTarget/patient/id/@extension",
                         code="required")
    if patient_id is not None and patient_id.get("root") not in (None, NHS_NUMBER_OID):
        raise Gp2gpError(f"patient id root {patient_id.get('root')!r} is not the NHS number OID",
                         ".../EhrExtract/recordTarget/patient/id/@root", code="value")
    folder = extract.find(f"{T.component}/{T.ehrFolder}")
    if folder is None:
        raise Gp2gpError("no ehrFolder", ".../EhrExtract/component/ehrFolder", code="required")
    sender = root.find(f"{T.communicationFunctionSnd}/{T.device}/{T.id}")
    created = root.find(T.creationTime)
    return Envelope(
        message_id=message_id,
        created=created.get("value") if created is not None else None,
        extract_id=extract_id,
        nhs_number=nhs_number,
        author_ods=_ods(extract.find(f"{T.author}/{T.AgentOrgSDS}/{T.agentOrganizationSDS}/{T.id}")),
        destination_ods=_ods(extract.find(f"{T.destination}/{T.AgentOrgSDS}/{T.agentOrganizationSDS}/{T.id}")),
        sending_system=(sender.get("extension") if sender is not None else None) or "GP2GP sender",
        folder=folder,
        extract=extract,
    )


def _required_root(element: etree._Element, where: str) -> str:
    ident = element.find(T.id)
    value = ident.get("root") if ident is not None else None
    if not value:
        raise Gp2gpError("missing id/@root", where, code="required")
    return value


def _ods(ident: etree._Element | None) -> str | None:
    return (ident.get("extension") or None) if ident is not None else None
