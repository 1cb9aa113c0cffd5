"""The agent directory → Practitioner, Organization and PractitionerRole.

GP2GP names every clinician and organisation once, in ``ehrFolder/responsibleParty/
agentDirectory``; statements point at them by id. Agents are built lazily, only when something
refers to them, and are identified by the sending practice's ODS code plus the agent id (agent
ids are the sending system's, stable across that practice's extracts).
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from gpbridge.adapters.common.provenance import ODS_SYSTEM
from gpbridge.adapters.gp2gp import hl7v3
from gpbridge.adapters.gp2gp.context import AGENT_SYSTEM, Context
from gpbridge.adapters.gp2gp.hl7v3 import T


def index_agents(ctx: Context, folder: etree._Element) -> None:
    for agent in folder.iterfind(f"{T.responsibleParty}/{T.agentDirectory}/{T.part}/{T.Agent}"):
        agent_id = hl7v3.root_id(agent)
        if agent_id:
            ctx.agents[agent_id] = agent


def map_agent(ctx: Context, agent_id: str, agent: etree._Element) -> str:
    scope = f"{ctx.ods or 'unknown'}/{agent_id}"
    person = agent.find(T.agentPerson)
    org_element = agent.find(T.representedOrganization)
    if person is None:
        org_element = agent.find(T.agentOrganization)
        return _organization(ctx, org_element, scope, agent_id) if org_element is not None else _unknown(ctx, scope)
    practitioner: dict[str, Any] = {"resourceType": "Practitioner"}
    name = _name(person.find(T.name))
    if name:
        practitioner["name"] = [name]
    url = ctx.builder.create_identified(f"Practitioner|{agent_id}", practitioner, AGENT_SYSTEM, scope)
    ctx.account(agent_id, url)
    org_url = _organization(ctx, org_element, scope + "/org", agent_id + "/org") if org_element is not None else None
    role_code = agent.find(T.code)
    role_text = agent.findtext(f"{T.code}/{T.originalText}") or (role_code.get("displayName") if role_code is not None else None)
    if org_url or role_text:
        role: dict[str, Any] = {"resourceType": "PractitionerRole", "practitioner": {"reference": url}}
        if org_url:
            role["organization"] = {"reference": org_url}
        if role_text:
            role["code"] = [{"text": role_text.strip()}]
        ctx.builder.create_identified(f"PractitionerRole|{agent_id}", role, AGENT_SYSTEM, scope + "/role")
    return url


def organization_for_ods(ctx: Context, ods: str, name: str | None = None) -> str:
    key = f"Organization|ods|{ods}"
    if ctx.builder.has(key):
        return ctx.builder.ref(key)
    org: dict[str, Any] = {"resourceType": "Organization"}
    if name:
        org["name"] = name
    return ctx.builder.create_identified(key, org, ODS_SYSTEM, ods)


def _organization(ctx: Context, element: etree._Element, scope: str, key: str) -> str:
    ods = element.find(T.id)
    if ods is not None and ods.get("extension"):
        return organization_for_ods(ctx, ods.get("extension", ""), element.findtext(T.name))
    if ctx.builder.has(f"Organization|{key}"):
        return ctx.builder.ref(f"Organization|{key}")
    org: dict[str, Any] = {"resourceType": "Organization"}
    name = element.findtext(T.name)
    if name and name.strip():
        org["name"] = name.strip()
    telecoms = [_telecom(t) for t in element.iterfind(T.telecom)]
    if any(telecoms):
        org["telecom"] = [t for t in telecoms if t]
    addresses = [_address(a) for a in element.iterfind(T.addr)]
    if any(addresses):
        org["address"] = [a for a in addresses if a]
    return ctx.builder.create_identified(f"Organization|{key}", org, AGENT_SYSTEM, scope)


def _unknown(ctx: Context, scope: str) -> str:
    key = f"Organization|unknown|{scope}"
    if ctx.builder.has(key):
        return ctx.builder.ref(key)
    return ctx.builder.create_identified(key, {"resourceType": "Organization", "name": "Unknown agent"},
                                         AGENT_SYSTEM, scope)


def _name(element: etree._Element | None) -> dict[str, Any] | None:
    if element is None:
        return None
    name: dict[str, Any] = {}
    family = (element.findtext(T.family) or "").strip()
    given = [g.strip() for g in (x.text or "" for x in element.iterfind(T.given)) if g.strip()]
    prefix = [p.strip() for p in (x.text or "" for x in element.iterfind(T.prefix)) if p.strip()]
    if family:
        name["family"] = family
    if given:
        name["given"] = given
    if prefix:
        name["prefix"] = prefix
    if not name and (element.text or "").strip():
        name["text"] = (element.text or "").strip()
    return name or None


def _telecom(element: etree._Element) -> dict[str, Any] | None:
    value = (element.get("value") or "").strip()
    if not value:
        return None
    scheme, _, rest = value.partition(":")
    system = {"tel": "phone", "mailto": "email", "fax": "fax"}.get(scheme.lower())
    out: dict[str, Any] = {"system": system or "other", "value": rest if system else value}
    if element.get("use") == "WP":
        out["use"] = "work"
    return out


def _address(element: etree._Element) -> dict[str, Any] | None:
    lines = [(x.text or "").strip() for x in element.iterfind(T.streetAddressLine)]
    address: dict[str, Any] = {}
    if any(lines):
        address["line"] = [ln for ln in lines if ln]
    postcode = (element.findtext(T.postalCode) or "").strip()
    if postcode:
        address["postalCode"] = postcode
    if address and element.get("use") == "WP":
        address["use"] = "work"
    return address or None
