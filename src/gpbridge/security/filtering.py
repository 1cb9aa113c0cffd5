"""The same policy applied to what the store returns: one place every route calls.

- ``guard_resource``: a read/vread result — shown, redacted (sensitive patient) or refused.
- ``guard_write``: a resource about to be written — the writer needs a relationship with its patient.
- ``restrict_query``: before a search runs, AND the query with the caller's permitted patient
  compartments (and, for patient-facing access, the labels they may never see), so totals,
  ``_summary=count``, paging, chaining and ``_has`` only ever count what the caller may see.
- ``filter_result`` / ``filter_versions``: after, drop or redact every match, ``_include`` and
  ``_revinclude`` the caller may not see (items hidden by label inside a permitted compartment).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import orjson

from gpbridge.fhir.outcome import FhirError
from gpbridge.records.access import REDACTED
from gpbridge.search.params import params_for
from gpbridge.search.parse import parse_search
from gpbridge.search.query import SearchQuery
from gpbridge.security import labels as lb
from gpbridge.security import rules
from gpbridge.security.facts import patient_of
from gpbridge.security.policy import RequestContext, record
from gpbridge.store.base import SearchResult, StoredResource

# More permitted patients than this in one OR clause: ask the caller to name the patient.
MAX_COMPARTMENT = 5000
_NO_MATCH = "no-permitted-compartment"
_CONFIDENTIAL = (
    ("_security:not", f"{lb.CONFIDENTIALITY}|R"),
    ("_security:not", f"{lb.CONFIDENTIALITY}|V"),
)
_PATIENT_HIDDEN = (
    ("_security:not", f"{lb.CONFIDENTIALITY}|R"),
    ("_security:not", f"{lb.CONFIDENTIALITY}|V"),
    ("_security:not", f"{lb.ACT_CODE}|NOPAT"),
    ("_security:not", f"{lb.ACCESS_FLAG}|do-not-show"),
    ("_security:not", f"{lb.ACCESS_FLAG}|third-party"),
    ("_tag:not", f"{lb.ACCESS_FLAG}|do-not-show"),
    ("_tag:not", f"{lb.ACCESS_FLAG}|third-party"),
)
_DEMOGRAPHICS = (
    "address",
    "telecom",
    "contact",
    "photo",
    "generalPractitioner",
    "managingOrganization",
    "link",
)


def unrestricted(context: RequestContext) -> bool:
    """Development mode and application-restricted (system) callers see every compartment."""
    who = context.principal
    return context.settings.insecure_dev or (who is not None and who.kind == "system")


# ------------------------------------------------------------------------------ single items


@contextmanager
def audit_failure(
    context: RequestContext, interaction: str, type_: str | None, id_: str | None = None
) -> Iterator[None]:
    """When the gate deferred its record and the interaction then fails (404, 410, 400), record that.
    A 401/403 not recorded yet (e.g. a search ``restrict_query`` refuses) is recorded as a refusal."""
    try:
        yield
    except FhirError as exc:
        if context.audit_deferred:
            failed = rules.Decision(exc.status not in (401, 403), f"failed: HTTP {exc.status}")
            record(context, failed, interaction, type_, id_, detail=_diagnostics(exc))
            context.audit_deferred = False
        raise


def _diagnostics(exc: FhirError) -> str | None:
    issues = exc.outcome().get("issue") or [{}]
    return issues[0].get("diagnostics")


def visibility(context: RequestContext, resource: dict[str, Any]) -> tuple[str, rules.Decision]:
    """``show`` / ``hide`` / ``redact`` for one resource, and the relationship decision behind it."""
    who = context.principal
    if context.settings.insecure_dev:
        return rules.SHOW, rules.Decision(True, "insecure-dev")
    if who is None:
        return rules.HIDE, rules.deny("not authenticated")
    type_ = str(resource.get("resourceType"))
    patient = patient_of(resource)
    if patient is None:
        if who.kind in ("patient", "proxy") and type_ not in rules.REFERENCE_TYPES:
            return rules.HIDE, rules.deny(f"{type_} is not part of the patient's own record")
        return rules.SHOW, rules.Decision(True, "not patient data")
    facts = context.patients.facts(patient) if context.patients is not None else None
    if facts is None:
        return rules.HIDE, rules.deny(f"unknown patient {patient}")
    decision = rules.relationship(who, facts, context.break_glass)
    if not decision.allowed:
        return rules.HIDE, decision
    return rules.item_visibility(who, decision.reason, type_, lb.codes(resource)), decision


def redact(resource: dict[str, Any]) -> dict[str, Any]:
    """Withhold a sensitive patient's demographics, as PDS does, and say so in meta.security."""
    out = {k: v for k, v in resource.items() if k not in _DEMOGRAPHICS}
    meta = dict(out.get("meta") or {})
    meta["security"] = [*(meta.get("security") or []), REDACTED]
    out["meta"] = meta
    return out


def _load(stored: StoredResource) -> dict[str, Any] | None:
    return orjson.loads(stored.content) if stored.content else None


def _shown(
    context: RequestContext, stored: StoredResource
) -> tuple[StoredResource | None, rules.Decision, str | None]:
    resource = _load(stored)
    if resource is None:  # a deletion marker carries nothing to protect
        return stored, rules.Decision(True, "deleted"), None
    verdict, decision = visibility(context, resource)
    patient = patient_of(resource)
    if verdict == rules.HIDE:
        return None, decision, patient
    if verdict == rules.REDACT:
        return replace(stored, content=orjson.dumps(redact(resource))), decision, patient
    return stored, decision, patient


def guard_resource(context: RequestContext, interaction: str, stored: StoredResource) -> StoredResource:
    """A read or vread result as this caller may see it; 403 (audited) when they may not.

    Records the access (the gate deferred it), naming the patient so "who accessed my record"
    finds it — except in development mode, where nobody's record is real. That is the request's
    one record: the deferral ends, so ``audit_failure`` does not add a second for a refusal.
    """
    context.audit_deferred, deferred = False, context.audit_deferred
    if unrestricted(context):
        if context.audit.enabled and (deferred or not context.settings.insecure_dev):
            resource = None if context.settings.insecure_dev else _load(stored)
            patient = patient_of(resource) if resource else None
            record(
                context, rules.Decision(True, _reason(context)), interaction, stored.type, stored.id, patient
            )
        return stored
    shown, decision, patient = _shown(context, stored)
    if shown is None:
        if decision.allowed:  # relationship fine, item hidden by its labels
            decision = rules.deny("this item is not shared with you")
        record(context, decision, interaction, stored.type, stored.id, patient)
        decision.enforce()
        raise AssertionError("unreachable")
    flags = decision.flags + (("redacted",) if shown is not stored else ())
    record(context, replace(decision, flags=flags), interaction, stored.type, stored.id, patient)
    return shown


def _reason(context: RequestContext) -> str:
    return "insecure-dev" if context.settings.insecure_dev else "system scope"


def guard_write(context: RequestContext, interaction: str, resource: dict[str, Any]) -> None:
    """Writing into a patient's record needs the same relationship as reading it."""
    if unrestricted(context):
        return
    patient = patient_of(resource)
    if patient is None:
        return
    verdict, decision = visibility(context, resource)
    if not decision.allowed or decision.reason == rules.BREAK_GLASS:
        # break-glass is for reading in an emergency, never for writing into another practice's record
        decision = decision if not decision.allowed else rules.deny("break-glass does not permit writes")
    record(context, decision, interaction, str(resource.get("resourceType")), resource.get("id"), patient)
    decision.enforce()


# ---------------------------------------------------------------------------------- searches


def restrict_query(context: RequestContext, query: SearchQuery) -> SearchQuery:
    """AND the query with the caller's permitted patient compartments (in place; returned)."""
    if unrestricted(context):
        return query
    who = context.principal
    if who is None:
        raise FhirError.of(401, "login", "Authentication required")
    type_ = query.type
    if type_ is None:
        raise FhirError.of(
            403, "forbidden", "Access denied: system-wide search needs a system token; search one type"
        )
    if type_ in rules.REFERENCE_TYPES:
        return query
    extra: list[tuple[str, str]] = []
    hidden_count: SearchQuery | None = None
    if who.kind in ("patient", "proxy") and type_ != "Patient":
        extra.extend(_PATIENT_HIDDEN)
    param = _compartment_param(type_)
    if param is None:
        if who.kind in ("patient", "proxy"):
            extra.append(("_id", _NO_MATCH))  # not part of anyone's patient record
    else:
        named = _named_patients(query, param)
        if named is not None:
            # The common case (Observation?patient=X): check the named patients, no enumeration.
            refs = [ref for ref in named if _related(context, ref)]
        elif who.kind == "user" and context.break_glass:
            raise FhirError.of(403, "forbidden", "Access denied: a break-glass search must name the patient")
        else:
            refs = _compartment(context)
        if who.kind == "user" and type_ != "Patient" and context.patients is not None:
            cross = [r for r in refs if context.patients.is_cross_org(r, who.organisation)]
            hidden_count = _hidden_count_query(query, type_, param, cross) if cross else None
        if len(refs) > MAX_COMPARTMENT:
            raise FhirError.of(
                403, "too-costly", "Too many patients in scope: name the patient in the search"
            )
        if param == "_id":
            extra.append(("_id", ",".join(r.split("/", 1)[1] for r in refs) or _NO_MATCH))
        else:
            extra.append((param, ",".join(refs) or f"Patient/{_NO_MATCH}"))
    if extra:
        query.clauses.extend(parse_search(type_, extra).clauses)
    _guard_has(query.clauses, _PATIENT_HIDDEN if who.kind in ("patient", "proxy") else _CONFIDENTIAL)
    context.hidden_count = hidden_count
    return query


def _hidden_count_query(query: SearchQuery, type_: str, param: str, cross: list[str]) -> SearchQuery:
    """Counts the confidential items of cross-organisation patients the query matches: the
    results drop them, so the total must not count them either."""
    extra = [(param, ",".join(cross)), ("_security", f"{lb.CONFIDENTIALITY}|R,{lb.CONFIDENTIALITY}|V")]
    clauses = [*query.clauses, *parse_search(type_, extra).clauses]
    return replace(
        query, clauses=clauses, count=0, offset=0, total="accurate", include=[], revinclude=[], sort=[]
    )


def guarded_search(
    context: RequestContext, store: Any, query: SearchQuery, type_: str | None
) -> SearchResult:
    """The whole policy around one search: restrict, run, correct the total, filter (and audit)."""
    restrict_query(context, query)
    result = store.search(query)
    hidden_count = context.hidden_count
    if hidden_count is not None and result.total is not None:
        result.total = max(0, result.total - (store.search(hidden_count).total or 0))
    return filter_result(context, result, "search", type_)


def _guard_has(clauses: list[Any], hidden: tuple[tuple[str, str], ...]) -> None:
    """``_has`` asks about *other* resources: never let it test items the caller may not see.

    Conservative for the registered practice too (its own confidential items cannot be probed
    through ``_has``; they remain searchable directly).
    """
    for clause in clauses:
        if clause.kind != "has":
            continue
        for sub in clause.values:
            sub.clauses.extend(parse_search(sub.type, list(hidden)).clauses)
            _guard_has(sub.clauses, hidden)


def _named_patients(query: SearchQuery, param: str) -> list[str] | None:
    """Patients the query already names on its compartment parameter (``patient=``, ``_id=``)."""
    for clause in query.clauses:
        if clause.modifier not in (None, "Patient") or not clause.values:
            continue
        if param == "_id" and clause.param == "_id":
            return [f"Patient/{v.code}" for v in clause.values]
        # ``subject`` may point at a Group: only Patient-typed values name patients.
        typed = ("Patient",) if clause.param == "subject" and clause.modifier is None else (None, "Patient")
        if clause.param in (param, "subject") and clause.kind == "reference":
            if all(v.type in typed and v.id for v in clause.values):
                return [f"Patient/{v.id}" for v in clause.values]
    return None


def _related(context: RequestContext, ref: str) -> bool:
    facts = context.patients.facts(ref) if context.patients is not None else None
    who = context.principal
    return (
        facts is not None and who is not None and rules.relationship(who, facts, context.break_glass).allowed
    )


def _compartment_param(type_: str) -> str | None:
    if type_ == "Patient":
        return "_id"
    params = params_for(type_)
    for name in ("patient", "subject", "beneficiary"):
        if name in params:
            return name
    return None


def permitted_patients(context: RequestContext) -> list[str] | None:
    """The patient compartments ``restrict_query`` would allow this caller; None: every patient."""
    return None if unrestricted(context) else _compartment(context)


def _compartment(context: RequestContext) -> list[str]:
    who, directory = context.principal, context.patients
    if who is None or directory is None:
        return []
    if who.kind == "patient":
        return directory.patients_with_nhs_number(who.nhs_number or "")
    if who.kind == "proxy":
        return directory.patients_with_nhs_number(who.acts_for or "")
    return directory.patients_of_organisation(who.organisation or "") if who.organisation else []


def _keep(context: RequestContext, items: list[StoredResource]) -> tuple[list[StoredResource], int, set[str]]:
    kept: list[StoredResource] = []
    patients: set[str] = set()
    for stored in items:
        shown, _, patient = _shown(context, stored)
        if shown is not None:
            kept.append(shown)
            if patient:
                patients.add(patient)
    return kept, len(items) - len(kept), patients


def filter_result(
    context: RequestContext, result: SearchResult, interaction: str = "search", type_: str | None = None
) -> SearchResult:
    """Drop or redact what the caller may not see among matches and included resources."""
    if unrestricted(context):
        if context.audit_deferred or interaction == "history":
            detail = f"returned {len(result.matches)} (+{len(result.included)} included)"
            record(context, rules.Decision(True, _reason(context)), interaction, type_, None, detail=detail)
        return result
    matches, hidden, patients = _keep(context, result.matches)
    included, hidden_inc, more = _keep(context, result.included)
    withheld = hidden + hidden_inc
    flags: tuple[str, ...] = ("filtered",) if withheld else ()
    if context.break_glass:
        flags += ("break-glass",)
    detail = f"returned {len(matches)} (+{len(included)} included), withheld {withheld}"
    for patient in sorted(patients | more) or [None]:  # type: ignore[list-item]
        record(
            context,
            rules.Decision(True, "search results", flags),
            interaction,
            type_,
            None,
            patient,
            detail=detail,
        )
    return SearchResult(matches=matches, total=result.total, included=included, ignored=result.ignored,
                        next_page=result.next_page, previous_page=result.previous_page)


def filter_versions(
    context: RequestContext, versions: list[StoredResource], type_: str | None
) -> list[StoredResource]:
    """History: the same per-item rule; type- and system-level history only for unrestricted callers."""
    return filter_result(context, SearchResult(matches=versions), "history", type_).matches
