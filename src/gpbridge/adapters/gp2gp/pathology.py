"""Pathology reports (CompoundStatement "laboratory reporting") → DiagnosticReport, Specimen, Observations.

Layout, as GP2GP senders build it::

    CLUSTER 16488004 (report)
      NarrativeStatement  report-level comments ("CommentType:...\\nCommentDate:...\\n\\n<body>")
      CLUSTER 123038009 (specimen) + specimen/specimenRole
        NarrativeStatement  specimen comments
        ObservationStatement  a test result (+ NarrativeStatements after it: its comments)
        CLUSTER|BATTERY  a test group: an ObservationStatement with the group's own code, its
                         comments, then member results / nested groups

Report comments carrying report fields (``Status:``, ``Interpretation:``, ``Lab Diagnosis:``)
fill those fields; other free-text report comments are "filing comment" Observations in the
report's results, as GP Connect models them; the rest are kept as report notes.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from gpbridge.adapters.gp2gp import hl7v3
from gpbridge.adapters.gp2gp.context import Context
from gpbridge.adapters.gp2gp.errors import Gp2gpError
from gpbridge.adapters.gp2gp.hl7v3 import T, local_name
from gpbridge.adapters.gp2gp.observations import comment_observation, degraded_observation, observation_base

REPORT_CODE = "16488004"
SPECIMEN_CODE = "123038009"
ACCESSION_OID = "2.16.840.1.113883.2.1.4.5.2"
LAB_REPORT_OID = "2.16.840.1.113883.2.1.4.5.5"  # the laboratory's own report number
_NOTE_EXTENSION = "http://hl7.org/fhir/5.0/StructureDefinition/extension-DiagnosticReport.note"
_REPORT_STATUS = {"final": "final", "unknown": "unknown", "preliminary": "preliminary", "amended": "amended",
                  "corrected": "corrected", "registered": "registered", "partial": "partial",
                  "appended": "appended", "cancelled": "cancelled", "entered-in-error": "entered-in-error"}
# report-level notes that describe the report rather than record a clinical comment
_FILING_PREFIXES = ("Filling Date:", "Filing Date:")  # the sender's spelling varies between versions
_REPORT_NOTE_PREFIXES = (*_FILING_PREFIXES, "Participants:", "EMPTY REPORT")


def is_report(compound: etree._Element) -> bool:
    code = compound.find(T.code)
    return code is not None and code.get("code") == REPORT_CODE


def split_comment(text: str | None) -> tuple[str, str]:
    """``CommentType:X\\nCommentDate:Y\\n\\nbody`` → (X, body); plain text → ("", text)."""
    kind, _, body = parse_comment(text)
    return kind, body


def parse_comment(text: str | None) -> tuple[str, str, str]:
    """(comment type, comment date as HL7 TS, body) of a pathology NarrativeStatement text."""
    if not text:
        return "", "", ""
    if not text.startswith("CommentType:"):
        return "", "", text.strip()
    header, _, body = text.partition("\n\n")
    kind, date = "", ""
    for line in header.split("\n"):
        name, _, value = line.partition(":")
        if name == "CommentType":
            kind = value.strip()
        elif name == "CommentDate":
            date = value.strip()
    return kind, date, body.strip()


def map_report(ctx: Context, compound: etree._Element) -> list[str]:
    return [_Report(ctx, compound).translate()]


class _Report:
    """One report's translation. Filing comments appear twice in GP2GP: at report level and
    inside the test group they were filed against (with their own date). The in-group copy
    becomes the comment Observation; the report-level copy is accounted to it, not duplicated."""

    def __init__(self, ctx: Context, compound: etree._Element) -> None:
        self.ctx = ctx
        self.compound = compound
        self.url = ctx.builder.ref(f"DiagnosticReport|{hl7v3.root_id(compound)}")
        self.report: dict[str, Any] = {
            "resourceType": "DiagnosticReport", "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074",
                                      "code": "LAB", "display": "Laboratory"}]}],
        }
        self.results: list[str] = []
        self.notes: list[str] = []
        self.report_comments: dict[str, list[etree._Element]] = {}  # body -> report-level statements
        self.filed: str | None = None  # the report's "Filing Date:", when the sender states one

    def translate(self) -> str:
        ctx, report = self.ctx, self.report
        report["code"] = ctx.concept(self.compound.find(T.code), report) or {"text": "Laboratory report"}
        report["subject"] = {"reference": ctx.patient}
        if ctx.encounter:
            report["encounter"] = {"reference": ctx.encounter}
        lab_ids = [{"system": f"urn:oid:{LAB_REPORT_OID}", "value": ident.get("extension")}
                   for ident in self.compound.iterfind(T.id)
                   if ident.get("root") == LAB_REPORT_OID and ident.get("extension")]
        if lab_ids:
            report["identifier"] = lab_ids
        children = _children(self.compound)
        for child in children:
            if local_name(child) == "NarrativeStatement":
                self._report_comment(child)
        specimens: list[str] = []
        for child in children:
            name = local_name(child)
            if name == "NarrativeStatement":
                continue
            if name == "CompoundStatement" and _code(child) == SPECIMEN_CODE:
                specimen_url = self._specimen(child)
                specimens.append(specimen_url)
                self.results += self._statements(_children(child), specimen_url)
            elif name in ("ObservationStatement", "CompoundStatement"):
                self.results += self._statements([child], None)
            else:
                self.results.append(degraded_observation(ctx, child))
        leftover = [st for statements in self.report_comments.values() for st in statements]
        self.report_comments = {}
        filed = self._filing_time()
        for statement in leftover:  # filed against no test group: comments on the whole report
            self.results.append(self._comment(statement, None, filed))
        self._finish(specimens)
        return ctx.add("DiagnosticReport", self.compound, report)

    def _finish(self, specimens: list[str]) -> None:
        report, ctx = self.report, self.ctx
        issued = hl7v3.availability(self.compound)
        effective = hl7v3.effective(self.compound)
        if effective:
            report.update(effective)
        elif issued:
            report["effectiveDateTime"] = issued
        if issued and "T" in issued:
            report["issued"] = issued
        performers = ctx.participants(self.compound, "AUT", "PRF")
        if performers:
            report["performer"] = [{"reference": p} for p in performers]
        if specimens:
            report["specimen"] = [{"reference": s} for s in specimens]
        if self.results:
            report["result"] = [{"reference": r} for r in dict.fromkeys(self.results)]
        if self.notes:
            report["extension"] = [{"url": _NOTE_EXTENSION, "valueAnnotation": {"text": n}} for n in self.notes]

    def _report_comment(self, statement: etree._Element) -> None:
        report = self.report
        kind, body = split_comment(hl7v3.text(statement.find(T.text)))
        if body.startswith("Status:"):
            report["status"] = _REPORT_STATUS.get(body[7:].strip().lower(), "unknown")
            self.notes.append(body)
        elif body.startswith("Interpretation:"):
            conclusion = body[len("Interpretation:"):].strip()
            report["conclusion"] = f"{report['conclusion']}\n{conclusion}" if "conclusion" in report else conclusion
        elif body.startswith("Lab Diagnosis:"):
            report.setdefault("conclusionCode", []).append({"text": body[len("Lab Diagnosis:"):].strip()})
        elif body.startswith(_REPORT_NOTE_PREFIXES) or not body:
            if body.startswith(_FILING_PREFIXES):
                self.filed = _filing_date(body)
            self.notes.append(body or f"(empty {kind or 'comment'})")
        else:
            self.report_comments.setdefault(body, []).append(statement)
            return
        self.ctx.account(statement, self.url)

    def _filing_time(self) -> str | None:
        """When the report's results were filed, if the sender says so plausibly.

        Senders write every report-level comment with the report's issue time as its CommentDate,
        so a filing comment kept only at report level has lost its own date; it was written when
        the report was filed. The "Filing Date:" note records that time, but some senders fill it
        from the first result's date (a specimen date), so a time before the report was issued
        cannot be a filing time and is not used."""
        issued = hl7v3.availability(self.compound)
        if self.filed and (not issued or self.filed[:10] >= issued[:10]):
            return self.filed
        return None

    def _comment(self, statement: etree._Element, specimen: str | None, written: str | None = None) -> str:
        """A filing comment: a "Comment note" Observation dated when it was written (``written``,
        else its CommentDate)."""
        _kind, when, body = parse_comment(hl7v3.text(statement.find(T.text)))
        obs = comment_observation(self.ctx, statement, body or None, "laboratory")
        written = written or _comment_time(when)
        if written:
            obs.pop("effectivePeriod", None)
            obs["effectiveDateTime"] = written
            if "T" in written:
                obs["issued"] = written
        if specimen:
            obs["specimen"] = {"reference": specimen}
        url = self.ctx.add("Observation", statement, obs)
        copies = self.report_comments.get(body)
        if copies:  # the report-level copy of this comment
            self.ctx.account(copies.pop(0), url)
            if not copies:
                del self.report_comments[body]
        return url

    def _specimen(self, cluster: etree._Element) -> str:
        ctx = self.ctx
        specimen: dict[str, Any] = {"resourceType": "Specimen", "subject": {"reference": ctx.patient}}
        role = cluster.find(f"{T.specimen}/{T.specimenRole}")
        if role is not None:
            for ident in role.iterfind(T.id):
                if ident.get("root") == ACCESSION_OID and ident.get("extension"):
                    specimen["accessionIdentifier"] = {"value": ident.get("extension")}
            material = hl7v3.text(role.find(f"{T.specimenSpecimenMaterial}/{T.desc}"))
            if material:
                specimen["type"] = {"text": material}
            collected = hl7v3.first_time(hl7v3.effective(role))
            if collected:
                specimen["collection"] = {"collectedDateTime": collected}
        received = hl7v3.availability(cluster)
        if received and "T" in received:
            specimen["receivedTime"] = received
        url = ctx.builder.ref(f"Specimen|{hl7v3.root_id(cluster)}")
        notes = []
        for child in _children(cluster):
            if local_name(child) == "NarrativeStatement":
                kind, body = split_comment(hl7v3.text(child.find(T.text)))
                if kind.startswith("LAB SPECIMEN COMMENT"):
                    notes.append(body or "(empty specimen comment)")
                    ctx.account(child, url)
        if notes:
            specimen["note"] = [{"text": n} for n in notes]
        return ctx.add("Specimen", cluster, specimen)

    def _statements(self, children: list[etree._Element], specimen: str | None,
                    owner: tuple[dict[str, Any], str] | None = None) -> list[str]:
        """Results and groups among ``children``. A NarrativeStatement is a filing comment (a
        "Comment note" Observation) when it is a USER COMMENT — senders write a result's own
        comments as AGGREGATE COMMENT SET — or when the report repeats it; otherwise it is a
        note on the result before it (or on ``owner``, the group)."""
        ctx = self.ctx
        urls: list[str] = []
        last = owner
        for child in children:
            name = local_name(child)
            if name == "ObservationStatement":
                obs = observation_base(ctx, child, "laboratory")
                if specimen:
                    obs["specimen"] = {"reference": specimen}
                url = ctx.add("Observation", child, obs)
                urls.append(url)
                last = (obs, url)
            elif name == "CompoundStatement":
                urls.append(self._group(child, specimen))
            elif name == "NarrativeStatement":
                if hl7v3.root_id(child) in ctx.accounted:  # a specimen comment, already kept
                    continue
                kind, body = split_comment(hl7v3.text(child.find(T.text)))
                if kind == "USER COMMENT" or body in self.report_comments or last is None:
                    urls.append(self._comment(child, specimen))
                    continue
                resource, url = last
                resource.setdefault("note", []).append({"text": body or f"(empty {kind or 'comment'})"})
                ctx.account(child, url)
            else:
                urls.append(degraded_observation(ctx, child))
        return urls

    def _group(self, compound: etree._Element, specimen: str | None) -> str:
        """A test group: one Observation with the group's code; its own statement merged into it."""
        ctx = self.ctx
        group = observation_base(ctx, compound, "laboratory")
        if specimen:
            group["specimen"] = {"reference": specimen}
        url = ctx.builder.ref(f"Observation|{hl7v3.root_id(compound)}")
        children = _children(compound)
        own = next((c for c in children if local_name(c) == "ObservationStatement" and _same_term(c, compound)), None)
        if own is not None:
            merged = observation_base(ctx, own, "laboratory")
            for field in ("valueQuantity", "valueString", "valueCodeableConcept", "valueRange", "interpretation",
                          "referenceRange", "note", "performer", "effectiveDateTime", "effectivePeriod", "issued"):
                if field in merged and field not in group:
                    group[field] = merged[field]
            ctx.account(own, url)
            children = [c for c in children if c is not own]
        if "effectiveDateTime" not in group and "effectivePeriod" not in group:
            # a group the sender left undated was issued with its report
            when = hl7v3.availability(self.compound)
            if when:
                group["effectiveDateTime"] = when
        members = self._statements(children, specimen, (group, url))
        if members:
            group["hasMember"] = [{"reference": m} for m in members]
        return ctx.add("Observation", compound, group)


def _comment_time(value: str) -> str | None:
    if not value:
        return None
    try:
        return hl7v3.ts_value(value)
    except Gp2gpError:
        return None


def _filing_date(body: str) -> str | None:
    """``Filing Date: 2021-01-08 15:25:10`` (UK local time, seconds optional) → FHIR dateTime."""
    digits = "".join(ch for ch in body.partition(":")[2] if ch.isdigit())
    return _comment_time(digits) if len(digits) in (8, 12, 14) else None


def _same_term(statement: etree._Element, compound: etree._Element) -> bool:
    """The group's own statement has the group's code *and* term: a "Transfer-degraded record
    entry" code is shared by unrelated results, told apart only by their original text."""
    a, b = statement.find(T.code), compound.find(T.code)
    if a is None or b is None or a.get("code") != b.get("code"):
        return False
    return hl7v3.text(a.find(T.originalText)) == hl7v3.text(b.find(T.originalText))


def _children(compound: etree._Element) -> list[etree._Element]:
    return [c for comp in compound.iterfind(T.component) for c in comp if isinstance(c.tag, str)]


def _code(element: etree._Element) -> str | None:
    code = element.find(T.code)
    return code.get("code") if code is not None else None
