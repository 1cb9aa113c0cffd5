"""FHIR interaction semantics on a ``StoreSession``, shared by the REST API, transaction Bundles
and the adapters (https://hl7.org/fhir/R4/http.html).

Nothing here knows HTTP: callers pass parsed resources, ids, versions and search criteria and get
``WriteResult``s back, or a ``FhirError`` carrying the status and OperationOutcome issues.
Every write passes through ``validate_for_write`` — the one hook where structure checking (and,
later, the full profile validator) runs — so REST, HL7 v2, GP2GP and CSV writes are checked alike.
"""

from __future__ import annotations

import re
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import orjson

from gpbridge.config import Settings
from gpbridge.fhir.outcome import (
    FhirError,
    Issue,
    bad_request,
    conflict,
    error,
    gone,
    not_found,
    precondition_failed,
    unprocessable,
)
from gpbridge.fhir.validate import validate_for_store
from gpbridge.search.query import SearchQuery
from gpbridge.store import ids
from gpbridge.store.base import Preparer, StoredResource, StoreSession, WriteResult
from gpbridge.store.json_patch import apply_json_patch
from gpbridge.store.prepared import PreparedWrite

if TYPE_CHECKING:
    from gpbridge.identity.linkage import Speculation

# FHIR R4 id datatype: https://hl7.org/fhir/R4/datatypes.html#id
ID_PATTERN = re.compile(r"[A-Za-z0-9\-.]{1,64}\Z")
_TYPE_PATTERN = re.compile(r"[A-Z][A-Za-z]{1,63}\Z")
_ETAG = re.compile(r'\s*(?:W/)?"?([0-9]+)"?\s*\Z')

Criteria = str | list[tuple[str, str]]

# Types the server writes itself and serves from elsewhere, with why. AuditEvents live in the
# hash-chained ``audit_log``, appended by the server alone: a client's write would land in the
# resource tables, unseen by ``GET AuditEvent``, and report a success that never happened.
SERVER_WRITTEN: dict[str, str] = {"AuditEvent": "the audit trail is written by the server only"}


# -- the write-path hook ----------------------------------------------------------------------


def validate_for_write(
    resource: dict[str, Any], settings: Settings, expected_type: str | None = None
) -> list[Issue]:
    """Check a resource about to be stored. Raises on errors; returns warnings to report.

    Structural errors (unknown elements, wrong types, cardinality) are 400, as for malformed input.
    Content errors (bindings, invariants, profiles: ``fhir.validate``) are 422.
    """
    type_ = resource_type_of(resource, expected_type)
    if "id" in resource:
        check_id(resource["id"], f"{type_}.id")
    if settings.validation == "off":
        return []
    structural, found = validate_for_store(resource, settings)  # structure and content in one walk
    if _has_errors(structural):
        if settings.validation == "strict":
            raise FhirError(400, structural)
        return [_as_warning(i) for i in structural]
    if _has_errors(found) and settings.validation == "strict":
        raise unprocessable(found)
    return structural + (found if not _has_errors(found) else [_as_warning(i) for i in found])


def _has_errors(issues: list[Issue]) -> bool:
    return any(i.severity in ("error", "fatal") for i in issues)


def _as_warning(issue: Issue) -> Issue:
    if issue.severity not in ("error", "fatal"):
        return issue
    return Issue("warning", issue.code, issue.diagnostics, issue.expression, issue.details)


# -- identity linkage: every stored Patient is matched to a person (identity/linkage.py) -------
# The one place writes call into identity/: REST create/update/patch, conditional interactions,
# transaction and batch Bundles and every adapter come through here. The linkage (a golden
# Patient, perhaps a review Task, the source's ``seealso`` link) is written in the caller's
# session, so it commits or rolls back with the Patient. ``identity_linkage`` switches it off.


def _link_patient(
    session: StoreSession, patient: dict[str, Any], settings: Settings, id_: str, new: bool,
    speculation: Speculation | None = None,
) -> PreparedWrite | None:
    """Link ``patient``; returns the Patient as it is to be stored when ``speculation`` held."""
    if settings.identity_linkage:
        from gpbridge.identity.linkage import link_patient

        return link_patient(session, patient, settings=settings, patient_id=id_, new=new,
                            speculation=speculation).source
    return None


def speculate_create(
    preparer: Preparer, resource: dict[str, Any], settings: Settings, *, id_: str, expected_type: str | None = None
) -> Speculation | None:
    """A new Patient's linkage made ready before the write lock (``identity.linkage.speculate``),
    on the guess that it starts a new person. Pass it to ``create``; None when there is nothing to
    speculate (linkage off, not a Patient). Run it after ``validate_create`` has passed."""
    if not settings.identity_linkage or resource_type_of(resource, expected_type) != "Patient":
        return None
    from gpbridge.identity.linkage import speculate

    return speculate(preparer, _without_id(resource), settings, patient_id=id_)  # as prepare_create links it


def _unlink_patient(session: StoreSession, id_: str, settings: Settings | None) -> None:
    if settings is not None and settings.identity_linkage:
        from gpbridge.identity.linkage import unlink_deleted

        unlink_deleted(session, id_, settings)


# -- small shared checks ----------------------------------------------------------------------


@cache
def _known_types() -> frozenset[str] | None:
    try:
        from gpbridge.fhir.spec import resource_types
    except ImportError:
        return None
    return frozenset(resource_types())


def is_resource_type(name: str) -> bool:
    known = _known_types()
    if known is None:  # spec registry not generated yet: accept anything shaped like a type name
        return bool(_TYPE_PATTERN.match(name))
    return name in known


def check_type(name: str) -> str:
    """A resource type named in a URL: unknown types are 404 (no such endpoint)."""
    if not is_resource_type(name):
        raise not_found(f"Unknown resource type '{name}'")
    return name


def resource_type_of(resource: Any, expected: str | None = None) -> str:
    if not isinstance(resource, dict):
        raise bad_request("A resource must be a JSON object", code="structure")
    type_ = resource.get("resourceType")
    if not isinstance(type_, str) or not type_:
        raise bad_request("Resource has no resourceType", "resourceType", code="required")
    if expected is not None and type_ != expected:
        raise bad_request(
            f"Resource type '{type_}' does not match the expected type '{expected}'", "resourceType"
        )
    if not is_resource_type(type_):
        raise bad_request(f"Unknown resource type '{type_}'", "resourceType", code="not-supported")
    return type_


def check_id(value: Any, expression: str = "id") -> str:
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise bad_request(f"Invalid resource id {value!r}: 1-64 of A-Z a-z 0-9 - .", expression, code="value")
    return value


def write_refusal(type_: str | None, *expression: str) -> FhirError | None:
    """The 405 for a client's create/update/patch/delete of a ``SERVER_WRITTEN`` type, else None."""
    reason = SERVER_WRITTEN.get(type_ or "")
    if reason is None:
        return None
    issue = error("not-supported", f"{type_} cannot be created, updated, patched or deleted: {reason}", *expression)
    return FhirError(405, [issue], {"Allow": "GET"})


def check_writable(type_: str | None, *expression: str) -> None:
    """Refuse a write to a ``SERVER_WRITTEN`` type before any work is done for it."""
    refusal = write_refusal(type_, *expression)
    if refusal is not None:
        raise refusal


def parse_etag(value: str, what: str = "If-Match") -> int:
    """``W/"3"``, ``"3"`` or ``3`` → 3."""
    m = _ETAG.match(value)
    if not m:
        raise bad_request(f'Invalid {what} version {value!r}: expected W/"n"')
    return int(m.group(1))


def new_id() -> str:
    return ids.new_id()


# -- conditional criteria ---------------------------------------------------------------------


def conditional_query(type_: str, criteria: Criteria) -> SearchQuery:
    """Search criteria of a conditional interaction, parsed strictly.

    Strict because an ignored parameter would widen the match and e.g. update the wrong resource.
    Only two matches are fetched: the semantics only distinguish 0, 1 and many.
    """
    from gpbridge.search.parse import parse_search

    if isinstance(criteria, str):
        head, question, tail = criteria.partition("?")
        if question and "=" not in head:  # tolerate "?a=b" and "Type?a=b" as clients send them
            criteria = tail
        params = parse_qsl(criteria, keep_blank_values=True)
    else:
        params = list(criteria)
    query = parse_search(type_, params, strict=True)
    if not query.clauses:
        raise bad_request(f"Conditional criteria {criteria!r} select no search parameter", code="invalid")
    query.count = 2
    query.offset = 0
    query.page, query.page_token = None, None
    query.total = "none"
    query.include = []
    query.revinclude = []
    query.sort = []
    return query


def find_matches(session: StoreSession, type_: str, criteria: Criteria) -> list[StoredResource]:
    return [m for m in session.search(conditional_query(type_, criteria)).matches if not m.deleted]


def _too_many(type_: str, criteria: Criteria) -> FhirError:
    return precondition_failed(
        f"Conditional criteria {type_}?{_show(criteria)} matched more than one resource"
    )


def _show(criteria: Criteria) -> str:
    return criteria if isinstance(criteria, str) else "&".join(f"{k}={v}" for k, v in criteria)


# -- interactions -----------------------------------------------------------------------------


def create(
    session: StoreSession,
    resource: dict[str, Any],
    *,
    settings: Settings,
    id_: str | None = None,
    if_none_exist: Criteria | None = None,
    expected_type: str | None = None,
    minted: bool = False,
    validated: list[Issue] | None = None,
    speculation: Speculation | None = None,
    method: str = "POST",
) -> WriteResult:
    """Create (POST). ``if_none_exist``: 0 matches → create, 1 → that one unchanged, more → 412.

    ``id_`` is for callers that assign ids themselves (transactions resolve ``urn:uuid`` fullUrls
    to ids before any write); a client's own ``id`` in the body is ignored as the spec requires.
    ``method``: the request's, for the history (PUT for a conditional update that creates).
    """
    type_ = resource_type_of(resource, expected_type)
    check_writable(type_)
    if if_none_exist:
        matches = find_matches(session, type_, if_none_exist)
        if len(matches) == 1:
            return WriteResult(matches[0], created=False, unchanged=True)
        if matches:
            raise _too_many(type_, if_none_exist)
    if id_ is None:
        id_, minted = new_id(), True
    prepared = prepare_create(session, resource, settings, id_=id_, expected_type=type_, link_in=session,
                              new=minted, validated=validated, speculation=speculation)
    result = session.create(prepared, minted=minted, method=method)
    result.issues = prepared.issues
    return result


def prepare_create(
    preparer: Preparer,
    resource: dict[str, Any],
    settings: Settings,
    *,
    id_: str,
    expected_type: str | None = None,
    link_in: StoreSession | None = None,
    new: bool = True,
    validated: list[Issue] | None = None,
    speculation: Speculation | None = None,
) -> PreparedWrite:
    """A create's checks and validation, and the resource made ready to store as ``id_``.

    Needs no transaction: transaction Bundles call it before taking the write lock — except for a
    Patient with ``link_in``, whose identity linkage reads and writes in that session.
    ``validated``: the warnings of ``validate_create`` already run on this very resource;
    ``speculation``: ``speculate_create``'s, for that Patient.
    """
    type_ = resource_type_of(resource, expected_type)
    return _validated_and_prepared(preparer, type_, id_, _without_id(resource), settings, link_in, new, validated,
                                   speculation)


def _without_id(resource: dict[str, Any]) -> dict[str, Any]:
    """A create ignores a client's ``id``: a shallow copy without it (no deep copy)."""
    return {k: v for k, v in resource.items() if k != "id"} if "id" in resource else resource


def validate_create(resource: dict[str, Any], settings: Settings, expected_type: str | None = None) -> list[Issue]:
    """``prepare_create``'s checks and validation alone (raises as it does; returns the warnings).

    Transaction Bundles run it before the write lock for a Patient, whose linkage and the rest of
    whose preparation must wait for the session, so the lock is not held for the validation walk.
    """
    type_ = resource_type_of(resource, expected_type)
    return validate_for_write(_without_id(resource), settings, type_)


def prepare_update(
    preparer: Preparer,
    type_: str,
    id_: str,
    resource: dict[str, Any],
    settings: Settings,
    *,
    link_in: StoreSession | None = None,
) -> PreparedWrite:
    """An update's checks and validation, and the resource made ready to store (no transaction needed,
    except for a Patient with ``link_in``: its linkage reads and writes in that session)."""
    resource_type_of(resource, type_)
    check_id(id_)
    body_id = resource.get("id")
    if body_id is None:
        raise bad_request("The resource in an update must have an id", f"{type_}.id", code="required")
    if body_id != id_:
        raise bad_request(f"Resource id '{body_id}' does not match the URL id '{id_}'", f"{type_}.id")
    return _validated_and_prepared(preparer, type_, id_, resource, settings, link_in, False)


def _validated_and_prepared(
    preparer: Preparer,
    type_: str,
    id_: str,
    resource: dict[str, Any],
    settings: Settings,
    link_in: StoreSession | None,
    new: bool,
    validated: list[Issue] | None = None,
    speculation: Speculation | None = None,
) -> PreparedWrite:
    check_writable(type_)  # every create and update, REST or Bundle, is prepared here
    warnings = validate_for_write(resource, settings, type_) if validated is None else validated
    prepared: PreparedWrite | None = None
    if link_in is not None and type_ == "Patient":
        prepared = _link_patient(link_in, resource, settings, id_, new, speculation)
    if prepared is None:
        prepared = preparer.prepare(type_, id_, resource)
    prepared.issues = warnings
    return prepared


def update(
    session: StoreSession,
    type_: str,
    id_: str,
    resource: dict[str, Any],
    *,
    settings: Settings,
    if_match: int | None = None,
    method: str = "PUT",
) -> WriteResult:
    """Update (PUT), creating the resource with the client's id when it does not exist.
    ``method``: PATCH when a patch's result is stored (for the history)."""
    prepared = prepare_update(session, type_, id_, resource, settings, link_in=session)
    result = session.update(type_, id_, prepared, if_match, method=method)
    result.issues = prepared.issues
    return result


def conditional_update(
    session: StoreSession,
    type_: str,
    criteria: Criteria,
    resource: dict[str, Any],
    *,
    settings: Settings,
    if_match: int | None = None,
) -> WriteResult:
    """``PUT Type?criteria``: 0 matches → create, 1 → update it, more → 412."""
    resource_type_of(resource, type_)
    check_writable(type_)
    matches = find_matches(session, type_, criteria)
    body_id = resource.get("id")
    if len(matches) > 1:
        raise _too_many(type_, criteria)
    if matches:
        target = matches[0]
        if body_id is not None and body_id != target.id:
            raise bad_request(
                f"Resource id '{body_id}' does not match the resource the criteria selected ({target.reference})",
                f"{type_}.id",
            )
        if body_id is None:
            resource = {**resource, "id": target.id}
        return update(session, type_, target.id, resource, settings=settings, if_match=if_match)
    if body_id is None:
        return create(session, resource, settings=settings, expected_type=type_, method="PUT")
    check_id(body_id, f"{type_}.id")
    existing = session.read(type_, body_id)
    if existing is not None and not existing.deleted:
        raise conflict(f"{type_}/{body_id} exists but does not match the conditional criteria")
    return update(session, type_, body_id, resource, settings=settings, if_match=if_match)


def delete(
    session: StoreSession,
    type_: str,
    id_: str,
    *,
    if_match: int | None = None,
    settings: Settings | None = None,
    status: int = 204,
) -> WriteResult | None:
    """Logical delete; None when there was nothing to delete (idempotent: the caller answers 204).
    ``status``: what the caller answers (200 with an OperationOutcome), kept in the history."""
    check_writable(type_)
    check_id(id_)
    if type_ == "Patient":
        _unlink_patient(session, id_, settings)
    return session.delete(type_, id_, if_match, status=status)


def conditional_delete(
    session: StoreSession, type_: str, criteria: Criteria, *, settings: Settings | None = None, status: int = 204
) -> WriteResult | None:
    """``DELETE Type?criteria`` with single-match semantics: 0 → nothing, 1 → delete, more → 412."""
    check_writable(type_)
    matches = find_matches(session, type_, criteria)
    if len(matches) > 1:
        raise _too_many(type_, criteria)
    if not matches:
        return None
    if type_ == "Patient":
        _unlink_patient(session, matches[0].id, settings)
    return session.delete(type_, matches[0].id, None, status=status)


def patch(
    session: StoreSession,
    type_: str,
    id_: str,
    operations: Any,
    *,
    settings: Settings,
    if_match: int | None = None,
) -> WriteResult:
    """JSON Patch (RFC 6902) applied to the current version, stored as a version-checked update."""
    check_writable(type_)
    check_id(id_)
    current = session.read(type_, id_)
    if current is None:
        raise not_found(f"{type_}/{id_} is not known")
    if current.deleted or current.content is None:
        raise gone(f"{type_}/{id_} has been deleted")
    if if_match is not None and if_match != current.version:
        raise precondition_failed(f"{type_}/{id_} is at version {current.version}, not {if_match}")
    patched = apply_json_patch(orjson.loads(current.content), operations)
    if patched.get("resourceType") != type_ or patched.get("id") != id_:
        raise unprocessable([error("processing", "A patch must not change resourceType or id")])
    # The version check guards against a write between our read and this update.
    return update(session, type_, id_, patched, settings=settings, if_match=current.version, method="PATCH")


def conditional_patch(
    session: StoreSession, type_: str, criteria: Criteria, operations: Any, *, settings: Settings
) -> WriteResult:
    check_writable(type_)
    matches = find_matches(session, type_, criteria)
    if len(matches) > 1:
        raise _too_many(type_, criteria)
    if not matches:
        raise not_found(f"No {type_} matches {_show(criteria)}")
    return patch(session, type_, matches[0].id, operations, settings=settings)


# -- reads inside a session (transaction GET entries) -----------------------------------------


def read(session: StoreSession, type_: str, id_: str) -> StoredResource:
    found = session.read(type_, id_)
    if found is None:
        raise not_found(f"{type_}/{id_} is not known")
    if found.deleted:
        raise gone(f"{type_}/{id_} has been deleted")
    return found
