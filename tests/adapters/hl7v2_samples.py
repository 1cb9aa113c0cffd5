"""HL7 v2 messages for the tests and the benchmark, built field by field (no counting pipes)."""

from __future__ import annotations

NHS_NUMBER = "9434765919"


def segment(name: str, fields: dict[int, str]) -> str:
    """``segment("PV1", {2: "I", 19: "V1"})`` → ``PV1||I|...|V1``."""
    top = max(fields) if fields else 0
    return "|".join([name] + [fields.get(i, "") for i in range(1, top + 1)])


def msh(event: str, control_id: str, version: str = "2.4", structure: str = "", charset: str = "") -> str:
    kind, _, trigger = event.partition("^")
    fields = {2: "^~\\&", 3: "PAS", 4: "RBH", 5: "GPBRIDGE", 6: "GPB", 7: "20240101120000",
              9: f"{kind}^{trigger}" + (f"^{structure}" if structure else ""), 10: control_id, 11: "P", 12: version}
    if charset:
        fields[18] = charset
    # MSH-1 is the separator itself: segment() would put an extra field in
    top = max(fields)
    return "MSH|" + "|".join(fields.get(i, "") for i in range(2, top + 1))


def pid(nhs: str = NHS_NUMBER, mrn: str = "12345", family: str = "SMITH", given: str = "JOHN",
        birth: str = "19800101", sex: str = "M") -> str:
    ids = f"{nhs}^^^NHS^NH~{mrn}^^^RBH^MR" if nhs else f"{mrn}^^^RBH^MR"
    return segment("PID", {1: "1", 3: ids, 5: f"{family}^{given}^A^^MR^^L", 7: birth, 8: sex,
                           11: "1 HIGH ST^^LEEDS^^LS1 1AA^GBR^H", 13: "01131234567^PRN^PH"})


def pv1(visit: str = "V123456", patient_class: str = "I", admitted: str = "20240101110000",
        discharged: str = "") -> str:
    fields = {1: "1", 2: patient_class, 3: "WARD1^BED2^^RBH", 7: "C1234^JONES^ANNE^^^DR", 10: "MED", 19: visit,
              44: admitted}
    if discharged:
        fields[45] = discharged
    return segment("PV1", fields)


def adt(event: str, control_id: str = "MSG00001", *, version: str = "2.4", extra: tuple[str, ...] = (),
        **pid_fields: str) -> bytes:
    parts = [msh(f"ADT^{event}", control_id, version), segment("EVN", {1: event, 2: "20240101120000"}),
             pid(**pid_fields)]
    if event in ("A01", "A03", "A04", "A08"):
        parts.append(pv1(discharged="20240105100000" if event == "A03" else ""))
    parts.extend(extra)
    return ("\r".join(parts) + "\r").encode()


def merge(survivor_nhs: str, old_mrn: str, control_id: str = "MRG001") -> bytes:
    parts = [msh("ADT^A40", control_id), segment("EVN", {1: "A40", 2: "20240102120000"}),
             pid(nhs=survivor_nhs), segment("MRG", {1: f"{old_mrn}^^^RBH^MR"})]
    return ("\r".join(parts) + "\r").encode()


def oru(control_id: str = "LAB0001", *, filler: str = "R123", version: str = "2.5.1", nhs: str = NHS_NUMBER,
        results: tuple[tuple[str, ...], ...] | None = None, extra: tuple[str, ...] = ()) -> bytes:
    rows = results or (
        ("NM", "2823-3^Potassium^LN", "5.9", "mmol/L^mmol/L^UCUM", "3.5-5.3", "H", "F"),
        ("NM", "2951-2^Sodium^LN", "140", "mmol/L^mmol/L^UCUM", "133-146", "N", "F"),
        ("ST", "XYZ^Lab comment^L", "Haemolysed sample", "", "", "", "F"),
    )
    parts = [msh("ORU^R01", control_id, version, structure="ORU_R01"), pid(nhs=nhs),
             segment("OBR", {1: "1", 2: "P555", 3: f"{filler}^LAB", 4: "U&E^Urea and electrolytes^L",
                             7: "20240103090000", 22: "20240103150000", 25: "F"}),
             segment("NTE", {1: "1", 3: "Report comment"})]
    for i, (kind, code, value, units, ranges, flag, status) in enumerate(rows, start=1):
        parts.append(segment("OBX", {1: str(i), 2: kind, 3: code, 5: value, 6: units, 7: ranges, 8: flag,
                                     11: status}))
    parts.extend(extra)
    return ("\r".join(parts) + "\r").encode()
