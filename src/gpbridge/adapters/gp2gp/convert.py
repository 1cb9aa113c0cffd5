"""GP2GP EHR Extract → UK Core R4 transaction Bundle (pure: no store, no I/O)."""

from __future__ import annotations

from typing import Any

from lxml import etree

from gpbridge.adapters.common.bundle import DuplicateEntry, TransactionBuilder, identifier_criteria
from gpbridge.adapters.common.codes import CodeMapper, NullCodeMapper
from gpbridge.adapters.common.ids import digest
from gpbridge.adapters.common.nhs_number import NHS_NUMBER_SYSTEM, check_nhs_number
from gpbridge.adapters.common.pipeline import Translation
from gpbridge.adapters.gp2gp import encounters, hl7v3, problems
from gpbridge.adapters.gp2gp.agents import index_agents, organization_for_ods
from gpbridge.adapters.gp2gp.context import Context
from gpbridge.adapters.gp2gp.errors import Gp2gpError
from gpbridge.adapters.gp2gp.hl7v3 import T, path_of
from gpbridge.adapters.gp2gp.parse import parse_message, read_envelope
from gpbridge.adapters.gp2gp.statements import map_statement

CONTENT_TYPE = "application/xml"


def translate_gp2gp(xml: bytes, *, mapper: CodeMapper | None = None) -> Translation:
    root = parse_message(xml)
    env = read_envelope(root)
    try:
        nhs_number = check_nhs_number(env.nhs_number)
    except ValueError as exc:
        raise Gp2gpError(f"invalid NHS number: {exc}", ".../EhrExtract/recordTarget/patient/id/@extension",
                         code="value") from None
    builder = TransactionBuilder(f"gp2gp|{nhs_number}|{env.extract_id}")
    ctx = Context(nhs_number, env.author_ods, mapper or NullCodeMapper(), builder)
    ctx.patient = _patient(ctx, env.author_ods)
    index_agents(ctx, env.folder)
    try:
        _compositions(ctx, env.folder)
    except RecursionError:
        raise Gp2gpError("statements are nested too deeply", "ehrFolder", code="structure") from None
    except DuplicateEntry as exc:
        raise Gp2gpError(f"the id of {exc.key.replace('|', ' ')} is used by more than one statement",
                         "ehrFolder", code="duplicate") from None
    return Translation(
        adapter="gp2gp",
        message_key=f"{nhs_number}|{env.extract_id}|{digest(bytes(xml))}",
        message_id=env.message_id,
        source_system=env.sending_system,
        ods_code=env.author_ods,
        builder=builder,
        quality=ctx.quality,
        content_type=CONTENT_TYPE,
        patient=ctx.patient,
        accounted=ctx.accounted,
    )


def gp2gp_to_bundle(xml_bytes: bytes, *, received: str | None = None, mapper: CodeMapper | None = None) -> dict[str, Any]:
    """The transaction Bundle for one EHR Extract (without the archive/Provenance the importer adds).

    ``received`` is accepted for symmetry with the importer (it stamps the Provenance there).
    """
    return translate_gp2gp(xml_bytes, mapper=mapper).builder.bundle()


def _patient(ctx: Context, ods: str | None) -> str:
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "identifier": [{"system": NHS_NUMBER_SYSTEM, "value": ctx.nhs_number}],
    }
    if ods:
        patient["managingOrganization"] = {"reference": organization_for_ods(ctx, ods)}
    return ctx.builder.create("Patient", patient,
                              if_none_exist=identifier_criteria(NHS_NUMBER_SYSTEM, ctx.nhs_number))


def _committed(composition: etree._Element) -> str | None:
    """The composition's author/time; a malformed one is only a missing fallback, not an error."""
    time = composition.find(f"{T.author}/{T.time}")
    value = time.get("value") if time is not None else None
    return hl7v3.ts_value(value) if value else None


def _compositions(ctx: Context, folder: etree._Element) -> None:
    lists: list[tuple[etree._Element, str, list[str]]] = []
    deferred: list[tuple[etree._Element, str | None, list[str] | None]] = []
    for composition in folder.iterfind(f"{T.component}/{T.ehrComposition}"):
        ctx.security = ctx.security_of(composition)
        ctx.recorded = _committed(composition)
        consultation = encounters.is_consultation(composition)
        ctx.encounter = encounters.map_encounter(ctx, composition) if consultation else None
        entries: list[str] = []
        before = len(ctx.deferred)
        for component in composition.iterfind(T.component):
            for statement in component:
                if isinstance(statement.tag, str):
                    entries += map_statement(ctx, statement)
        for linkset in ctx.deferred[before:]:
            deferred.append((linkset, ctx.encounter, entries if consultation else None))
        if consultation and ctx.encounter:
            lists.append((composition, ctx.encounter, entries))
        else:
            ctx.account(composition, entries[0] if entries else ctx.patient)
    ctx.encounter = None
    ctx.security = []
    ctx.recorded = None
    for linkset, encounter, listed in deferred:
        url = problems.map_problem(ctx, linkset, encounter)
        if listed is not None:
            listed.append(url)
    for composition, encounter, entries in lists:
        encounters.map_consultation_list(ctx, composition, encounter, entries)
    unknown = [e for e in folder.iterfind(f"{T.component}/*") if e.tag != T.ehrComposition]
    if unknown:
        raise Gp2gpError("unexpected element in ehrFolder", path_of(unknown[0]), code="structure")
    ctx.resolve_links()
