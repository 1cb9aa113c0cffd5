"""Adapter throughput: GP2GP extract → Bundle, HL7 v2 messages translated, CSV rows.

Prints, each a median of repeated runs on this machine:
- a 1 MB GP2GP EHR Extract → FHIR Bundle, in ms (target < 200 ms); the extract is built from the
  shared UAT samples when present (their compositions repeated, ids renamed), else synthesised;
- HL7 v2 messages translated per second (target >= 2,000), with python-hl7's parse alone beside
  it — the reason the adapter has its own splitter;
- CSV rows per second: translated, and imported end to end into a temporary SQLite store.
Run: ``.venv/bin/python bench/adapters.py``.
"""

from __future__ import annotations

import copy
import sys
import tempfile
import time
import uuid
from pathlib import Path

from lxml import etree

sys.path.insert(0, str(Path(__file__).parent))
from _common import ROOT, median  # noqa: E402
from gpbridge.adapters.common.nhs_number import check_nhs_number  # noqa: E402
from gpbridge.adapters.csv import load_profile, translate_csv  # noqa: E402
from gpbridge.adapters.gp2gp import translate_gp2gp  # noqa: E402
from gpbridge.adapters.hl7v2 import translate_hl7v2  # noqa: E402

V3 = "{urn:hl7-org:v3}"
SHARED = ROOT.parent / "shared" / "data" / "gp2gp" / "uat-output"
NHS = "9434765919"


def timed(fn, repeat: int) -> list[float]:  # type: ignore[no-untyped-def]
    """Wall-clock seconds per run."""
    return [t for t, _ in timed_both(fn, repeat)]


def timed_both(fn, repeat: int) -> list[tuple[float, float]]:  # type: ignore[no-untyped-def]
    """(wall, CPU) seconds per run: on a shared machine the CPU time is the steadier figure."""
    out = []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        out.append((time.perf_counter() - wall, time.process_time() - cpu))
    return out


# -- GP2GP ------------------------------------------------------------------------------------------


def one_megabyte_extract() -> bytes:
    files = sorted(SHARED.glob("TC4/*.xml"))
    if not files:
        return synthetic_extract()
    base = etree.fromstring(files[0].read_bytes().replace(b'extension="1234567890"', f'extension="{NHS}"'.encode()))
    folder = base.find(f".//{V3}ehrFolder")
    donors = [etree.fromstring(f.read_bytes()) for f in files[1:]]
    round_ = 0
    while len(etree.tostring(base)) < 1_000_000:
        round_ += 1
        for number, donor in enumerate(donors):
            for component in donor.find(f".//{V3}ehrFolder").iterfind(f"{V3}component"):
                if component.find(f"{V3}ehrComposition") is None:
                    continue
                clone = copy.deepcopy(component)
                for ident in clone.iter(f"{V3}id"):  # fresh ids, consistently renamed within a round
                    root = ident.get("root", "")
                    if len(root) == 36:
                        ident.set("root", str(uuid.uuid5(uuid.NAMESPACE_OID, f"{round_}/{number}/{root}")).upper())
                folder.append(clone)
                if len(etree.tostring(base)) >= 1_000_000:
                    break
    return etree.tostring(base, xml_declaration=True, encoding="UTF-8")


def synthetic_extract() -> bytes:
    statements = []
    for i in range(2400):
        statements.append(f"""<component typeCode="COMP"><ObservationStatement classCode="OBS" moodCode="EVN">
          <id root="{uuid.UUID(int=i)}"/><code code="271649006" codeSystem="2.16.840.1.113883.2.1.3.2.4.15"
          displayName="Systolic blood pressure"/><statusCode code="COMPLETE"/><effectiveTime><center value="20230615"/>
          </effectiveTime><availabilityTime value="20230615"/><value xsi:type="PQ" value="{100 + i % 60}" unit="mm[Hg]"/>
          </ObservationStatement></component>""")
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<RCMR_IN030000UK06 xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<id root="AAAAAAAA-0000-0000-0000-000000000001"/><interactionId root="2.16.840.1.113883.2.1.3.2.4.12"
extension="RCMR_IN030000UK06"/><ControlActEvent classCode="CACT" moodCode="EVN"><subject typeCode="SUBJ">
<EhrExtract classCode="EXTRACT" moodCode="EVN"><id root="BBBBBBBB-0000-0000-0000-000000000001"/>
<recordTarget typeCode="RCT"><patient classCode="PAT"><id root="2.16.840.1.113883.2.1.4.1" extension="{NHS}"/>
</patient></recordTarget><component typeCode="COMP"><ehrFolder classCode="FOLDER" moodCode="EVN">
<id root="CCCCCCCC-0000-0000-0000-000000000001"/><component typeCode="COMP"><ehrComposition classCode="COMPOSITION"
moodCode="EVN"><id root="DDDDDDDD-0000-0000-0000-000000000001"/><statusCode code="COMPLETE"/>
<availabilityTime value="20230615"/>{"".join(statements)}</ehrComposition></component></ehrFolder></component>
</EhrExtract></subject></ControlActEvent></RCMR_IN030000UK06>""".encode()


def bench_gp2gp() -> None:
    raw = one_megabyte_extract()
    translate_gp2gp(raw)  # warm caches as a running server would have them
    runs = timed_both(lambda: translate_gp2gp(raw).builder.bundle(), 15)
    wall, cpu = [w for w, _ in runs], [c for _, c in runs]
    entries = len(translate_gp2gp(raw).builder.entries)
    source = "UAT samples" if SHARED.exists() else "synthetic"
    print(f"GP2GP   {len(raw) / 1e6:.2f} MB extract ({source}) -> Bundle of {entries} entries: median "
          f"{median(wall) * 1000:.0f} ms wall / {median(cpu) * 1000:.0f} ms CPU, best {min(wall) * 1000:.0f} ms "
          f"(target < 200 ms)")


# -- HL7 v2 -----------------------------------------------------------------------------------------


def nhs_number(i: int) -> str:
    base = 900_000_000 + i * 2
    while True:
        stem = str(base)
        check = (11 - sum(int(d) * w for d, w in zip(stem, range(10, 1, -1), strict=True)) % 11) % 11
        if check != 10:
            return check_nhs_number(stem + str(check))
        base += 1


def hl7_messages(n: int) -> list[bytes]:
    out = []
    for i in range(n):
        nhs = nhs_number(i % 500)
        head = f"MSH|^~\\&|PAS|RBH|GPBRIDGE|GPB|20240101120000||{{}}|C{i}|P|2.4\r"
        pid = (f"PID|1||{nhs}^^^NHS^NH~M{i}^^^RBH^MR||SMITH^JOHN^A^^MR^^L||19800101|M|||1 HIGH ST^^LEEDS^^LS1 1AA"
               f"||01131234567\r")
        if i % 3 == 2:
            body = head.format("ORU^R01^ORU_R01").replace("|2.4", "|2.5.1") + pid + \
                f"OBR|1|P{i}|F{i}^LAB|U&E^Urea and electrolytes^L|||20240103090000|||||||||||||||20240103150000|||F\r"
            for k, (code, value, rng) in enumerate((("2823-3^Potassium^LN", "4.1", "3.5-5.3"),
                                                    ("2951-2^Sodium^LN", "140", "133-146"),
                                                    ("3094-0^Urea^LN", "5.5", "2.5-7.8")), start=1):
                body += f"OBX|{k}|NM|{code}||{value}|mmol/L^mmol/L^UCUM|{rng}|N|||F\r"
        else:
            event = "A01" if i % 3 == 0 else "A08"
            body = head.format(f"ADT^{event}") + f"EVN|{event}|20240101120000\r" + pid + \
                "PV1|1|I|WARD1^BED2^^RBH||||C1234^JONES^ANNE^^^DR|||MED|||||||||V" + str(i) + "\r"
        out.append(body.encode())
    return out


def bench_hl7v2() -> None:
    import hl7

    messages = hl7_messages(3000)
    for m in messages[:50]:
        translate_hl7v2(m)
    runs = timed_both(lambda: [translate_hl7v2(m) for m in messages], 5)
    wall = len(messages) / median([w for w, _ in runs])
    cpu = len(messages) / median([c for _, c in runs])
    texts = [m.decode() for m in messages]
    parse_runs = timed_both(lambda: [hl7.parse(t) for t in texts], 3)
    parse_cpu = len(texts) / median([c for _, c in parse_runs])
    print(f"HL7 v2  {wall:,.0f} messages/s translated wall, {cpu:,.0f}/s per CPU (ADT A01/A08 + ORU^R01, parse + "
          f"map, target >= 2,000); python-hl7 parse alone: {parse_cpu:,.0f}/s per CPU")


# -- CSV --------------------------------------------------------------------------------------------


def journal_csv(rows: int) -> bytes:
    lines = ["PatientGuid,NHSNumber,Surname,Forenames,DateOfBirth,Sex,EntryGuid,Category,EffectiveDate,EnteredDate,"
             "ReadCode,Rubric,Value,Unit,ProblemStatus,Comment"]
    codes = [("22K..00", "Body Mass Index", "27.1", "kg/m2"), ("246A.00", "O/E - Diastolic BP reading", "82", "mmHg"),
             ("44P..00", "Serum cholesterol", "5.2", "mmol/L"), ("137R.00", "Current smoker", "", "")]
    for i in range(rows):
        code, rubric, value, unit = codes[i % len(codes)]
        nhs = nhs_number(i // 20)
        lines.append(f"G{i // 20},{nhs},JONES,Mary,14/02/1961,F,E-{i},Observation,12/01/2024,12/01/2024,"
                     f"{code},{rubric},{value},{unit},,")
    return ("\n".join(lines) + "\n").encode()


def bench_csv() -> None:
    from gpbridge.adapters.csv import import_csv
    from gpbridge.config import Settings
    from gpbridge.store.sqlite import SQLiteStore

    profile = load_profile("readv2-journal")
    rows = 20_000
    raw = journal_csv(rows)
    runs = [c for _, c in timed_both(lambda: translate_csv(raw, profile), 3)]
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database=f"sqlite:///{tmp}/bench.db")
        store = SQLiteStore(f"{tmp}/bench.db", settings)
        start = time.perf_counter()
        result = import_csv(store, settings, raw, profile=profile)
        elapsed = time.perf_counter() - start
        store.close()
    print(f"CSV     {rows / median(runs):,.0f} rows/s translated per CPU; {rows / elapsed:,.0f} rows/s imported end to end "
          f"into SQLite ({result.status}, {sum(result.created.values()):,} resources, one transaction)")


if __name__ == "__main__":
    import os

    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (wall figures suffer when it is high)")
    bench_gp2gp()
    bench_hl7v2()
    bench_csv()
