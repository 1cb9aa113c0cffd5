"""The review queue: Task resources a person decides, and the merges and unmerges they cause.

A review item is a ``Task`` (status ``requested``, intent ``proposal``, tagged
``identity|link-review`` or ``identity|nhs-number-conflict``): ``for`` is the source record,
``focus`` the person it may belong to, and its inputs carry the score, the reason and the field by
field comparison a reviewer sees. Accepting merges the source's person into the candidate (the
retired golden is kept, inactive, ``replaced-by`` the survivor, and every moved source is
re-pointed in a new version); rejecting records "not the same person", which ``rebuild_links``
honours. An accepted merge can be undone: the versions it replaced are restored as new versions,
so history shows the merge and its reversal and nothing is lost.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from gpbridge.config import Settings
from gpbridge.fhir.outcome import FhirError, conflict, not_found
from gpbridge.identity import golden as gold
from gpbridge.identity.linkage import read_patient
from gpbridge.store.base import StoreSession

REVIEW_CODES = {
    "review": ("link-review", "Possible match: confirm whether these records are the same person"),
    "conflict": ("nhs-number-conflict", "Conflicting NHS number: same person with different numbers, "
                                        "or one number on clearly different people"),
}
INPUT_SCORE = "match-probability"
INPUT_WEIGHT = "match-weight"
INPUT_REASON = "reason"
INPUT_SOURCE_PERSON = "source-person"
INPUT_COMPARISON = "comparison"
OUTPUT_SURVIVOR = "merged-into"
OUTPUT_RETIRED = "retired-person"
OUTPUT_VERSIONS = "replaced-versions"
# Called by a decision, before it writes, with every Patient it involves ("Patient/<id>"); raises
# to refuse (``security.identity_review.DecisionGuard``: the reviewer's right over each record).
Check = Callable[[list[str]], None]


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def open_review(
    session: StoreSession,
    settings: Settings,
    *,
    kind: str,
    source: str,
    source_person: str,
    candidate: str,
    score: float | None,
    reason: str,
    comparison: dict[str, str],
    weight: float | None = None,
) -> str:
    code, display = REVIEW_CODES[kind]
    inputs: list[dict[str, Any]] = [
        _input(INPUT_REASON, valueString=reason),
        _input(INPUT_SOURCE_PERSON, valueReference={"reference": f"Patient/{source_person}"}),
        _input(INPUT_COMPARISON, valueString=", ".join(f"{k}={v}" for k, v in comparison.items())),
    ]
    if score is not None:
        inputs.insert(0, _input(INPUT_SCORE, valueDecimal=round(score, 6)))
    if weight is not None:
        inputs.insert(1, _input(INPUT_WEIGHT, valueDecimal=round(weight, 3)))
    task = {
        "resourceType": "Task",
        "meta": {"tag": [{"system": gold.IDENTITY_SYSTEM, "code": code}]},
        "status": "requested",
        "intent": "proposal",
        "priority": "urgent" if kind == "conflict" else "routine",
        "code": {"coding": [{"system": gold.IDENTITY_SYSTEM, "code": code, "display": display}]},
        "description": f"Is Patient/{source} the same person as Patient/{candidate}? {reason}",
        "focus": {"reference": f"Patient/{candidate}"},
        "for": {"reference": f"Patient/{source}"},
        "authoredOn": now(),
        "input": inputs,
    }
    # Written through the session like the golden Patients (see linkage.write_golden).
    return session.create(task).resource.id


def read_task(session: StoreSession, task_id: str) -> dict[str, Any]:
    stored = session.read("Task", task_id)
    if stored is None or stored.deleted or stored.content is None:
        raise not_found(f"Review item Task/{task_id} is not known")
    task = orjson.loads(stored.content)
    if not _is_review(task):
        raise not_found(f"Task/{task_id} is not an identity review item")
    return dict(task)


def accept(session: StoreSession, settings: Settings, task_id: str, *, reviewer: str | None, note: str = "",
           check: Check | None = None) -> dict[str, Any]:
    """Same person: merge the source's person into the candidate. Returns the updated Task.
    ``check`` is shown the record, both people and every source that moves, before any write."""
    task = read_task(session, task_id)
    if task["status"] != "requested":
        raise conflict(f"Task/{task_id} is already {task['status']}")
    survivor_id = _ref_id(task["focus"])
    retired_id = _source_person(task)
    survivor = _read_person(session, survivor_id)
    if not survivor.get("active", True):  # the candidate was itself merged meanwhile: follow it
        survivor_id = gold.replaced_by(survivor) or survivor_id
        survivor = _read_person(session, survivor_id)
    versions = {survivor_id: _version(survivor)}
    if retired_id and retired_id != survivor_id:
        retired = _read_person(session, retired_id)
        versions[retired_id] = _version(retired)
        moved = [s for s in (read_patient(session, m) for m in gold.members(retired)) if s is not None]
        _check(check, task, _ref_id(task["focus"]), survivor_id, retired_id, *(str(s["id"]) for s in moved))
        for source in moved:
            gold.absorb(survivor, source)
        # People first, then sources: a write-path hook re-linking a source then finds it already
        # inside the survivor.
        _write(session, settings, gold.retire(retired, survivor_id))
        _write(session, settings, survivor)
        for source in moved:
            repoint(session, source, survivor_id)
    else:
        _check(check, task, _ref_id(task["focus"]), survivor_id)
        _write(session, settings, survivor)
    task["status"] = "completed"
    task["businessStatus"] = {"text": "accepted: same person"}
    task["output"] = [
        _output(OUTPUT_SURVIVOR, valueReference={"reference": f"Patient/{survivor_id}"}),
        _output(OUTPUT_VERSIONS, valueString=orjson.dumps(versions).decode()),
    ]
    if retired_id and retired_id != survivor_id:
        task["output"].insert(1, _output(OUTPUT_RETIRED, valueReference={"reference": f"Patient/{retired_id}"}))
    return _decided(session, settings, task, reviewer, note)


def reject(session: StoreSession, settings: Settings, task_id: str, *, reviewer: str | None, note: str = "",
           check: Check | None = None) -> dict[str, Any]:
    """Not the same person: nothing moves; the decision is kept for rebuilds."""
    task = read_task(session, task_id)
    if task["status"] != "requested":
        raise conflict(f"Task/{task_id} is already {task['status']}")
    _check(check, task, _ref_id(task["focus"]), _source_person(task))
    task["status"] = "rejected"
    task["businessStatus"] = {"text": "rejected: not the same person"}
    return _decided(session, settings, task, reviewer, note)


def undo(store: Any, session: StoreSession, settings: Settings, task_id: str, *, reviewer: str | None,
         note: str = "", check: Check | None = None) -> dict[str, Any]:
    """Unmerge an accepted review: restore the retired person and re-point its sources."""
    task = read_task(session, task_id)
    if task["status"] != "completed":
        raise conflict(f"Task/{task_id} is {task['status']}: only an accepted merge can be undone")
    outputs = {o["type"]["text"]: o for o in task.get("output") or ()}
    survivor_id = _ref_id(outputs[OUTPUT_SURVIVOR]["valueReference"])
    retired_ref = outputs.get(OUTPUT_RETIRED)
    if retired_ref is not None:
        retired_id = _ref_id(retired_ref["valueReference"])
        versions = orjson.loads(outputs[OUTPUT_VERSIONS]["valueString"])
        restored = dict(orjson.loads(store.vread("Patient", retired_id, versions[retired_id]).content))
        moved = gold.members(restored)
        survivor = _read_person(session, survivor_id)
        _check(check, task, survivor_id, retired_id, *moved)
        remaining = [m for m in gold.members(survivor) if m not in moved]
        sources = [s for s in (read_patient(session, m) for m in remaining) if s is not None]
        rebuilt = gold.build_golden(survivor_id, sources)
        rebuilt["meta"] = survivor.get("meta") or rebuilt["meta"]
        restored["active"] = True
        _write(session, settings, restored)
        _write(session, settings, rebuilt)
        for source_id in moved:
            source = read_patient(session, source_id)
            if source is not None:
                repoint(session, source, retired_id)
    else:
        _check(check, task, survivor_id)
    task["status"] = "cancelled"
    task["businessStatus"] = {"text": "merge undone"}
    return _decided(session, settings, task, reviewer, note)


def rejected_pairs(store: Any) -> list[tuple[str, str]]:
    """(source id, candidate person id) pairs reviewers said are different people."""
    return [(_ref_id(t["for"]), _ref_id(t["focus"])) for t in _decided_tasks(store, "rejected")]


def accepted_pairs(store: Any) -> list[tuple[str, str]]:
    """(source id, person id it was merged into) pairs reviewers said are the same person."""
    out = []
    for task in _decided_tasks(store, "completed"):
        outputs = {o["type"]["text"]: o for o in task.get("output") or ()}
        if OUTPUT_SURVIVOR in outputs:
            out.append((_ref_id(task["for"]), _ref_id(outputs[OUTPUT_SURVIVOR]["valueReference"])))
    return out


def _decided_tasks(store: Any, status: str) -> list[dict[str, Any]]:
    from gpbridge.search.parse import parse_search

    codes = f"{gold.IDENTITY_SYSTEM}|link-review,{gold.IDENTITY_SYSTEM}|nhs-number-conflict"
    out: list[dict[str, Any]] = []
    offset = 0
    while True:  # every decision counts, however many there are
        query = parse_search("Task", [("_tag", codes), ("status", status), ("_count", "1000"), ("_sort", "_id")],
                             max_count=1000)
        query.offset, query.total = offset, "none"
        page = store.search(query).matches
        out += [orjson.loads(s.content) for s in page if s.content]
        if len(page) < 1000:
            return out
        offset += 1000


# -- helpers ------------------------------------------------------------------------------------


def _decided(session: StoreSession, settings: Settings, task: dict[str, Any], reviewer: str | None,
             note: str) -> dict[str, Any]:
    task["lastModified"] = now()
    if reviewer:
        task["owner"] = {"display": reviewer}
    if note:
        task.setdefault("note", []).append({"text": note, "time": task["lastModified"],
                                            **({"authorString": reviewer} if reviewer else {})})
    task = {k: v for k, v in task.items() if k != "meta"} | {"meta": {"tag": task["meta"]["tag"]}}
    stored = session.update("Task", task["id"], task).resource
    return dict(orjson.loads(stored.content or b"{}"))


def _check(check: Check | None, task: dict[str, Any], *people: str | None) -> None:
    """Show ``check`` the Task's record and ``people`` (ids), in order, without repeats."""
    if check is None:
        return
    refs: list[str] = []
    for ref in [str(task["for"]["reference"]), *(f"Patient/{p}" for p in people if p)]:
        if ref not in refs:
            refs.append(ref)
    check(refs)


def _is_review(task: dict[str, Any]) -> bool:
    codes = {c.get("code") for c in (task.get("code") or {}).get("coding") or () if c.get("system") == gold.IDENTITY_SYSTEM}
    return bool(codes & {"link-review", "nhs-number-conflict"})


def _source_person(task: dict[str, Any]) -> str | None:
    for item in task.get("input") or ():
        if item["type"]["text"] == INPUT_SOURCE_PERSON:
            return _ref_id(item["valueReference"])
    return None


def _ref_id(reference: dict[str, Any]) -> str:
    return str(reference["reference"]).split("/", 1)[1]


def _read_person(session: StoreSession, golden_id: str) -> dict[str, Any]:
    person = read_patient(session, golden_id)
    if person is None:
        raise FhirError.of(404, "not-found", f"Person Patient/{golden_id} is not known")
    return person


def _version(resource: dict[str, Any]) -> int:
    return int((resource.get("meta") or {}).get("versionId", "1"))


def _write(session: StoreSession, settings: Settings, golden: dict[str, Any]) -> None:
    from gpbridge.identity.linkage import write_golden

    write_golden(session, golden, settings)


def repoint(session: StoreSession, source: dict[str, Any], golden_id: str | None) -> bool:
    """Point a stored source at another person in a new version (history keeps the old link).

    Written through the session directly: only the managed link changes, the source was validated
    when it was stored, and going through the write-path hook would re-link what we just decided.
    """
    if not gold.set_person_link(source, golden_id):
        return False
    meta = {k: v for k, v in (source.get("meta") or {}).items() if k not in ("versionId", "lastUpdated")}
    source = {k: v for k, v in source.items() if k != "meta"} | ({"meta": meta} if meta else {})
    session.update("Patient", source["id"], source)
    return True


def _input(kind: str, **value: Any) -> dict[str, Any]:
    return {"type": {"text": kind}, **value}


def _output(kind: str, **value: Any) -> dict[str, Any]:
    return {"type": {"text": kind}, **value}
