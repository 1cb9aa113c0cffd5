"""JSON Patch errors name the operation, its JSON Pointer and what failed — never the record's data."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from gpbridge.fhir.outcome import FhirError
from gpbridge.store.json_patch import apply_json_patch

RECORD = {
    "resourceType": "Patient",
    "id": "p",
    "gender": "female",
    "birthDate": "1961-04-12",
    "name": [{"family": "Okonkwo-Secret", "given": ["Adaeze"]}],
    "telecom": [{"system": "phone", "value": "07700 900123"}],
}
SECRETS = ("female", "1961", "Okonkwo", "Adaeze", "07700", "resourceType", "{", "<class")


def _error(operations: list[dict[str, Any]]) -> FhirError:
    with pytest.raises(FhirError) as raised:
        apply_json_patch(copy.deepcopy(RECORD), operations)
    for issue in raised.value.issues:
        assert not [s for s in SECRETS if s in issue.diagnostics], issue.diagnostics
    return raised.value


@pytest.mark.parametrize(
    ("operation", "says", "where"),
    [
        ({"op": "test", "path": "/maritalStatus", "value": "M"}, "'/maritalStatus' does not exist",
         "Patient.maritalStatus"),
        ({"op": "test", "path": "/gender", "value": "male"}, "the value at '/gender' is not the tested value",
         "Patient.gender"),
        ({"op": "test", "path": "/name/0/family", "value": "x"}, "is not the tested value", "Patient.name[0].family"),
        ({"op": "remove", "path": "/deceasedBoolean"}, "'/deceasedBoolean' does not exist",
         "Patient.deceasedBoolean"),
        ({"op": "replace", "path": "/name/3", "value": {}}, "'/name/3' does not exist", "Patient.name[3]"),
        ({"op": "add", "path": "/contact/0/name", "value": {}}, "'/contact/0' does not exist",
         "Patient.contact[0].name"),
        ({"op": "add", "path": "/name/7", "value": {}}, "cannot be applied there", "Patient.name[7]"),
        ({"op": "move", "from": "/photo", "path": "/note"}, "'/photo' does not exist", "Patient.photo"),
        ({"op": "copy", "from": "/name/0", "path": "/link/0/other"}, "'/link/0' does not exist",
         "Patient.link[0].other"),
        ({"op": "move", "from": "/name", "path": "/name/0/x"}, "cannot move '/name' into itself",
         "Patient.name[0].x"),
    ],
)  # fmt: skip
def test_failures_name_the_pointer_not_the_values(operation: dict[str, Any], says: str, where: str) -> None:
    fixed = {"op": "replace", "path": "/gender", "value": "other"}  # applies: the failing one is #1
    failure = _error([fixed, operation])
    assert failure.status == 422
    (issue,) = failure.issues
    assert issue.diagnostics.startswith(f"JSON Patch operation 1 ('{operation['op']}' at '{operation['path']}')")
    assert says in issue.diagnostics and issue.expression == (where,)


def test_malformed_operations_are_each_named() -> None:
    failure = _error([
        {"op": "add", "path": "/gender"},
        {"op": "jump", "path": "/gender"},
        {"op": "remove", "path": "gender"},
        {"op": "move", "path": "/x"},
        {"op": "test", "path": "/a~2b", "value": 1},
        {"op": "remove", "path": "/gender"},
    ])  # fmt: skip
    assert failure.status == 400
    assert [i.diagnostics for i in failure.issues] == [
        "JSON Patch operation 0 ('add' at '/gender') has no 'value'",
        "JSON Patch operation 1: 'op' must be one of add, remove, replace, move, copy, test",
        "JSON Patch operation 2 ('remove'): 'path' must be a JSON Pointer",
        "JSON Patch operation 3 ('move'): 'from' must be a JSON Pointer",
        "JSON Patch operation 4 ('test'): 'path' must be a JSON Pointer",
    ]
    replace_end = _error([{"op": "replace", "path": "/name/-", "value": {}}])
    assert replace_end.status == 400 and "cannot be used at that path" in replace_end.message


def test_a_patch_that_applies() -> None:
    patched = apply_json_patch(copy.deepcopy(RECORD), [
        {"op": "test", "path": "/gender", "value": "female"},
        {"op": "add", "path": "/name/-", "value": {"family": "B"}},
        {"op": "move", "from": "/birthDate", "path": "/extension"},
        {"op": "copy", "from": "/name/0/given", "path": "/name/1/given"},
        {"op": "remove", "path": "/telecom/0"},
    ])  # fmt: skip
    assert patched["name"][1] == {"family": "B", "given": ["Adaeze"]}
    assert patched["extension"] == "1961-04-12" and "birthDate" not in patched and patched["telecom"] == []
