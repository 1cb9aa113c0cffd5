"""Reconciliation rules, one module per clinical domain: when two statements are the same fact,
and when two statements contradict each other. ``RULES`` maps resource type to its rule."""

from __future__ import annotations

from gpbridge.records.rules.allergies import ALLERGIES
from gpbridge.records.rules.base import DomainRule
from gpbridge.records.rules.immunisations import IMMUNISATIONS
from gpbridge.records.rules.medications import MEDICATIONS
from gpbridge.records.rules.observations import OBSERVATIONS
from gpbridge.records.rules.problems import PROBLEMS

RULES: dict[str, DomainRule] = {
    rule.resource_type: rule for rule in (ALLERGIES, MEDICATIONS, PROBLEMS, OBSERVATIONS, IMMUNISATIONS)
}

__all__ = ["RULES", "DomainRule"]
