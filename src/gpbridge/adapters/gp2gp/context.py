"""The state one extract's translation shares: the Bundle being built, the patient, the agents,
the code mapper, and the ledger that accounts for every source statement."""

from __future__ import annotations

from typing import Any

from lxml import etree

from gpbridge.adapters.common.bundle import TransactionBuilder
from gpbridge.adapters.common.codes import CodeMapper
from gpbridge.adapters.common.concepts import build_concept
from gpbridge.adapters.common.flags import Quality
from gpbridge.adapters.gp2gp import hl7v3
from gpbridge.adapters.gp2gp.hl7v3 import T, path_of

#: Source statement ids are scoped by NHS number: the id is only meaningful inside that record.
STATEMENT_SYSTEM = "https://gpbridge.dev/Id/gp2gp-statement"
AGENT_SYSTEM = "https://gpbridge.dev/Id/gp2gp-agent"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"


class Context:
    def __init__(self, nhs_number: str, ods: str | None, mapper: CodeMapper, builder: TransactionBuilder) -> None:
        self.nhs_number = nhs_number
        self.ods = ods
        self.mapper = mapper
        self.builder = builder
        self.quality = Quality()
        self.patient = ""  # fullUrl, set once the Patient entry is built
        self.encounter: str | None = None  # fullUrl of the consultation being translated
        self.security: list[dict[str, Any]] = []  # confidentiality inherited from the composition
        # when the composition being translated was committed to the record (its author/time):
        # the record time of a statement whose own availabilityTime is unknown
        self.recorded: str | None = None
        self.agents: dict[str, etree._Element] = {}
        self.agent_refs: dict[str, str] = {}
        self.accounted: dict[str, str] = {}  # statement id -> fullUrl of the resource holding it
        self.deferred: list[etree._Element] = []  # LinkSets: mapped once every statement is
        # (resource, list field, builder key, label): references to entries that may not exist
        self.pending: list[tuple[dict[str, Any], str, str, str]] = []

    # -- resources ------------------------------------------------------------------------------

    def add(self, type_: str, element: etree._Element, resource: dict[str, Any], sid: str | None = None) -> str:
        """Create ``resource`` for the statement ``element`` (identified, conditional, accounted)."""
        sid = sid or hl7v3.root_id(element) or path_of(element)
        self.apply_security(resource, element)
        url = self.builder.create_identified(f"{type_}|{sid}", resource, STATEMENT_SYSTEM, f"{self.nhs_number}/{sid}")
        self.account(element, url)
        return url

    def account(self, element: etree._Element | str | None, url: str) -> None:
        sid = element if isinstance(element, str) or element is None else hl7v3.root_id(element)
        if sid:
            self.accounted.setdefault(sid, url)

    def link_later(self, resource: dict[str, Any], field: str, key: str, label: str) -> None:
        """Add a reference to ``key`` once translation ends, if that entry exists (else a note)."""
        self.pending.append((resource, field, key, label))

    def resolve_links(self) -> None:
        for resource, field, key, label in self.pending:
            if self.builder.has(key):
                resource.setdefault(field, []).append({"reference": self.builder.ref(key)})
            else:  # e.g. an issue whose authorisation was not part of this extract
                resource.setdefault("note", []).append({"text": f"Refers to {label}, not present in the extract"})
        self.pending.clear()

    def ref(self, url: str | None) -> dict[str, str] | None:
        return {"reference": url} if url else None

    # -- codes ----------------------------------------------------------------------------------

    def concept(self, cd: etree._Element | None, resource: dict[str, Any] | None = None,
                fallback_text: str | None = None) -> dict[str, Any] | None:
        source, original = hl7v3.codings(cd)
        concept, flag = build_concept(source, original or fallback_text, self.mapper, self.quality,
                                      lambda: path_of(cd) if cd is not None else "")
        if flag and resource is not None:
            self.quality.flag(resource, flag)
        return concept

    # -- confidentiality ------------------------------------------------------------------------

    def security_of(self, element: etree._Element) -> list[dict[str, Any]]:
        labels = []
        for cc in element.iterfind(T.confidentialityCode):
            code = cc.get("code")
            if code:
                labels.append({"system": ACT_CODE, "code": code, "display": cc.get("displayName") or code})
        return labels

    def apply_security(self, resource: dict[str, Any], element: etree._Element) -> None:
        labels = self.security + self.security_of(element)
        if labels:
            meta = resource.setdefault("meta", {})
            existing = meta.setdefault("security", [])
            for label in labels:
                if label not in existing:
                    existing.append(label)

    # -- agents ---------------------------------------------------------------------------------

    def participants(self, element: etree._Element, *type_codes: str) -> list[str]:
        """fullUrls of the agents in ``Participant`` children (only ``type_codes`` when given)."""
        urls: list[str] = []
        for part in element.iterfind(T.Participant):
            if type_codes and part.get("typeCode") not in type_codes:
                continue
            agent = part.find(f"{T.agentRef}/{T.id}")
            url = self.agent(agent.get("root", "")) if agent is not None else None
            if url and url not in urls:
                urls.append(url)
        return urls

    def author(self, element: etree._Element) -> str | None:
        agent = element.find(f"{T.author}/{T.agentRef}/{T.id}")
        return self.agent(agent.get("root", "")) if agent is not None else None

    def agent(self, agent_id: str) -> str | None:
        from gpbridge.adapters.gp2gp.agents import map_agent

        if agent_id not in self.agent_refs:
            element = self.agents.get(agent_id)
            if element is None:
                return None
            self.agent_refs[agent_id] = map_agent(self, agent_id, element)
        return self.agent_refs[agent_id]
