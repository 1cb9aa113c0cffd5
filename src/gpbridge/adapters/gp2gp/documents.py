"""NarrativeStatements that reference an external document (attachments) → DocumentReference.

The extract carries the document's metadata and a ``file://`` reference to the attachment sent
alongside the message (GP2GP's EBXML/MHS attachments); the reference is kept as the attachment
URL so the binary can be linked when it arrives.
"""

from __future__ import annotations

import re
from typing import Any

from lxml import etree

from gpbridge.adapters.common.flags import UNCODED_TEXT
from gpbridge.adapters.gp2gp import hl7v3
from gpbridge.adapters.gp2gp.context import Context
from gpbridge.adapters.gp2gp.hl7v3 import T


def external_document(statement: etree._Element) -> etree._Element | None:
    return statement.find(f"{T.reference}/{T.referredToExternalDocument}")


def map_document(ctx: Context, statement: etree._Element, document: etree._Element) -> str:
    doc: dict[str, Any] = {"resourceType": "DocumentReference", "status": "current"}
    doc_id = hl7v3.root_id(document)
    if doc_id:
        doc["masterIdentifier"] = {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{doc_id.lower()}"}
    description = hl7v3.text(statement.find(T.text))
    code = ctx.concept(document.find(T.code))
    type_text = _labelled(description or "", "Type")
    shown = (code or {}).get("text", "")
    if type_text and code and type_text.lower() != str(shown).lower():
        # senders code every attachment as a generic kind of content; the document's own type
        # survives only as the "Type:" text, so that is the type and the code its category
        doc["type"] = {"text": type_text}
        doc["category"] = [code]
        ctx.quality.flag(doc, UNCODED_TEXT)
    elif code:
        doc["type"] = code
    elif type_text:
        doc["type"] = {"text": type_text}
    doc["subject"] = {"reference": ctx.patient}
    when = hl7v3.availability(statement)
    if when and "T" in when:
        doc["date"] = when
    authors = ctx.participants(statement, "AUT", "PRF")
    if authors:
        doc["author"] = [{"reference": a} for a in authors]
    if description:
        doc["description"] = description
    attachment: dict[str, Any] = {}
    body = document.find(T.text)
    if body is not None:
        if body.get("mediaType"):
            attachment["contentType"] = body.get("mediaType")
        reference = body.find(T.reference)
        if reference is not None and reference.get("value"):
            attachment["url"] = reference.get("value")
    if when:
        attachment["creation"] = when
    attachment.setdefault("title", description[:200] if description else "Attachment")
    doc["content"] = [{"attachment": attachment}]
    context: dict[str, Any] = {}
    if ctx.encounter:
        context["encounter"] = [{"reference": ctx.encounter}]
    if when:
        context["period"] = {"start": when}
    if context:
        doc["context"] = context
    url = ctx.add("DocumentReference", statement, doc)
    if doc_id:
        ctx.account(doc_id, url)
    return url


_LABELS = re.compile(r"(Type|Author Org|Custodian Org|Description|Recipient):\s*")


def _labelled(text: str, label: str) -> str | None:
    """The value after ``label:`` in "Type: X Author Org: Y Description: Z" narrative text."""
    matches = list(_LABELS.finditer(text))
    for i, m in enumerate(matches):
        if m.group(1) == label:
            end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
            return text[m.end():end].strip() or None
    return None
