"""Dispatch each statement of an ehrComposition to its translator."""

from __future__ import annotations

from lxml import etree

from gpbridge.adapters.gp2gp import allergies, documents, medications, observations, pathology, requests
from gpbridge.adapters.gp2gp.context import Context
from gpbridge.adapters.gp2gp.hl7v3 import T, local_name


def map_statement(ctx: Context, statement: etree._Element) -> list[str]:
    """fullUrls of the resources translated from ``statement`` (LinkSets are deferred)."""
    name = local_name(statement)
    if name == "ObservationStatement":
        return [observations.map_observation_statement(ctx, statement)]
    if name == "NarrativeStatement":
        document = documents.external_document(statement)
        if document is not None:
            return [documents.map_document(ctx, statement, document)]
        return [observations.map_narrative(ctx, statement)]
    if name == "MedicationStatement":
        return medications.map_medication(ctx, statement)
    if name == "RequestStatement":
        return [requests.map_referral(ctx, statement)]
    if name == "PlanStatement":
        return [requests.map_plan(ctx, statement)]
    if name == "LinkSet":
        ctx.deferred.append(statement)
        return []
    if name == "CompoundStatement":
        return _compound(ctx, statement)
    return [observations.degraded_observation(ctx, statement)]


def _compound(ctx: Context, compound: etree._Element) -> list[str]:
    if pathology.is_report(compound):
        return pathology.map_report(ctx, compound)
    if allergies.is_allergy(compound):
        return allergies.map_allergy(ctx, compound)
    if observations.is_blood_pressure(compound):
        return [observations.map_blood_pressure(ctx, compound)]
    children = [c for comp in compound.iterfind(T.component) for c in comp if isinstance(c.tag, str)]
    if compound.get("classCode") == "CATEGORY":
        # a topic heading within a consultation: its statements stand on their own
        urls = [u for child in children for u in map_statement(ctx, child)]
        if urls:
            ctx.account(compound, urls[0])
        elif ctx.encounter:
            ctx.account(compound, ctx.encounter)
        return urls
    members = [u for child in children for u in map_statement(ctx, child)]
    return [observations.map_group(ctx, compound, members)]
