"""The terminology ``$operations`` as pure functions: ``OperationInput`` in, FHIR resource out.

No HTTP here: ``api.operations.terminology`` parses the request into an ``OperationInput``, calls
one of these in a worker thread and renders the dict. Each follows its R4 OperationDefinition
(CodeSystem-lookup, -validate-code, -subsumes; ValueSet-expand, -validate-code;
ConceptMap-translate).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from gpbridge.fhir.outcome import bad_request
from gpbridge.terminology import systems as sx
from gpbridge.terminology.errors import cannot_expand
from gpbridge.terminology.parameters import OperationInput, param, parameters, part
from gpbridge.terminology.results import (
    CodeValidation,
    Designation,
    MapResult,
    Property,
    TerminologyUnavailable,
)
from gpbridge.terminology.service import MATCHING, Terminology


# -- CodeSystem/$lookup ------------------------------------------------------------------------------
def lookup(tx: Terminology, inp: OperationInput) -> dict[str, Any]:
    system, code = _system_code(inp, "coding")
    result = tx.lookup(system, code, inp.text("version"), inp.texts("property") or None)
    return parameters(
        param("name", result.system_name or system),
        param("version", result.version),
        param("display", result.concept.display),
        *(_designation(d) for d in result.designations if d.use != "display"),
        *(_property(p) for p in result.properties),
    )


def _designation(d: Designation) -> dict[str, Any]:
    use = sx.DESIGNATION_USE.get(d.use)
    if use is None and "|" in d.use:
        system, _, code = d.use.partition("|")
        use = {"system": system, "code": code} if system else {"code": code}
    return part("designation", param("language", d.language, "code"), param("use", use, "Coding"),
                param("value", d.value))


_KINDS = {"code": "Code", "boolean": "Boolean", "string": "String", "integer": "Integer", "decimal": "Decimal",
          "dateTime": "DateTime", "Coding": "Coding"}


def _property(p: Property) -> dict[str, Any]:
    value = p.value
    kind = _KINDS.get(p.kind, "String")
    if kind == "Coding" and isinstance(value, str):
        system, _, code = value.partition("|")
        value = {"system": system, "code": code}
    return part("property", param("code", p.code, "code"), param("value", value, kind))


# -- CodeSystem/$validate-code and ValueSet/$validate-code --------------------------------------------
def validate_code_in_system(tx: Terminology, inp: OperationInput) -> dict[str, Any]:
    if inp.values.get("codeSystem"):
        raise cannot_expand("an inline codeSystem is not supported: load it with 'gpbridge terminology load fhir'",
                            "codeSystem")
    codings = _codings(inp, system_param="url")
    version = inp.text("version")
    results = _validate_each(tx, codings, version=version)
    return _validation(results)


def validate_code_in_value_set(tx: Terminology, inp: OperationInput) -> dict[str, Any]:
    url = inp.text("url")
    version = inp.text("valueSetVersion")
    if url and version:
        url = f"{url}|{version}"
    value_set = inp.resource("valueSet", "ValueSet")
    if url is None and value_set is None:
        raise bad_request("give the value set: url or valueSet", "url", code="required")
    codings = _codings(inp, system_param="system")
    results = _validate_each(tx, codings, url=url, value_set=value_set)
    return _validation(results)


def _validate_each(tx: Terminology, codings: list[dict[str, Any]], **where: Any) -> list[CodeValidation]:
    """Each coding's answer; when no coding's system or value set is known here at all, the
    operation cannot answer and says so as a 404, as $lookup and $expand do."""
    results: list[CodeValidation] = []
    unknown: TerminologyUnavailable | None = None
    for c in codings:
        try:
            results.append(tx.validate_code(c["code"], c.get("system"), c.get("display"), raise_unknown=True, **where))
        except TerminologyUnavailable as exc:
            unknown = unknown or exc
            results.append(CodeValidation(False, exc.message, known=False, system=c.get("system"), code=c["code"]))
    if unknown is not None and not any(r.known for r in results):
        raise unknown
    return results


def _validation(results: list[CodeValidation]) -> dict[str, Any]:
    """One answer for a code, Coding or CodeableConcept (valid when any of its codings is)."""
    good = next((r for r in results if r.result), None)
    chosen = good or next((r for r in results if r.code_ok), None) or results[0]
    messages = [r.message for r in results if r.message]
    return parameters(
        param("result", chosen.result),
        param("message", "; ".join(messages) if messages else None),
        param("display", chosen.display),
    )


def _codings(inp: OperationInput, system_param: str) -> list[dict[str, Any]]:
    cc = inp.codeable_concept("codeableConcept")
    if cc is not None:
        codings = [c for c in cc.get("coding") or () if isinstance(c, dict) and c.get("code")]
        if not codings:
            raise bad_request("codeableConcept has no coding with a code", "codeableConcept")
        return codings
    coding = inp.coding("coding")
    if coding is not None:
        if not coding.get("code"):
            raise bad_request("coding has no code", "coding")
        return [coding]
    code = inp.text("code", required=True)
    # CodeSystem/$validate-code names the system "url"; accept "system" there too, as clients send it
    system = inp.text(system_param) or (inp.text("system") if system_param != "system" else None)
    return [{"system": system, "code": code, "display": inp.text("display")}]


# -- CodeSystem/$subsumes --------------------------------------------------------------------------------
def subsumes(tx: Terminology, inp: OperationInput) -> dict[str, Any]:
    coding_a, coding_b = inp.coding("codingA"), inp.coding("codingB")
    system = inp.text("system")
    if coding_a is not None and coding_b is not None:
        if coding_a.get("system") != coding_b.get("system"):
            raise bad_request("codingA and codingB must be in the same code system", "codingB")
        system = system or coding_a.get("system")
        code_a, code_b = coding_a.get("code"), coding_b.get("code")
    else:
        code_a, code_b = inp.text("codeA", required=True), inp.text("codeB", required=True)
    if not system:
        raise bad_request("parameter 'system' is required", "system", code="required")
    if not code_a or not code_b:
        raise bad_request("both codes are required", "codeA", code="required")
    outcome = tx.subsumes(system, code_a, code_b, inp.text("version"))
    return parameters(param("outcome", outcome, "code"))


# -- ValueSet/$expand -----------------------------------------------------------------------------------
def expand(tx: Terminology, inp: OperationInput) -> dict[str, Any]:
    url = inp.text("url")
    version = inp.text("valueSetVersion")
    value_set = inp.resource("valueSet", "ValueSet")
    if url is None and value_set is None:
        raise bad_request("give the value set: url or valueSet", "url", code="required")
    text, count, offset = inp.text("filter"), inp.integer("count"), inp.integer("offset") or 0
    active_only = inp.boolean("activeOnly")
    designations = inp.boolean("includeDesignations")
    expansion = tx.expand(f"{url}|{version}" if url and version else url, value_set, filter=text, count=count,
                          offset=offset, active_only=active_only, include_designations=designations)
    used = [("filter", text, "String"), ("count", count, "Integer"), ("offset", offset if offset else None, "Integer"),
            ("activeOnly", active_only or None, "Boolean"), ("includeDesignations", designations or None, "Boolean")]
    contains = []
    for c in expansion.contains:
        entry: dict[str, Any] = {"system": c.system, "code": c.code}
        if not c.active:
            entry["inactive"] = True
        if c.display:
            entry["display"] = c.display
        found = expansion.designations.get((c.system, c.code))
        if found:
            entry["designation"] = [_expansion_designation(d) for d in found if d.use != "display"]
        contains.append(entry)
    body: dict[str, Any] = {"resourceType": "ValueSet", **expansion.value_set}
    body.setdefault("status", "active")
    body["expansion"] = {
        "identifier": f"urn:uuid:{uuid.uuid4()}",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "total": expansion.total,
        "offset": expansion.offset,
        "parameter": [{"name": n, f"value{k}": v} for n, v, k in used if v is not None],
        "contains": contains,
    }
    if not contains:
        del body["expansion"]["contains"]
    if not body["expansion"]["parameter"]:
        del body["expansion"]["parameter"]
    return body


def _expansion_designation(d: Designation) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if d.language:
        out["language"] = d.language
    use = sx.DESIGNATION_USE.get(d.use)
    if use:
        out["use"] = use
    out["value"] = d.value
    return out


# -- ConceptMap/$translate ----------------------------------------------------------------------------
def translate(tx: Terminology, inp: OperationInput) -> dict[str, Any]:
    codings = _codings(inp, system_param="system")
    target_system = inp.text("targetsystem")
    target = inp.text("target")
    target_value_set = None
    if target:
        implicit = sx.implicit_value_set(target)
        if implicit is not None and implicit[1] is None:
            target_system = target_system or implicit[0]  # "every code of system X": just the system
        else:
            target_value_set = target
    reverse = inp.boolean("reverse")
    url = inp.text("url")
    inline = inp.resource("conceptMap", "ConceptMap")
    matches: list[MapResult] = []
    for c in codings:
        if not c.get("system"):
            raise bad_request("the source code's system is required", "system", code="required")
        if inline is not None:
            matches.extend(translate_with_map(inline, c["code"], c["system"], target_system, reverse))
        else:
            matches.extend(tx.translate(c["code"], c["system"], target_system, url=url, reverse=reverse,
                                        target_value_set=target_value_set))
    found = [m for m in matches if m.equivalence in MATCHING and m.code]
    if found:
        message = None
    else:
        shown = ", ".join(f"{c.get('system')}|{c['code']}" for c in codings)
        message = f"no map found for {shown}" + (f" to {target_system}" if target_system else "")
    return parameters(
        param("result", bool(found)),
        param("message", message),
        *(_match(m) for m in matches),
    )


def _match(m: MapResult) -> dict[str, Any]:
    concept = None
    if m.code:
        concept = {"system": m.system, "code": m.code}
        if m.display:
            concept["display"] = m.display
    return part("match", param("equivalence", m.equivalence, "code"), param("concept", concept, "Coding"),
                param("source", m.source, "Uri"), param("comment", m.comment))


def translate_with_map(cm: dict[str, Any], code: str, system: str, target_system: str | None,
                       reverse: bool) -> list[MapResult]:
    """Translate with an inline ConceptMap (not stored): a direct walk of its groups."""
    source = cm.get("url") or "(inline ConceptMap)"
    out: list[MapResult] = []
    for group in cm.get("group") or ():
        here, there = (group.get("target"), group.get("source")) if reverse else (group.get("source"), group.get("target"))
        if here != system or (target_system and there != target_system):
            continue
        for element in group.get("element") or ():
            for t in element.get("target") or [{"equivalence": "unmatched"}]:
                if reverse and t.get("code") == code:
                    out.append(MapResult(t.get("equivalence") or "equivalent", there, element.get("code"),
                                         element.get("display"), source, comment=t.get("comment")))
                elif not reverse and element.get("code") == code:
                    out.append(MapResult(t.get("equivalence") or "equivalent", there, t.get("code"),
                                         t.get("display"), source, comment=t.get("comment")))
    return out


# -- shared ---------------------------------------------------------------------------------------------
def _system_code(inp: OperationInput, coding_name: str) -> tuple[str, str]:
    coding = inp.coding(coding_name)
    if coding is not None:
        system, code = coding.get("system"), coding.get("code")
    else:
        system, code = inp.text("system"), inp.text("code", required=True)
    if not system:
        raise bad_request("parameter 'system' is required", "system", code="required")
    if not code:
        raise bad_request("parameter 'code' is required", "code", code="required")
    return system, code
