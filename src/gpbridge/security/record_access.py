"""``records.access.RecordAccess`` answered by the policy: what a caller may see of a record that
an operation or page assembles ($summary, $gpc.getstructuredrecord, the clinician view).

- ``open``: the Patient and every type the record will return are decided as a search of that
  type would be (``policy.authorize_record``), then the relationship with the patient; a refusal
  is audited and raised (``refuse`` shapes the error: GP Connect has codes of its own). Asked
  with ``withhold``, types a proxy's access level leaves out are withheld rather than refused
  (``policy.authorize_record``) and returned, so the view marks their sections withheld.
- ``shown``: each resource passes the item rules a search result passes
  (``security.filtering.visibility``): dissent and relationship per the resource's own patient,
  confidential items, patient-facing labels, a sensitive patient's demographics redacted.

One allowance beyond a search: a linked source record with no registered practice of its own (a
hospital's copy of the person) is shown under the relationship with the person the caller asked
for, as another organisation's data (its confidential items hidden). Linkage says it is the same
person, and the joined-up record exists to show it; a source registered elsewhere, or dissenting,
is judged on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from typing import Any

from gpbridge.fhir.outcome import FhirError
from gpbridge.security import labels as lb
from gpbridge.security import rules
from gpbridge.security.facts import patient_of
from gpbridge.security.filtering import redact, unrestricted, visibility
from gpbridge.security.policy import RequestContext, authorize_record, privacy_roles
from gpbridge.security.rules import Decision


def forbidden(decision: Decision) -> FhirError:
    """The plain FHIR refusal: 403 with an OperationOutcome saying why."""
    return FhirError.of(403, "forbidden", f"Access denied: {decision.reason}")


class PolicyRecordAccess:
    def __init__(
        self,
        context: RequestContext,
        *,
        interaction: str = "operation",
        operation: str | None = None,
        refuse: Callable[[Decision], FhirError] = forbidden,
    ) -> None:
        self.context = context
        self.interaction = interaction
        self.operation = operation
        self.refuse = refuse
        self._person: Decision | None = None  # the relationship with the patient asked for
        self._sources: frozenset[str] = frozenset()
        self._types: dict[str, bool] = {}

    def open(
        self, patient: dict[str, Any], types: Collection[str], sources: Collection[str] = (), *, withhold: bool = False
    ) -> Collection[str]:
        reference = f"Patient/{patient['id']}"
        decision, withheld = authorize_record(
            self.context, reference, ["Patient", *types], interaction=self.interaction, operation=self.operation,
            withhold=withhold,
        )
        if not decision.allowed:
            raise self.refuse(decision)
        self._person = decision
        self._sources = frozenset(sources) - {reference}
        return withheld

    def shown(self, resources: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        if unrestricted(self.context):  # development mode and system callers see every item
            return list(resources)
        out = []
        for resource in resources:
            if not self._type_allowed(str(resource.get("resourceType"))):
                continue  # a type the caller could not search: never returned, whatever brought it in
            verdict = self._verdict(resource)
            if verdict == rules.SHOW:
                out.append(resource)
            elif verdict == rules.REDACT:
                out.append(redact(resource))
        return out

    def _type_allowed(self, type_: str) -> bool:
        if type_ not in self._types:
            who = self.context.principal
            decision = rules.decide_type(who, "search", type_, privacy_roles(self.context.settings))
            self._types[type_] = decision.allowed
        return self._types[type_]

    def _verdict(self, resource: dict[str, Any]) -> str:
        verdict, decision = visibility(self.context, resource)
        patient = patient_of(resource)
        person = self._person
        if decision.allowed or patient not in self._sources or person is None or not person.allowed:
            return verdict
        facts = self.context.patients.facts(patient) if self.context.patients is not None else None
        who = self.context.principal
        if facts is None or who is None or facts.registered_ods or facts.dissent:
            return rules.HIDE
        # The person's relationship, but never as their registered practice: this is another
        # organisation's record, so its confidential items stay hidden.
        relation = rules.CARE if person.reason == rules.REGISTERED else person.reason
        return rules.item_visibility(who, relation, str(resource.get("resourceType")), lb.codes(resource))
