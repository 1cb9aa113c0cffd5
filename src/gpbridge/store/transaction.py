"""Transaction and batch Bundles (https://hl7.org/fhir/R4/http.html#transaction).

A transaction runs in one ``store.session()``: entries are processed in the spec's order
(DELETE, POST, PUT/PATCH, GET/HEAD), ``urn:uuid:``/``urn:oid:`` fullUrls are given ids before any
write so every reference can be rewritten in a single walk of each resource, and any failing entry
rolls the whole Bundle back with that entry's OperationOutcome. A batch runs each entry in its own
session and reports failures per entry.

This is the path every importer uses (REST, HL7 v2, GP2GP, CSV), so it is kept lean: resources are
never deep-copied or re-serialised here; stored JSON goes back to the client as ``orjson.Fragment``.
Callers serialising the response must use orjson (the API does).
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

import orjson

from gpbridge.config import Settings
from gpbridge.fhir.outcome import (
    FhirError,
    Issue,
    bad_request,
    conflict,
    error,
    information,
    operation_outcome,
    precondition_failed,
    unprocessable,
)
from gpbridge.store import interactions as ops
from gpbridge.store.base import Store, StoredResource, StoreSession, WriteResult
from gpbridge.store.prepared import PreparedWrite
from gpbridge.store.reference_walk import rewrite_references

log = logging.getLogger(__name__)

#: ``(interaction, resource_type, resource_id)``; raises FhirError (403) to deny an entry.
AuthorizeEntry = Callable[[str, str | None, str | None], None]
#: ``(session, method, url, if_none_match)`` → the entry's response (``response`` and, for a GET,
#: ``resource``); raises FhirError for an error status. Answers a GET/HEAD entry as the standalone
#: request ``GET [base]/url`` would be (the API's own routes, security and audit); ``session`` is the
#: transaction's, so its reads see the Bundle's writes, or None in a batch (the store itself).
ReadEntry = Callable[[StoreSession | None, str, str, str | None], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Touched:
    """What one entry did, for the caller's audit: reported after the Bundle is processed, so a
    POST carries the id the server assigned."""

    interaction: str  # create | update | patch | delete | read | vread | search
    type: str
    id: str | None  # None: a search, or a conditional delete that matched nothing
    # what a POST/PUT submitted, references rewritten (an ifNoneExist match: what matched it); for
    # a PATCH the patched resource, for a DELETE the version it deleted (to find the patient)
    resource: dict[str, Any] | None = None
    criteria: str | None = None  # a search's or conditional URL's query string
    status: int | None = None  # a batch entry that failed: its HTTP status

_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}
_INTERACTION = {"DELETE": "delete", "POST": "create", "PUT": "update", "PATCH": "patch"}
_JSON_PATCH = "application/json-patch+json"


@dataclass(slots=True)
class _Entry:
    index: int
    method: str
    type: str | None
    id: str | None
    version: int | None  # GET Type/id/_history/n
    criteria: str | None  # the query string of a conditional or search URL
    resource: dict[str, Any] | None
    full_url: str | None
    if_match: int | None
    if_none_exist: str | None
    if_none_match: str | None
    target_id: str | None = None  # the id this write lands on, once resolved
    existing: StoredResource | None = None  # ifNoneExist matched: nothing is written
    # a PATCH's result or a DELETE's last version: what the audit finds the entry's patient in
    acted_on: dict[str, Any] | None = None
    response: dict[str, Any] | None = None
    # Set before the write lock (``_Run._prepare``): the id a new resource will get unless the
    # database says otherwise, the resource made ready to store, or why preparing it failed.
    provisional_id: str | None = None
    prepared: PreparedWrite | None = None
    failure: FhirError | None = None
    used_full_urls: list[str] | None = None  # fullUrls its references were resolved through
    # A linked Patient's validation warnings, found before the lock (its linkage reads the session),
    # and its linkage worked out there on the guess that it starts a new person
    # (``interactions.speculate_create``; typed Any: a compiled slot must not check the class)
    validated: list[Issue] | None = None
    speculation: Any = None
    # a GET/HEAD answered by ``ReadEntry``: its URL relative to the base, and its interaction
    # (read, vread, search, history, operation)
    url: str = ""
    kind: str | None = None

    def forget_preparation(self) -> None:
        """Drop what was worked out before the lock: it is redone in the session."""
        self.prepared = None
        self.failure = None
        self.validated = None
        self.speculation = None

    @property
    def where(self) -> str:
        return f"Bundle.entry[{self.index}]"

    @property
    def interaction(self) -> str:
        if self.kind is not None:
            return self.kind
        if self.method in _INTERACTION:
            return _INTERACTION[self.method]
        if self.id is None:
            return "search"
        return "vread" if self.version is not None else "read"


def process_bundle(
    store: Store,
    bundle: dict[str, Any],
    *,
    settings: Settings,
    base_url: str,
    prefer: str = "minimal",
    authorize_entry: AuthorizeEntry | None = None,
    touched: list[Touched] | None = None,
    read_entry: ReadEntry | None = None,
) -> dict[str, Any]:
    """Process a ``transaction`` or ``batch`` Bundle and return the response Bundle.

    ``prefer`` is the ``Prefer: return=`` value applied to write entries (minimal by default: the
    client usually needs only locations and versions, and bulk loads should not echo every
    resource). ``authorize_entry`` is the security gate, asked once per entry before the store.
    ``touched``, when given, receives one ``Touched`` per entry processed (in Bundle order), for the
    audit. A failing transaction raises ``FhirError`` naming the failing entry; nothing is stored.
    ``read_entry``, when given, answers every GET/HEAD entry (the API passes its routes, so an
    entry is answered exactly as the standalone request); without it GET/HEAD entries support
    only read, vread and a plain search.
    """
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise bad_request("Expected a Bundle", "Bundle", code="structure")
    kind = bundle.get("type")
    if kind not in ("transaction", "batch"):
        raise bad_request(f"Bundle.type must be 'transaction' or 'batch', not {kind!r}", "Bundle.type")
    raw_entries = bundle.get("entry", [])
    if not isinstance(raw_entries, list):
        raise bad_request("Bundle.entry must be an array", "Bundle.entry", code="structure")
    base = base_url.rstrip("/")
    run = _Run(store, settings, base, prefer, read_entry)
    if kind == "transaction":
        entries = [_parse_entry(i, raw, base, read_entry is not None) for i, raw in enumerate(raw_entries)]
        if authorize_entry is not None:
            for entry in entries:
                _located(entry, authorize_entry, entry.interaction, entry.type, entry.target_id or entry.id)
        run.transaction(entries)
        if touched is not None:
            touched.extend(_touched(e) for e in entries)
        responses = [e.response for e in entries]
        return {"resourceType": "Bundle", "type": "transaction-response", "entry": responses}
    return {
        "resourceType": "Bundle",
        "type": "batch-response",
        "entry": run.batch(raw_entries, authorize_entry, touched),
    }


class _Run:
    """One Bundle's processing state: the id map for references and what has been written."""

    def __init__(
        self, store: Store, settings: Settings, base: str, prefer: str, read_entry: ReadEntry | None
    ) -> None:
        self.store = store
        self.read_entry = read_entry
        self.settings = settings
        self.base = base
        self.prefer = prefer
        self.max_depth = settings.max_json_depth
        self.refs: dict[str, str] = {}  # fullUrl -> Type/id
        self.resolved: dict[str, str] = {}  # conditional reference -> Type/id
        self.session: StoreSession | None = None
        self.used: list[str] | None = None  # while preparing: the fullUrls a rewrite resolved through

    # -- transaction --------------------------------------------------------------------------

    def transaction(self, entries: list[_Entry]) -> None:
        _check_unique_full_urls(entries)
        # sorted() is stable: entries keep their Bundle order within each method
        ordered = sorted(entries, key=lambda e: _ORDER[e.method])
        self._prepare(ordered)
        with self.store.session() as session:
            self.session = session
            self._phases(ordered)
            self.session = None

    def _phases(self, ordered: list[_Entry]) -> None:
        session = self.session
        assert session is not None
        writes: list[_Entry] = []
        for entry in ordered:
            if entry.method == "DELETE":
                _located(entry, self._delete, session, entry)
        for entry in ordered:
            if entry.method in ("POST", "PUT", "PATCH"):
                _located(entry, self._resolve_target, session, entry)
                writes.append(entry)
        _check_single_write(e for e in ordered if e.method != "GET" and e.method != "HEAD")
        self._drop_stale_preparations(writes)
        for entry in writes:
            _located(entry, self._write, session, entry)
        for entry in ordered:
            if entry.method in ("GET", "HEAD"):
                _located(entry, self._read, session, entry)

    # -- before the write lock -----------------------------------------------------------------

    def _prepare(self, ordered: list[_Entry]) -> None:
        """Do each write's CPU work — reference rewriting, validation, serialisation, index
        extraction — before the write transaction, so the lock is held only to read versions and
        insert rows, and a second worker can prepare its Bundle meanwhile.

        Targets that only the database can decide (ifNoneExist, conditional PUT) get a freshly
        minted provisional id; in the common case it is the id they end up with. When it is not,
        ``_drop_stale_preparations`` redoes the entries that depended on it inside the lock.
        Entries with conditional references, and PATCH, are done inside the lock as before.
        A failure is kept on the entry and raised when the transaction reaches that entry, so a
        Bundle fails with the same OperationOutcome, in the same order, as without this step.
        """
        for entry in ordered:
            if entry.method == "POST":
                entry.provisional_id = ops.new_id()
            elif entry.method == "PUT":
                entry.provisional_id = entry.id or _body_id(entry) or ops.new_id()
            else:
                continue
            if entry.full_url:
                self.refs[entry.full_url] = f"{entry.type}/{entry.provisional_id}"
        linkage = self.settings.identity_linkage
        for entry in ordered:
            if linkage and entry.type == "Patient":
                # identity linkage reads and writes in the session, so the rest is done in the lock
                if entry.method == "POST":
                    self._prepare_entry(entry, validate_only=True)
                continue
            if entry.method == "POST" or (entry.method == "PUT" and entry.id is not None):
                self._prepare_entry(entry)

    def _prepare_entry(self, entry: _Entry, *, validate_only: bool = False) -> None:
        resource, type_, target = entry.resource, entry.type, entry.provisional_id
        assert resource is not None and type_ is not None and target is not None
        self.used = []
        try:
            self._rewrite(resource, 1)
            entry.used_full_urls = self.used
            if validate_only:
                entry.validated = ops.validate_create(resource, self.settings, type_)
                entry.speculation = self._speculate(resource, type_, target)
            elif entry.method == "POST":
                entry.prepared = ops.prepare_create(self.store, resource, self.settings, id_=target,
                                                    expected_type=type_)
            else:
                entry.prepared = ops.prepare_update(self.store, type_, target, resource, self.settings)
        except _NeedsSession:
            pass  # a conditional reference or a target only the database knows: done in the lock
        except FhirError as exc:
            entry.failure = exc
        finally:
            self.used = None

    def _speculate(self, resource: dict[str, Any], type_: str, target: str) -> Any:
        """The Patient's linkage made ready on the guess that it starts a new person; a failure
        here only means the linkage runs in the lock as it would have (and fails there if it must)."""
        try:
            return ops.speculate_create(self.store, resource, self.settings, id_=target, expected_type=type_)
        except FhirError:
            return None

    def _drop_stale_preparations(self, writes: list[_Entry]) -> None:
        """Forget preparations built on a provisional id the database did not confirm."""
        moved: set[str] = set()
        for entry in writes:
            if entry.provisional_id is None or entry.target_id == entry.provisional_id:
                continue
            if entry.full_url:
                moved.add(entry.full_url)
                old = f"{entry.type}/{entry.provisional_id}"
                # Already rewritten to the provisional id: map that onward to where it really went.
                self.refs[old] = self.refs[entry.full_url]
            entry.forget_preparation()
        if moved:
            for entry in writes:
                if entry.used_full_urls and not moved.isdisjoint(entry.used_full_urls):
                    entry.forget_preparation()

    # -- batch --------------------------------------------------------------------------------

    def batch(
        self, raw_entries: list[Any], authorize_entry: AuthorizeEntry | None, touched: list[Touched] | None
    ) -> list[dict[str, Any]]:
        responses: list[dict[str, Any]] = []
        for index, raw in enumerate(raw_entries):
            entry = None
            try:
                entry = _parse_entry(index, raw, self.base, self.read_entry is not None)
                if authorize_entry is not None:
                    _located(entry, authorize_entry, entry.interaction, entry.type, entry.id)
                if entry.kind is not None:  # answered as the standalone GET, outside any session
                    _located(entry, self._routed, None, entry)
                else:
                    # entries are independent: nothing resolved for one carries over to the next
                    self.refs.clear()
                    self.resolved.clear()
                    self._prepare([entry])
                    with self.store.session() as session:
                        self.session = session
                        self._phases([entry])
                        self.session = None
                assert entry.response is not None
                responses.append(entry.response)
                if touched is not None:
                    touched.append(_touched(entry))
            except FhirError as exc:
                responses.append(_error_entry(exc.status, exc.issues))
                _touched_failure(touched, entry, exc.status)
            except Exception:
                log.exception("batch entry %d failed", index)
                issue = error("exception", "Internal error processing this entry", f"Bundle.entry[{index}]")
                responses.append(_error_entry(500, [issue]))
                _touched_failure(touched, entry, 500)
            finally:
                self.session = None
        return responses

    # -- phases ---------------------------------------------------------------------------------

    def _delete(self, session: StoreSession, entry: _Entry) -> None:
        assert entry.type is not None
        if entry.id is not None:
            before = session.read(entry.type, entry.id)  # for the audit's patient (the session keeps the row)
            result = ops.delete(session, entry.type, entry.id, if_match=entry.if_match, settings=self.settings)
            entry.target_id = entry.id
        else:
            assert entry.criteria is not None
            result = ops.conditional_delete(session, entry.type, entry.criteria, settings=self.settings)
            entry.target_id = result.resource.id if result is not None else None
            before = (session.vread(entry.type, result.resource.id, result.resource.version - 1)
                      if result is not None and result.resource.version > 1 else None)
        if before is not None and not before.deleted and before.content is not None:
            entry.acted_on = orjson.loads(before.content)
        response: dict[str, Any] = {"status": "204 No Content"}
        if result is not None:
            response["etag"] = result.resource.etag
        entry.response = {"response": response}

    def _resolve_target(self, session: StoreSession, entry: _Entry) -> None:
        """Decide which id each write lands on, so references to it can be rewritten up front."""
        type_ = entry.type
        assert type_ is not None
        if entry.method == "POST":
            if entry.if_none_exist:
                matches = ops.find_matches(session, type_, entry.if_none_exist)
                if len(matches) > 1:
                    raise precondition_failed(
                        f"ifNoneExist {entry.if_none_exist!r} matched more than one {type_}"
                    )
                if matches:
                    entry.existing = matches[0]
            entry.target_id = entry.existing.id if entry.existing else entry.provisional_id or ops.new_id()
        elif entry.id is not None:
            entry.target_id = entry.id
        else:
            assert entry.criteria is not None
            matches = ops.find_matches(session, type_, entry.criteria)
            if len(matches) > 1:
                raise precondition_failed(
                    f"Conditional URL {type_}?{entry.criteria} matched more than one resource"
                )
            if matches:
                entry.target_id = matches[0].id
            elif entry.method == "PATCH":
                raise FhirError.of(404, "not-found", f"No {type_} matches {entry.criteria}")
            else:
                entry.target_id = self._new_target_for_conditional_put(session, entry)
        if entry.full_url:
            self.refs[entry.full_url] = f"{type_}/{entry.target_id}"

    def _new_target_for_conditional_put(self, session: StoreSession, entry: _Entry) -> str:
        assert entry.resource is not None and entry.type is not None
        body_id = entry.resource.get("id")
        if body_id is None:
            return entry.provisional_id or ops.new_id()
        ops.check_id(body_id, f"{entry.type}.id")
        existing = session.read(entry.type, body_id)
        if existing is not None and not existing.deleted:
            raise conflict(f"{entry.type}/{body_id} exists but does not match the conditional criteria")
        return str(body_id)

    def _write(self, session: StoreSession, entry: _Entry) -> None:
        type_, target = entry.type, entry.target_id
        assert type_ is not None and target is not None
        if entry.existing is not None:  # conditional create matched: report it, write nothing
            entry.response = self._write_entry(WriteResult(entry.existing, unchanged=True))
            return
        if entry.failure is not None:
            raise entry.failure
        if entry.prepared is not None:
            if entry.method == "POST":
                result = session.create(entry.prepared, minted=True)
            else:
                result = session.update(type_, target, entry.prepared, if_match=entry.if_match)
            result.issues = entry.prepared.issues
            entry.response = self._write_entry(result)
            return
        if entry.method == "PATCH":
            result = ops.patch(
                session,
                type_,
                target,
                _patch_operations(entry),
                settings=self.settings,
                if_match=entry.if_match,
            )
            if result.resource.content is not None:
                entry.acted_on = orjson.loads(result.resource.content)
            entry.response = self._write_entry(result)
            return
        resource = entry.resource
        assert resource is not None
        self._rewrite(resource, 1)
        if entry.method == "POST":
            # POST targets are always freshly minted ids (an ifNoneExist match writes nothing)
            result = ops.create(session, resource, settings=self.settings, id_=target, expected_type=type_,
                                minted=True, validated=entry.validated, speculation=entry.speculation)
        else:
            if "id" not in resource:  # conditional update without an id in the body
                resource["id"] = target
            result = ops.update(
                session, type_, target, resource, settings=self.settings, if_match=entry.if_match
            )
        entry.response = self._write_entry(result)

    def _routed(self, session: StoreSession | None, entry: _Entry) -> None:
        assert self.read_entry is not None
        out = self.read_entry(session, entry.method, entry.url, entry.if_none_match)
        if entry.id is not None and entry.kind in ("read", "vread"):
            out = {"fullUrl": f"{self.base}/{entry.type}/{entry.id}", **out}
        entry.response = out

    def _read(self, session: StoreSession, entry: _Entry) -> None:
        if entry.kind is not None:
            self._routed(session, entry)
            return
        type_ = entry.type
        assert type_ is not None
        if entry.id is None:
            entry.response = self._search(session, entry)
            return
        if entry.version is not None:
            found = session.vread(type_, entry.id, entry.version)
        else:
            found = ops.read(session, type_, entry.id)
        response: dict[str, Any] = {"etag": found.etag, "lastModified": found.last_updated}
        if (
            entry.if_none_match is not None
            and ops.parse_etag(entry.if_none_match, "ifNoneMatch") == found.version
        ):
            response["status"] = "304 Not Modified"
            entry.response = {"response": response}
            return
        response["status"] = "200 OK"
        out: dict[str, Any] = {"fullUrl": f"{self.base}/{type_}/{found.id}"}
        if entry.method == "GET" and found.content is not None:
            out["resource"] = orjson.Fragment(found.content)
        out["response"] = response
        entry.response = out

    def _search(self, session: StoreSession, entry: _Entry) -> dict[str, Any]:
        from gpbridge.search.parse import parse_search

        params = parse_qsl(entry.criteria or "", keep_blank_values=True)
        query = parse_search(
            entry.type,
            params,
            default_count=self.settings.default_page_size,
            max_count=self.settings.max_page_size,
        )
        result = session.search(query)
        searchset: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
        if result.total is not None:
            searchset["total"] = result.total
        matches = [
            {
                "fullUrl": f"{self.base}/{r.type}/{r.id}",
                "resource": orjson.Fragment(r.content or b"{}"),
                "search": {"mode": "match"},
            }
            for r in result.matches
        ]
        searchset["entry"] = matches
        out: dict[str, Any] = {"response": {"status": "200 OK"}}
        if entry.method == "GET":
            out["resource"] = searchset
        return out

    # -- responses ------------------------------------------------------------------------------

    def _write_entry(self, result: WriteResult) -> dict[str, Any]:
        stored = result.resource
        response: dict[str, Any] = {
            "status": "201 Created" if result.created else "200 OK",
            "location": f"{stored.type}/{stored.id}/_history/{stored.version}",
            "etag": stored.etag,
            "lastModified": stored.last_updated,
        }
        out: dict[str, Any] = {}
        if self.prefer == "representation" and stored.content is not None:
            out["fullUrl"] = f"{self.base}/{stored.type}/{stored.id}"
            out["resource"] = orjson.Fragment(stored.content)
        # Lenient validation's warnings go back with the entry whatever Prefer says, as a single
        # POST or PUT returns them: entry.response.outcome holds "hints and warnings" (R4).
        issues = result.issues
        if issues or self.prefer == "OperationOutcome":
            response["outcome"] = operation_outcome(list(issues) if issues else [information("informational", "OK")])
        out["response"] = response
        return out

    # -- references -----------------------------------------------------------------------------

    def _rewrite(self, node: dict[str, Any], depth: int) -> None:
        """Rewrite every ``reference`` in one walk, checking nesting depth on the way."""
        if not rewrite_references(node, depth, self.max_depth, self._resolve):
            raise _too_deep(self.max_depth)

    def _resolve(self, reference: str) -> str:
        mapped = self.refs.get(reference)
        if mapped is not None:
            if self.used is not None:
                self.used.append(reference)
            return mapped
        if reference.startswith(("urn:uuid:", "urn:oid:")):
            if self.used is not None:  # not a POST/PUT fullUrl: decided (or refused) in the lock
                raise _NeedsSession
            raise bad_request(
                f"Reference {reference!r} does not resolve to any entry in the Bundle", code="not-found"
            )
        question = reference.find("?")
        if question > 0 and reference[0] != "#":
            type_ = reference[:question]
            if ops.is_resource_type(type_):
                if self.used is not None:  # a conditional reference needs the database
                    raise _NeedsSession
                return self._resolve_conditional(reference, type_, reference[question + 1 :])
        return reference

    def _resolve_conditional(self, reference: str, type_: str, criteria: str) -> str:
        cached = self.resolved.get(reference)
        if cached is not None:
            return cached
        assert self.session is not None
        matches = ops.find_matches(self.session, type_, criteria)
        if not matches:
            raise unprocessable(
                [error("not-found", f"Conditional reference {reference!r} matches no resource")]
            )
        if len(matches) > 1:
            raise precondition_failed(f"Conditional reference {reference!r} matches more than one resource")
        target = f"{type_}/{matches[0].id}"
        self.resolved[reference] = target
        return target


class _NeedsSession(Exception):
    """Preparing an entry needs the database: it is done inside the transaction instead."""


def _touched(entry: _Entry) -> Touched:
    # a conditional create that matched wrote nothing: the client was shown the existing resource
    interaction = "read" if entry.existing is not None else entry.interaction
    if entry.method in ("POST", "PUT"):
        resource = entry.resource
    else:  # a PATCH body is the patch, not the resource; a DELETE has none
        resource = entry.acted_on
    return Touched(
        interaction,
        entry.type or SYSTEM,
        entry.target_id or entry.id,
        resource,
        entry.criteria,
    )


def _touched_failure(touched: list[Touched] | None, entry: _Entry | None, status: int) -> None:
    if touched is not None and entry is not None and (entry.type is not None or entry.kind is not None):
        touched.append(Touched(entry.interaction, entry.type or SYSTEM, entry.target_id or entry.id, None,
                               entry.criteria, status))  # fmt: skip


def _body_id(entry: _Entry) -> str | None:
    body_id = entry.resource.get("id") if entry.resource is not None else None
    return body_id if isinstance(body_id, str) else None


# -- entry parsing --------------------------------------------------------------------------------


def _parse_entry(index: int, raw: Any, base: str, routed: bool = False) -> _Entry:
    where = f"Bundle.entry[{index}]"
    if not isinstance(raw, dict):
        raise bad_request("A Bundle entry must be an object", where, code="structure")
    request = raw.get("request")
    if not isinstance(request, dict):
        raise bad_request("Entry has no request", f"{where}.request", code="required")
    method = request.get("method")
    if method not in _ORDER:
        raise bad_request(f"Unsupported request.method {method!r}", f"{where}.request.method", code="value")
    url = request.get("url")
    if not isinstance(url, str) or not url:
        raise bad_request("Entry has no request.url", f"{where}.request.url", code="required")
    kind: str | None = None
    relative = ""
    if routed and method in ("GET", "HEAD"):
        type_, id_, version, criteria, kind, relative = _split_read_url(url, base, f"{where}.request.url")
    else:
        type_, id_, version, criteria = _split_url(url, base, f"{where}.request.url")
    resource = raw.get("resource")
    full_url = raw.get("fullUrl")
    if full_url is not None and not isinstance(full_url, str):
        raise bad_request("fullUrl must be a string", f"{where}.fullUrl", code="value")
    entry = _Entry(
        index=index,
        method=method,
        type=type_,
        id=id_,
        version=version,
        criteria=criteria,
        resource=resource if isinstance(resource, dict) else None,
        full_url=full_url,
        if_match=_version_header(request, "ifMatch", where),
        if_none_exist=_string(request, "ifNoneExist", where),
        if_none_match=_string(request, "ifNoneMatch", where),
        url=relative,
        kind=kind,
    )
    _check_shape(entry, url, resource)
    return entry


def _check_shape(entry: _Entry, url: str, resource: Any) -> None:
    where, method = entry.where, entry.method
    if entry.type in ops.SERVER_WRITTEN:
        # Not in the resource tables: writes are refused as over REST, and a read here would
        # answer from the wrong place, around the audit's own gate (api.audit).
        if method not in ("GET", "HEAD"):
            ops.check_writable(entry.type, f"{where}.request")
        raise bad_request(f"{entry.type} is read at [base]/{entry.type}, not inside a Bundle",
                          f"{where}.request.url", code="not-supported")
    if method in ("GET", "HEAD"):
        if entry.kind is not None:
            return  # the route that answers it checks the rest, as for the standalone request
        if entry.type is None:
            raise bad_request("System-level reads are not supported in a Bundle", f"{where}.request.url")
        if entry.id is None and entry.criteria is None and entry.version is None:
            entry.criteria = ""  # GET Type: a search without criteria
        return
    if entry.type is None or entry.version is not None:
        raise bad_request(f"{method} {url} is not a valid URL for this method", f"{where}.request.url")
    if method == "POST":
        if entry.id is not None or entry.criteria is not None:
            raise bad_request(f"POST url must be a resource type, not {url!r}", f"{where}.request.url")
    elif entry.id is None and not entry.criteria:
        raise bad_request(f"{method} needs Type/id or Type?criteria, not {url!r}", f"{where}.request.url")
    if method in ("POST", "PUT"):
        if not isinstance(resource, dict):
            raise bad_request(f"{method} entry has no resource", f"{where}.resource", code="required")
        if resource.get("resourceType") != entry.type:
            raise bad_request(
                f"Resource type {resource.get('resourceType')!r} does not match request.url {url!r}",
                f"{where}.resource.resourceType",
            )
    elif method == "PATCH" and not isinstance(resource, dict):
        raise bad_request("PATCH entry needs a Binary resource holding a JSON Patch", f"{where}.resource")


def _split_url(url: str, base: str, where: str) -> tuple[str | None, str | None, int | None, str | None]:
    """``Type``, ``Type/id``, ``Type/id/_history/n``, ``Type?criteria`` → (type, id, version, criteria)."""
    if ops.is_resource_type(url):  # fast path: the common ``POST Type`` of bulk loads
        return url, None, None, None
    if base and url.startswith(base + "/"):
        url = url[len(base) + 1 :]
    elif "://" in url.partition("?")[0]:
        raise bad_request(f"request.url {url!r} is not on this server", where)
    path, question, query = url.lstrip("/").partition("?")
    criteria = query if question else None
    parts = path.split("/") if path else []
    unsupported = any(p.startswith("$") or p == "_search" for p in parts) or (
        "_history" in parts and len(parts) != 4
    )
    if unsupported:
        raise bad_request(f"request.url {url!r} is not supported in a Bundle", where, code="not-supported")
    if len(parts) > 4 or len(parts) == 3 or (len(parts) == 4 and parts[2] != "_history"):
        raise bad_request(f"request.url {url!r} is not a FHIR resource URL", where)
    if not parts:
        return None, None, None, criteria
    type_ = parts[0]
    if not ops.is_resource_type(type_):
        raise bad_request(f"Unknown resource type '{type_}' in request.url", where, code="not-supported")
    id_ = ops.check_id(parts[1], where) if len(parts) > 1 else None
    version = None
    if len(parts) == 4:
        if not parts[3].isdigit():
            raise bad_request(f"Invalid version in request.url {url!r}", where)
        version = int(parts[3])
    if id_ is not None and criteria is not None:
        raise bad_request(f"request.url {url!r} has both an id and criteria", where)
    return type_, id_, version, criteria


#: ``Touched.type`` of a system-level entry (``GET [base]?_type=…``, ``GET _history``)
SYSTEM = "(system)"


def _split_read_url(url: str, base: str, where: str) -> tuple[str | None, str | None, int | None, str | None, str, str]:
    """A GET entry's URL, any the API routes: (type, id, version, criteria, interaction, relative URL).

    ``metadata``, system search and history, ``$operations`` and ``_history`` at every level are
    accepted here; the route that answers the URL decides the rest (and 404s what it does not know).
    """
    if base and url.startswith(base + "/"):
        url = url[len(base) + 1 :]
    elif "://" in url.partition("?")[0]:
        raise bad_request(f"request.url {url!r} is not on this server", where)
    url = url.lstrip("/")
    path, question, query = url.partition("?")
    criteria = query if question else None
    parts = path.split("/") if path else []
    if not parts:
        return None, None, None, criteria if criteria is not None else "", "search", url
    first = parts[0]
    if len(parts) == 1 and first == "metadata":
        return "CapabilityStatement", None, None, None, "read", url
    if first == "_history" or first.startswith("$"):
        return None, None, None, criteria, "history" if first == "_history" else "operation", url
    if not ops.is_resource_type(first):
        raise bad_request(f"Unknown resource type '{first}' in request.url", where, code="not-supported")
    rest = parts[1:]
    if not rest or rest == ["_search"]:
        return first, None, None, criteria if criteria is not None else "", "search", url
    if rest[0] == "_history" or rest[0].startswith("$"):
        return first, None, None, criteria, "history" if rest[0] == "_history" else "operation", url
    id_ = ops.check_id(rest[0], where)
    if len(rest) == 1:
        kind = "read"
    elif len(rest) == 2 and rest[1] == "_history":
        kind = "history"
    elif len(rest) == 3 and rest[1] == "_history":
        kind = "vread"
    elif len(rest) == 2 and rest[1].startswith("$"):
        kind = "operation"
    else:
        raise bad_request(f"request.url {url!r} is not a FHIR resource URL", where)
    version = int(rest[2]) if kind == "vread" and rest[2].isdigit() else None
    return first, id_, version, criteria, kind, url


def _string(request: dict[str, Any], key: str, where: str) -> str | None:
    value = request.get(key)
    if value is not None and not isinstance(value, str):
        raise bad_request(f"request.{key} must be a string", f"{where}.request.{key}", code="value")
    return value


def _version_header(request: dict[str, Any], key: str, where: str) -> int | None:
    value = _string(request, key, where)
    if value is None:
        return None
    try:
        return ops.parse_etag(value, key)
    except FhirError:
        raise bad_request(f"Invalid request.{key} {value!r}", f"{where}.request.{key}") from None


def _patch_operations(entry: _Entry) -> Any:
    binary = entry.resource or {}
    where = f"{entry.where}.resource"
    if binary.get("resourceType") != "Binary" or binary.get("contentType") != _JSON_PATCH:
        raise FhirError.of(
            415,
            "not-supported",
            f"PATCH entries must carry a Binary of {_JSON_PATCH} (FHIRPath Patch is not supported)",
            where,
        )
    try:
        return orjson.loads(base64.b64decode(binary.get("data", ""), validate=True))
    except (binascii.Error, ValueError, orjson.JSONDecodeError) as exc:
        raise bad_request(f"Binary.data is not a base64 JSON Patch: {exc}", f"{where}.data") from None


# -- whole-Bundle checks ----------------------------------------------------------------------


def _check_unique_full_urls(entries: list[_Entry]) -> None:
    seen: dict[str, int] = {}
    for entry in entries:
        if entry.full_url is None:
            continue
        first = seen.setdefault(entry.full_url, entry.index)
        if first != entry.index:
            raise bad_request(
                f"fullUrl {entry.full_url!r} appears in entries {first} and {entry.index}",
                f"{entry.where}.fullUrl",
            )


def _check_single_write(entries: Iterable[_Entry]) -> None:
    seen: dict[tuple[str, str], int] = {}
    for entry in entries:
        if entry.existing is not None or entry.target_id is None or entry.type is None:
            continue
        key = (entry.type, entry.target_id)
        first = seen.setdefault(key, entry.index)
        if first != entry.index:
            raise bad_request(
                f"Entries {first} and {entry.index} both write {key[0]}/{key[1]}: one write per resource",
                entry.where,
            )


# -- errors ---------------------------------------------------------------------------------------


def _located(entry: _Entry, step: Callable[..., Any], *args: Any) -> Any:
    """Run one step of an entry, relabelling its errors with the entry's position in the Bundle."""
    try:
        return step(*args)
    except FhirError as exc:
        issues = [_relocate(issue, entry) for issue in exc.issues] or [
            error("exception", exc.message, entry.where)
        ]
        raise FhirError(exc.status, issues, exc.headers) from None


def _relocate(issue: Issue, entry: _Entry) -> Issue:
    where = entry.where
    if not issue.expression:
        expression: tuple[str, ...] = (where,)
    else:
        expression = tuple(_relocate_expression(e, entry) for e in issue.expression)
    return Issue(issue.severity, issue.code, issue.diagnostics, expression, issue.details)


def _relocate_expression(expression: str, entry: _Entry) -> str:
    if expression.startswith("Bundle."):
        return expression
    if entry.kind is not None:  # a GET entry's search parameter or path: it is in the URL
        return f"{entry.where}.request.url"
    resource = f"{entry.where}.resource"
    type_ = entry.type or ""
    if type_ and expression == type_:
        return resource
    if type_ and expression.startswith((type_ + ".", type_ + "[")):
        return resource + expression[len(type_) :]
    return f"{resource}.{expression}"


def _too_deep(max_depth: int) -> FhirError:
    return bad_request(f"Resource nesting is deeper than {max_depth} levels", code="structure")


def _error_entry(status: int, issues: list[Issue]) -> dict[str, Any]:
    return {"response": {"status": status_line(status), "outcome": operation_outcome(issues)}}


def status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)
