"""Searching the audit trail: FHIR AuditEvent search parameters -> a query over ``audit_log``.

``audit_log`` keeps indexed columns beside each event's JSON (seq, recorded, principal, patient,
interaction, outcome, flags), so every filter here is a column comparison, never a JSON parse.
Newest first; pages continue from the last ``seq`` seen (``_cursor``), which stays correct while
the background writer keeps appending.

Parameters (R4 AuditEvent search, plus what the privacy officer needs): ``_id`` (the event's
``seq``), ``patient`` / ``entity`` (``Patient/123``), ``agent`` / ``who`` (the user's id), ``altid``
(client id), ``date`` (with ge/gt/le/lt/eq), ``type`` (``rest`` or ``110114`` logins), ``subtype``
(the interaction: read, search, create, ...), ``outcome`` (``0`` success, ``4`` failure), ``_tag``
(an audit flag: ``break-glass``, ``redacted``, ``filtered``), ``_count``, ``_cursor``.

As in every search on this server, an unknown parameter is ignored and reported back
(``AuditQuery.ignored``), and refused with 400 only when the client asks for strict handling.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from gpbridge.fhir.outcome import FhirError, bad_request, error
from gpbridge.search.dates import date_range
from gpbridge.security.audit import FLAG_SYSTEM

DEFAULT_COUNT = 50
MAX_COUNT = 500
_LOGIN_INTERACTIONS = ("login", "logout", "token")
_TYPES = {"rest": False, "110114": True}  # AuditEvent.type code -> is an authentication event
_OUTCOMES = {"0": "allowed", "4": "denied", "8": "denied", "12": "denied", "allowed": "allowed",
             "denied": "denied"}  # fmt: skip
# The search parameters and their FHIR types (the CapabilityStatement lists exactly these).
# ``who`` and ``flag`` are this server's aliases of ``agent`` and ``_tag``.
PARAMETERS: dict[str, str] = {
    "_id": "token", "patient": "reference", "entity": "reference", "agent": "reference",
    "who": "reference", "altid": "token", "date": "date", "type": "token", "subtype": "token",
    "outcome": "token", "_tag": "token", "flag": "token",
}  # fmt: skip
# Paging and response shape: understood, but not search parameters.
_CONTROL = frozenset({"_count", "_cursor", "_format", "_pretty", "_sort"})
SUPPORTED = frozenset(PARAMETERS) | _CONTROL


@dataclass
class AuditQuery:
    patients: tuple[str, ...] = ()  # any of these patient compartments (a person may have several)
    principal: str | None = None
    client_id: str | None = None
    authentication: bool | None = None  # True: logins and token issues; False: REST interactions
    interaction: str | None = None
    outcome: str | None = None  # allowed | denied
    flag: str | None = None
    recorded: list[tuple[str, str]] = field(default_factory=list)  # (sql operator, ISO instant)
    count: int = DEFAULT_COUNT
    before_seq: int | None = None
    exclude_principal: str | None = None  # a patient's own look-ups are not "who accessed my record"
    seqs: tuple[int, ...] | None = None  # ``_id``: these events only (empty: none can match)
    ignored: list[str] = field(default_factory=list)  # unknown parameters, reported to the client


def _instant(epoch: float) -> str:
    """The ``recorded`` column's own format, so text comparison orders like time."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


def _date_clauses(value: str) -> list[tuple[str, str]]:
    prefix, text = (value[:2], value[2:]) if value[:2].isalpha() else ("eq", value)
    rng = date_range(text.replace(" ", "+"))
    if rng is None:
        raise bad_request(f"'{value}' is not a valid date for 'date' (e.g. ge2026-12-01)", "date")
    lo, hi = _instant(rng[0]), _instant(rng[1])
    clauses = {"eq": [(">=", lo), ("<", hi)], "ge": [(">=", lo)], "gt": [(">=", hi)],
               "le": [("<", hi)], "lt": [("<", lo)]}  # fmt: skip
    if prefix not in clauses:
        raise bad_request(f"date prefix {prefix!r} is not supported on the audit (use eq, ge, gt, le, lt)", "date")
    return clauses[prefix]


def _code(value: str) -> str:
    return value.rpartition("|")[2]  # token: system|code or code


def _patient_ref(value: str) -> str:
    return value if "/" in value else f"Patient/{value}"


def parse_audit_query(params: list[tuple[str, str]], *, strict: bool = False) -> AuditQuery:
    """The query the parameters ask for; 400 for a malformed value. An unknown parameter is
    ignored (``query.ignored``), or with ``strict`` (``Prefer: handling=strict``) a 400 naming each."""
    query = AuditQuery()
    query.ignored = list(dict.fromkeys(name for name, _ in params if name not in SUPPORTED))
    if strict and query.ignored:
        raise FhirError(400, [error("not-supported", f"unknown or unsupported search parameter '{n}'", n)
                              for n in query.ignored])  # fmt: skip
    for name, value in params:
        if not value or name not in SUPPORTED:
            continue
        if name == "_id":  # events are numbered: an id that is not a number matches nothing
            query.seqs = tuple(int(v) for v in value.split(",") if v.isdigit())
        elif name in ("patient", "entity"):  # a comma is OR: one person may have several records
            query.patients = tuple(_patient_ref(v) for v in value.split(",") if v)
        elif name in ("agent", "who"):
            query.principal = value.rpartition("|")[2].rpartition("/")[2]
        elif name == "altid":
            query.client_id = value
        elif name == "type":
            if _code(value) not in _TYPES:
                raise bad_request(f"type {value!r}: use rest or 110114 (user authentication)", "type")
            query.authentication = _TYPES[_code(value)]
        elif name == "subtype":
            query.interaction = _code(value)
        elif name == "outcome":
            if value not in _OUTCOMES:
                raise bad_request(f"outcome {value!r}: use 0 (success) or 4 (failure)", "outcome")
            query.outcome = _OUTCOMES[value]
        elif name in ("_tag", "flag"):
            system, _, code = value.rpartition("|")
            if system and system != FLAG_SYSTEM:
                raise bad_request(f"_tag system must be {FLAG_SYSTEM}", "_tag")
            query.flag = code
        elif name == "date":
            query.recorded += _date_clauses(value)
        elif name == "_count":
            if not value.isdigit():
                raise bad_request("_count must be a whole number", "_count")
            query.count = max(1, min(int(value), MAX_COUNT))
        elif name == "_cursor":
            if not value.isdigit():
                raise bad_request("_cursor is not one this server gave", "_cursor")
            query.before_seq = int(value)
        elif name == "_sort" and value not in ("-date", "date"):
            raise bad_request("the audit sorts by -date (newest first) only", "_sort")
    return query


def _where(query: AuditQuery) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    args: list[Any] = []
    if query.seqs is not None:
        where.append(f"seq IN ({','.join('?' * len(query.seqs))})")  # the primary key
        args += query.seqs
    if query.patients:
        where.append(f"patient IN ({','.join('?' * len(query.patients))})")
        args += query.patients
    for column, value in (("principal", query.principal), ("outcome", query.outcome)):
        if value:
            where.append(f"{column} = ?")
            args.append(value)
    if query.authentication is not None:
        where.append(("" if query.authentication else "NOT ") + "interaction IN (?, ?, ?)")
        args += _LOGIN_INTERACTIONS
    if query.interaction:
        where.append("(interaction = ? OR interaction LIKE ?)")  # operation:$everything
        args += [query.interaction, f"{query.interaction}:%"]
    if query.flag:
        where.append("(',' || flags || ',') LIKE ?")  # flags is comma-separated: match a whole one
        args.append(f"%,{query.flag},%")
    if query.client_id:
        where.append("event LIKE ?")  # rare: no column of its own
        args.append(f'%"altId":{orjson.dumps(query.client_id).decode()}%')
    for operator, instant in query.recorded:
        where.append(f"recorded {operator} ?")
        args.append(instant)
    if query.exclude_principal:
        where.append("(principal IS NULL OR principal <> ?)")
        args.append(query.exclude_principal)
    if query.before_seq is not None:
        where.append("seq < ?")
        args.append(query.before_seq)
    return where, args


@dataclass
class AuditPage:
    events: list[dict[str, Any]]
    next_cursor: int | None  # the ``_cursor`` of the next (older) page, None on the last


def search_audit(store: Any, query: AuditQuery) -> AuditPage:
    """One page of AuditEvents matching ``query``, newest first."""
    if query.count <= 0 or query.seqs == ():
        return AuditPage([], None)
    where, args = _where(query)
    sql = "SELECT seq, event FROM audit_log" + (" WHERE " + " AND ".join(where) if where else "")
    sql += f" ORDER BY seq DESC LIMIT {int(query.count) + 1}"
    with store._read_cursor() as cur:
        cur.execute(store.dialect_obj.sql(sql), args)
        rows = cur.fetchall()
    more = len(rows) > query.count
    rows = rows[: query.count]
    events = [orjson.loads(event) for _, event in rows]
    return AuditPage(events, rows[-1][0] if more and rows else None)


def read_audit_event(store: Any, seq: int) -> dict[str, Any] | None:
    with store._read_cursor() as cur:
        cur.execute(store.dialect_obj.sql("SELECT event FROM audit_log WHERE seq = ?"), [seq])
        row = cur.fetchone()
    return orjson.loads(row[0]) if row else None


# What a patient sees of an event about their record: when, who (name, role, organisation), what
# was done. Not the network address, client ids, request ids, internal reasons or break-glass text.
_PATIENT_AGENT_FIELDS = ("who", "role", "location", "requestor")


def patient_view(event: dict[str, Any]) -> dict[str, Any]:
    shown = {k: event[k] for k in ("resourceType", "id", "type", "subtype", "action", "recorded", "outcome",
                                   "source") if k in event}  # fmt: skip
    shown["agent"] = [
        {k: v for k, v in agent.items() if k in _PATIENT_AGENT_FIELDS} for agent in event.get("agent") or ()
    ]
    for agent in shown["agent"]:
        who = agent.get("who") or {}
        agent["who"] = {"display": who.get("display", "unknown")}
    entities = [
        {k: v for k, v in entity.items() if k in ("what", "role")} for entity in event.get("entity") or ()
    ]
    if entities:
        shown["entity"] = entities
    tags = (event.get("meta") or {}).get("tag") or ()
    if any(t.get("code") == "break-glass" for t in tags):  # an emergency access is the patient's to know
        shown["meta"] = {"tag": [t for t in tags if t.get("code") == "break-glass"]}
    return shown
