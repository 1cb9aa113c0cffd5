"""Small, hand-written GP2GP EHR Extracts for focused tests (the UAT pairs cover breadth)."""

from __future__ import annotations

from pathlib import Path

NHS_NUMBER = "9434765919"
AGENT = "11111111-2222-3333-4444-555555555555"

ENVELOPE = """<?xml version="1.0" encoding="UTF-8"?>
<RCMR_IN030000UK06 xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <id root="{message_id}"/>
  <creationTime value="20240101120000"/>
  <interactionId root="2.16.840.1.113883.2.1.3.2.4.12" extension="{interaction}"/>
  <communicationFunctionSnd typeCode="SND"><device classCode="DEV" determinerCode="INSTANCE">
    <id root="1.2.826.0.1285.0.2.0.107" extension="200000000123"/></device></communicationFunctionSnd>
  <ControlActEvent classCode="CACT" moodCode="EVN">
    <subject typeCode="SUBJ">
      <EhrExtract classCode="EXTRACT" moodCode="EVN">
        <id root="{extract_id}"/>
        <recordTarget typeCode="RCT"><patient classCode="PAT">
          <id root="2.16.840.1.113883.2.1.4.1" extension="{nhs}"/></patient></recordTarget>
        <author typeCode="AUT"><time value="20240101"/><AgentOrgSDS classCode="AGNT">
          <agentOrganizationSDS classCode="ORG" determinerCode="INSTANCE">
            <id root="1.2.826.0.1285.0.1.10" extension="A82038"/></agentOrganizationSDS></AgentOrgSDS></author>
        <component typeCode="COMP">
          <ehrFolder classCode="FOLDER" moodCode="EVN">
            <id root="22222222-0000-0000-0000-000000000001"/>
            <responsibleParty typeCode="RESP"><agentDirectory classCode="AGNT">
              <part typeCode="PART"><Agent classCode="AGNT"><id root="{agent}"/>
                <code nullFlavor="UNK"><originalText>General Medical Practitioner</originalText></code>
                <agentPerson classCode="PSN" determinerCode="INSTANCE"><name><prefix>Dr</prefix>
                  <given>Ada</given><family>Lovelace</family></name></agentPerson>
                <representedOrganization classCode="ORG" determinerCode="INSTANCE"><name>Test Surgery</name>
                </representedOrganization></Agent></part>
            </agentDirectory></responsibleParty>
            <component typeCode="COMP">
              <ehrComposition classCode="COMPOSITION" moodCode="EVN">
                <id root="33333333-0000-0000-0000-000000000001"/>
                <code code="24561000000109" codeSystem="2.16.840.1.113883.2.1.3.2.4.15" displayName="Surgery consultation"/>
                {composition_confidentiality}
                <statusCode code="COMPLETE"/>
                <effectiveTime><center value="20230615093000"/></effectiveTime>
                <availabilityTime value="20230615093000"/>
                <author typeCode="AUT"><time value="20230615"/><agentRef classCode="AGNT"><id root="{agent}"/></agentRef></author>
                {statements}
              </ehrComposition>
            </component>
          </ehrFolder>
        </component>
      </EhrExtract>
    </subject>
  </ControlActEvent>
</RCMR_IN030000UK06>
"""


def extract(
    *statements: str,
    nhs: str = NHS_NUMBER,
    interaction: str = "RCMR_IN030000UK06",
    message_id: str = "AAAAAAAA-0000-0000-0000-000000000001",
    extract_id: str = "BBBBBBBB-0000-0000-0000-000000000001",
    composition_confidentiality: str = "",
) -> bytes:
    body = "".join(f'<component typeCode="COMP">{s}</component>' for s in statements)
    return ENVELOPE.format(
        message_id=message_id, extract_id=extract_id, nhs=nhs, interaction=interaction, agent=AGENT,
        statements=body, composition_confidentiality=composition_confidentiality,
    ).encode()


def observation(sid: str, code: str, system: str = "2.16.840.1.113883.2.1.3.2.4.15", display: str = "",
                when: str = "20230615", extra: str = "") -> str:
    return f"""<ObservationStatement classCode="OBS" moodCode="EVN"><id root="{sid}"/>
      <code code="{code}" codeSystem="{system}" displayName="{display}"/>
      <statusCode code="COMPLETE"/><effectiveTime><center value="{when}"/></effectiveTime>
      <availabilityTime value="{when}"/>{extra}
      <Participant typeCode="PRF"><agentRef classCode="AGNT"><id root="{AGENT}"/></agentRef></Participant>
    </ObservationStatement>"""


def narrative(sid: str, text: str, when: str = "20230615") -> str:
    return f"""<NarrativeStatement classCode="OBS" moodCode="EVN"><id root="{sid}"/><text>{text}</text>
      <statusCode code="COMPLETE"/><availabilityTime value="{when}"/></NarrativeStatement>"""


def medication(sid: str, authorise: str, prescribe: str, code: str = "322236009",
               display: str = "Paracetamol 500mg tablets") -> str:
    return f"""<MedicationStatement classCode="SBADM" moodCode="INT"><id root="{sid}"/>
      <statusCode code="ACTIVE"/><effectiveTime><low value="20230601"/></effectiveTime>
      <availabilityTime value="20230601"/>
      <consumable typeCode="CSM"><manufacturedProduct classCode="MANU">
        <manufacturedMaterial determinerCode="KIND" classCode="MMAT">
          <code code="{code}" codeSystem="2.16.840.1.113883.2.1.3.2.4.15" displayName="{display}"/>
        </manufacturedMaterial></manufacturedProduct></consumable>
      <component typeCode="COMP"><ehrSupplyAuthorise classCode="SPLY" moodCode="INT"><id root="{authorise}"/>
        <statusCode code="ACTIVE"/><effectiveTime><low value="20230601"/></effectiveTime>
        <availabilityTime value="20230601"/><repeatNumber value="6"/>
        <quantity value="100" unit="1"><translation value="100"><originalText>tablet</originalText></translation></quantity>
        <pertinentInformation typeCode="PERT"><pertinentSupplyAnnotation><text>Expected Supply Duration: 28 day</text></pertinentSupplyAnnotation></pertinentInformation>
      </ehrSupplyAuthorise></component>
      <pertinentInformation typeCode="PERT"><pertinentMedicationDosage classCode="SBADM" moodCode="RMD">
        <text>Two tablets four times a day</text></pertinentMedicationDosage></pertinentInformation>
    </MedicationStatement>
    <MedicationStatement classCode="SBADM" moodCode="ORD"><id root="{sid}-ISSUE"/>
      <statusCode code="COMPLETE"/><effectiveTime><low value="20230601"/><high value="20230629"/></effectiveTime>
      <availabilityTime value="20230601"/>
      <consumable typeCode="CSM"><manufacturedProduct classCode="MANU">
        <manufacturedMaterial determinerCode="KIND" classCode="MMAT">
          <code code="{code}" codeSystem="2.16.840.1.113883.2.1.3.2.4.15" displayName="{display}"/>
        </manufacturedMaterial></manufacturedProduct></consumable>
      <component typeCode="COMP"><ehrSupplyPrescribe classCode="SPLY" moodCode="RQO"><id root="{prescribe}"/>
        <statusCode code="COMPLETE"/><availabilityTime value="20230601"/>
        <quantity value="100" unit="1"><translation value="100"><originalText>tablet</originalText></translation></quantity>
        <inFulfillmentOf typeCode="FLFS"><priorMedicationRef moodCode="INT"><id root="{authorise}"/></priorMedicationRef></inFulfillmentOf>
      </ehrSupplyPrescribe></component>
      <pertinentInformation typeCode="PERT"><pertinentMedicationDosage classCode="SBADM" moodCode="RMD">
        <text>Two tablets four times a day</text></pertinentMedicationDosage></pertinentInformation>
    </MedicationStatement>"""


def uat_extract(path: Path) -> bytes:
    """A UAT extract with the NHS number of its file name.

    The adaptor's UAT output carries the placeholder 1234567890 (which fails the NHS number
    check digit, so the importer rightly refuses it); the file name holds the real test number.
    """
    nhs = path.name.split("_", 1)[0]
    return path.read_bytes().replace(b'extension="1234567890"', f'extension="{nhs}"'.encode())


def report_comment(sid: str, body: str, kind: str = "AGGREGATE COMMENT SET", when: str = "20100225154100") -> str:
    """A pathology NarrativeStatement in the sender's ``CommentType/CommentDate`` layout."""
    return f"""<component typeCode="COMP"><NarrativeStatement classCode="OBS" moodCode="EVN"><id root="{sid}"/>
      <text mediaType="text/x-h7uk-pmip">CommentType:{kind}
CommentDate:{when}

{body}</text><statusCode code="COMPLETE"/><availabilityTime value="{when}"/></NarrativeStatement></component>"""


def lab_result(sid: str, code: str, term: str, value: str = "", when: str = "20100223") -> str:
    """A result ObservationStatement; ``term`` goes to originalText (how degraded codes are told apart)."""
    quantity = f'<value xsi:type="PQ" value="{value}" unit="1"/>' if value else ""
    return f"""<component typeCode="COMP"><ObservationStatement classCode="OBS" moodCode="EVN"><id root="{sid}"/>
      <code code="{code}" codeSystem="2.16.840.1.113883.2.1.3.2.4.15"><originalText>{term}</originalText></code>
      <statusCode code="COMPLETE"/><effectiveTime><center value="{when}"/></effectiveTime>
      <availabilityTime value="{when}"/>{quantity}</ObservationStatement></component>"""


def lab_report(sid: str, *parts: str, issued: str = "20100225154100", specimen: str = "", lab_id: str = "") -> str:
    """A "laboratory reporting" CompoundStatement: report-level ``parts`` then one specimen
    cluster holding ``specimen`` (results, groups, comments); ``lab_id`` is the lab's report number."""
    number = f'<id root="2.16.840.1.113883.2.1.4.5.5" extension="{lab_id}"/>' if lab_id else ""
    return f"""<CompoundStatement classCode="CLUSTER" moodCode="EVN"><id root="{sid}"/>{number}
      <code code="16488004" codeSystem="2.16.840.1.113883.2.1.3.2.4.15" displayName="laboratory reporting"/>
      <statusCode code="COMPLETE"/><effectiveTime><center nullFlavor="NI"/></effectiveTime>
      <availabilityTime value="{issued}"/>{"".join(parts)}
      <component typeCode="COMP"><CompoundStatement classCode="CLUSTER" moodCode="EVN"><id root="{sid}-SPEC"/>
        <code code="123038009" codeSystem="2.16.840.1.113883.2.1.3.2.4.15" displayName="specimen (specimen)"/>
        <statusCode code="COMPLETE"/><effectiveTime><center nullFlavor="NI"/></effectiveTime>
        <availabilityTime value="{issued}"/>
        <specimen typeCode="SPC"><specimenRole classCode="SPEC"><id root="{sid}-ROLE"/>
          <effectiveTime><center value="20100223"/></effectiveTime>
          <specimenSpecimenMaterial determinerCode="INSTANCE" classCode="MAT"><desc>VENOUS BLOOD</desc>
          </specimenSpecimenMaterial></specimenRole></specimen>{specimen}
      </CompoundStatement></component>
    </CompoundStatement>"""
