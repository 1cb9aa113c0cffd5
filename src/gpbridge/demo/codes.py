"""Code tables for the synthetic GP population: SNOMED CT, dm+d and UCUM, with display terms.

Every SNOMED CT / dm+d identifier here was checked against real records or published definitions
before use: the GP2GP and GP Connect samples and UK Core packages in ../shared/data (ids seen in
real GP extracts), UK Core value sets (encounter types, blood pressure components, immunisation
reasons), or public value sets and code lists. Where no verified code was found for a drug or
vaccine, it is left out rather than guessed: sertraline, a DOAC for atrial fibrillation, trimethoprim
and nitrofurantoin for UTIs, MenB vaccine, and thigh injection sites.
tests/demo/test_codes.py checks every id's Verhoeff check digit and partition, catching typos.

HbA1c uses 999791000000106 "Haemoglobin A1c level - IFCC standardised" (mmol/mol), the primary
code of the QOF IFCCHBAM_COD cluster; 1049301000000100 is its "diagnostic reference range" sibling.
"""

from __future__ import annotations

from typing import NamedTuple

SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"


class Concept(NamedTuple):
    code: str
    display: str


# Age bands used by every prevalence table: [0-4], [5-17], [18-39], [40-59], [60-74], [75+].
AGE_BANDS = (0, 5, 18, 40, 60, 75)


def band_index(age: float) -> int:
    for i in range(len(AGE_BANDS) - 1, -1, -1):
        if age >= AGE_BANDS[i]:
            return i
    return 0


# ------------------------------------------------------------------------------------ encounters

SEEN_IN_SURGERY = Concept("185202000", "Seen in GP's surgery")
TELEPHONE_CONSULTATION = Concept("386472008", "Telephone consultation")
SEEN_AT_HOME = Concept("270420001", "Seen in own home")
VIDEO_CONSULTATION = Concept("307321000000107", "Video-link encounter")
ASTHMA_CLINIC = Concept("185242005", "Seen in asthma clinic")
COPD_CLINIC = Concept("857661000000104", "Seen in chronic obstructive pulmonary disease clinic")
DIABETIC_CLINIC = Concept("185229005", "Seen in diabetic clinic")
HYPERTENSION_CLINIC = Concept("185264001", "Seen in hypertension clinic")
BABY_CLINIC = Concept("313103006", "Seen in baby clinic")
WELL_CHILD_CLINIC = Concept("185186007", "Seen in well child clinic")
WELL_PERSON_CLINIC = Concept("185185006", "Seen in well person clinic")
NURSE_CLINIC = Concept("314803001", "Seen in open access nurse clinic")

# ------------------------------------------------------------------------------------ conditions


class ChronicCondition(NamedTuple):
    key: str
    concept: Concept
    prevalence: tuple[float, float, float, float, float, float]  # per AGE_BANDS
    min_onset_age: int
    female_factor: float  # relative risk for women (1.0 = same; 0 = men only)
    medications: tuple[tuple[str, float], ...]  # (drug key, probability it is authorised)
    resolves: float  # chance the problem is now resolved / in remission
    monitoring: tuple[str, ...]  # what a review measures: vital keys and panel keys
    clinic: Concept  # the encounter type of a review


CHRONIC_CONDITIONS: tuple[ChronicCondition, ...] = (
    ChronicCondition(
        "hypertension",
        Concept("38341003", "Hypertensive disorder"),
        (0, 0, 0.02, 0.14, 0.38, 0.58),
        25,
        0.9,
        (("ramipril", 0.55), ("amlodipine", 0.5), ("bendroflumethiazide", 0.15)),
        0.0,
        ("bp", "weight", "ue"),
        HYPERTENSION_CLINIC,
    ),
    ChronicCondition(
        "t2dm",
        Concept("44054006", "Diabetes mellitus type 2"),
        (0, 0, 0.01, 0.07, 0.16, 0.2),
        30,
        0.8,
        (("metformin", 0.9), ("gliclazide", 0.3), ("atorvastatin", 0.7)),
        0.0,
        ("bp", "weight", "hba1c", "ue", "lipids"),
        DIABETIC_CLINIC,
    ),
    ChronicCondition(
        "t1dm",
        Concept("46635009", "Diabetes mellitus type 1"),
        (0.001, 0.003, 0.005, 0.005, 0.004, 0.003),
        1,
        1.0,
        (("insulin_glargine", 1.0),),
        0.0,
        ("bp", "weight", "hba1c", "ue"),
        DIABETIC_CLINIC,
    ),
    ChronicCondition(
        "asthma",
        Concept("195967001", "Asthma"),
        (0.01, 0.09, 0.07, 0.065, 0.065, 0.06),
        2,
        1.1,
        (("salbutamol", 1.0), ("beclometasone", 0.7)),
        0.2,
        ("smoking", "weight"),
        ASTHMA_CLINIC,
    ),
    ChronicCondition(
        "copd",
        Concept("13645005", "Chronic obstructive lung disease"),
        (0, 0, 0, 0.02, 0.06, 0.08),
        40,
        0.9,
        (("salbutamol", 1.0), ("beclometasone", 0.6)),
        0.0,
        ("smoking", "weight", "pulse"),
        COPD_CLINIC,
    ),
    ChronicCondition(
        "depression",
        Concept("35489007", "Depressive disorder"),
        (0, 0.01, 0.14, 0.15, 0.11, 0.09),
        14,
        1.7,
        (("citalopram", 0.5), ("fluoxetine", 0.3)),
        0.45,
        ("weight",),
        SEEN_IN_SURGERY,
    ),
    ChronicCondition(
        "anxiety",
        Concept("197480006", "Anxiety disorder"),
        (0, 0.01, 0.07, 0.07, 0.05, 0.04),
        12,
        1.6,
        (("propranolol", 0.3),),
        0.4,
        ("pulse",),
        SEEN_IN_SURGERY,
    ),
    ChronicCondition(
        "af",
        Concept("49436004", "Atrial fibrillation"),
        (0, 0, 0.001, 0.01, 0.04, 0.11),
        45,
        0.8,
        (("digoxin", 0.5),),
        0.0,
        ("pulse", "bp", "ue"),
        SEEN_IN_SURGERY,
    ),
    ChronicCondition(
        "chd",
        Concept("53741008", "Coronary arteriosclerosis"),
        (0, 0, 0.001, 0.025, 0.08, 0.15),
        40,
        0.55,
        (
            ("aspirin", 0.8),
            ("atorvastatin", 0.6),
            ("simvastatin", 0.3),
            ("clopidogrel", 0.2),
            ("ramipril", 0.4),
        ),
        0.0,
        ("bp", "pulse", "lipids"),
        SEEN_IN_SURGERY,
    ),
    ChronicCondition(
        "mi",
        Concept("22298006", "Myocardial infarction"),
        (0, 0, 0.001, 0.01, 0.035, 0.06),
        40,
        0.45,
        (("aspirin", 0.9), ("atorvastatin", 0.8), ("clopidogrel", 0.3)),
        1.0,
        ("bp", "pulse", "lipids"),
        SEEN_IN_SURGERY,
    ),
    ChronicCondition(
        "heart_failure",
        Concept("84114007", "Heart failure"),
        (0, 0, 0, 0.004, 0.015, 0.05),
        50,
        0.8,
        (("furosemide", 0.9), ("ramipril", 0.6)),
        0.0,
        ("bp", "weight", "pulse", "ue"),
        SEEN_IN_SURGERY,
    ),
    ChronicCondition(
        "stroke",
        Concept("230690007", "Cerebrovascular accident"),
        (0, 0, 0.001, 0.007, 0.025, 0.06),
        40,
        0.9,
        (("clopidogrel", 0.8), ("atorvastatin", 0.7)),
        1.0,
        ("bp", "lipids"),
        SEEN_IN_SURGERY,
    ),
    ChronicCondition(
        "ckd",
        Concept("709044004", "Chronic kidney disease"),
        (0, 0, 0.002, 0.02, 0.08, 0.2),
        40,
        1.2,
        (),
        0.0,
        ("bp", "ue"),
        SEEN_IN_SURGERY,
    ),
    ChronicCondition(
        "hyperlipidaemia",
        Concept("55822004", "Hyperlipidaemia"),
        (0, 0, 0.005, 0.07, 0.12, 0.1),
        30,
        0.9,
        (("simvastatin", 0.5), ("atorvastatin", 0.4)),
        0.0,
        ("lipids",),
        SEEN_IN_SURGERY,
    ),
    ChronicCondition(
        "hypothyroidism",
        Concept("40930008", "Hypothyroidism"),
        (0, 0.002, 0.01, 0.035, 0.06, 0.08),
        10,
        3.0,
        (("levothyroxine", 1.0),),
        0.0,
        ("tsh", "weight"),
        SEEN_IN_SURGERY,
    ),
    ChronicCondition(
        "ra",
        Concept("69896004", "Rheumatoid arthritis"),
        (0, 0, 0.003, 0.01, 0.015, 0.015),
        20,
        2.5,
        (("folic_acid", 0.7), ("prednisolone", 0.25)),
        0.0,
        ("fbc",),
        SEEN_IN_SURGERY,
    ),
    ChronicCondition(
        "osteoarthritis",
        Concept("396275006", "Osteoarthritis"),
        (0, 0, 0.005, 0.08, 0.2, 0.32),
        35,
        1.3,
        (("paracetamol", 0.6), ("co_codamol", 0.3), ("ibuprofen", 0.15)),
        0.0,
        ("weight",),
        SEEN_IN_SURGERY,
    ),
    ChronicCondition(
        "gord",
        Concept("235595009", "Gastro-oesophageal reflux disease"),
        (0, 0.005, 0.04, 0.07, 0.08, 0.08),
        12,
        1.0,
        (("omeprazole", 0.9),),
        0.2,
        ("weight",),
        SEEN_IN_SURGERY,
    ),
    ChronicCondition(
        "obesity",
        Concept("414916001", "Obesity"),
        (0, 0.04, 0.08, 0.12, 0.12, 0.07),
        8,
        1.0,
        (),
        0.0,
        ("weight", "bp"),
        WELL_PERSON_CLINIC,
    ),
    ChronicCondition(
        "epilepsy",
        Concept("84757009", "Epilepsy"),
        (0.002, 0.006, 0.008, 0.009, 0.009, 0.009),
        1,
        1.0,
        (),
        0.1,
        ("weight",),
        SEEN_IN_SURGERY,
    ),
    ChronicCondition(
        "dementia",
        Concept("52448006", "Dementia"),
        (0, 0, 0, 0.001, 0.01, 0.07),
        55,
        1.4,
        (),
        0.0,
        ("weight", "bp"),
        SEEN_AT_HOME,
    ),
    ChronicCondition(
        "eczema",
        Concept("24079001", "Atopic dermatitis"),
        (0.12, 0.1, 0.04, 0.03, 0.02, 0.02),
        0,
        1.1,
        (("e45", 0.8),),
        0.5,
        (),
        SEEN_IN_SURGERY,
    ),
    ChronicCondition(
        "hay_fever",
        Concept("61582004", "Allergic rhinitis"),
        (0, 0.08, 0.12, 0.09, 0.05, 0.03),
        5,
        1.0,
        (("cetirizine", 0.7),),
        0.1,
        (),
        SEEN_IN_SURGERY,
    ),
    ChronicCondition(
        "gout",
        Concept("90560007", "Gout"),
        (0, 0, 0.005, 0.03, 0.05, 0.06),
        25,
        0.3,
        (("allopurinol", 0.7),),
        0.0,
        ("ue",),
        SEEN_IN_SURGERY,
    ),
)
CONDITIONS_BY_KEY = {c.key: c for c in CHRONIC_CONDITIONS}

# Events recorded as resolved problems whose secondary-prevention medicines continue for life.
TREATED_AFTER_RESOLUTION = ("mi", "stroke")

# Chronic problems that make a patient eligible for the annual flu vaccine under 65.
FLU_AT_RISK = ("t2dm", "t1dm", "asthma", "copd", "chd", "heart_failure", "ckd", "stroke", "mi")


class AcuteProblem(NamedTuple):
    concept: Concept
    min_age: int
    max_age: int
    female_only: bool
    drugs: tuple[str, ...]  # possible acute prescriptions (first one that is safe for the patient)
    prescribe: float  # chance a prescription is issued
    weight: float  # relative frequency


ACUTE_PROBLEMS: tuple[AcuteProblem, ...] = (
    AcuteProblem(Concept("54150009", "Upper respiratory infection"), 0, 120, False, (), 0.0, 6),
    AcuteProblem(Concept("82272006", "Common cold"), 0, 120, False, (), 0.0, 3),
    AcuteProblem(Concept("49727002", "Cough"), 0, 120, False, (), 0.0, 3),
    AcuteProblem(
        Concept("50417007", "Lower respiratory tract infection"),
        16,
        120,
        False,
        ("amoxicillin", "doxycycline", "clarithromycin"),
        0.7,
        3,
    ),
    AcuteProblem(Concept("90176007", "Tonsillitis"), 3, 40, False, ("clarithromycin",), 0.3, 2),
    AcuteProblem(Concept("65363002", "Otitis media"), 0, 12, False, (), 0.0, 3),
    AcuteProblem(
        Concept("68566005", "Urinary tract infectious disease"), 16, 120, True, ("ciprofloxacin",), 0.4, 2
    ),
    AcuteProblem(Concept("9826008", "Conjunctivitis"), 0, 120, False, ("chloramphenicol_eye",), 0.6, 1.5),
    AcuteProblem(Concept("36971009", "Sinusitis"), 16, 120, False, ("amoxicillin", "doxycycline"), 0.2, 1.5),
    AcuteProblem(Concept("279039007", "Low back pain"), 18, 120, False, ("ibuprofen", "paracetamol"), 0.5, 3),
    AcuteProblem(Concept("30989003", "Knee pain"), 16, 120, False, ("ibuprofen", "paracetamol"), 0.4, 1.5),
    AcuteProblem(Concept("25064002", "Headache"), 8, 120, False, ("paracetamol",), 0.2, 1.5),
    AcuteProblem(Concept("37796009", "Migraine"), 12, 70, False, ("paracetamol",), 0.3, 1),
    AcuteProblem(Concept("21522001", "Abdominal pain"), 0, 120, False, (), 0.0, 1.5),
    AcuteProblem(Concept("422400008", "Vomiting"), 0, 12, False, (), 0.0, 1),
    AcuteProblem(Concept("267032009", "Tired all the time"), 18, 120, False, (), 0.0, 1),
)

# ---------------------------------------------------------------------------------- observations


class Measure(NamedTuple):
    concept: Concept
    unit: str  # UCUM code
    unit_display: str
    category: str  # observation-category code
    low: float | None  # reference range, labs only
    high: float | None
    decimals: int


VITAL_SIGNS = "vital-signs"
LABORATORY = "laboratory"
SOCIAL_HISTORY = "social-history"

BLOOD_PRESSURE = Concept("75367002", "Blood pressure")
SYSTOLIC = Concept("271649006", "Systolic blood pressure")
DIASTOLIC = Concept("271650006", "Diastolic blood pressure")
MM_HG = ("mm[Hg]", "millimeter of mercury")

MEASURES: dict[str, Measure] = {
    "weight": Measure(Concept("27113001", "Body weight"), "kg", "kg", VITAL_SIGNS, None, None, 1),
    "height": Measure(Concept("50373000", "Body height measure"), "cm", "cm", VITAL_SIGNS, None, None, 1),
    "bmi": Measure(Concept("60621009", "Body mass index"), "kg/m2", "kg/m2", VITAL_SIGNS, None, None, 1),
    # 78564009's current SNOMED preferred term is "Heart rate measured at systemic artery"; GP systems show "Pulse rate".
    "pulse": Measure(Concept("78564009", "Pulse rate"), "/min", "beats/minute", VITAL_SIGNS, None, None, 0),
    "hba1c": Measure(
        Concept(
            "999791000000106",
            "Haemoglobin A1c level - International Federation of Clinical Chemistry "
            "and Laboratory Medicine standardised",
        ),
        "mmol/mol",
        "mmol/mol",
        LABORATORY,
        20,
        41,
        0,
    ),
    "cholesterol": Measure(
        Concept("1005671000000105", "Serum cholesterol level"), "mmol/L", "mmol/L", LABORATORY, None, 5.0, 1
    ),
    "hdl": Measure(
        Concept("1005681000000107", "Serum high density lipoprotein cholesterol level"),
        "mmol/L",
        "mmol/L",
        LABORATORY,
        1.0,
        None,
        1,
    ),
    "triglycerides": Measure(
        Concept("1005691000000109", "Serum triglycerides level"), "mmol/L", "mmol/L", LABORATORY, None, 1.7, 1
    ),
    "sodium": Measure(
        Concept("1000661000000107", "Serum sodium level"), "mmol/L", "mmol/L", LABORATORY, 133, 146, 0
    ),
    "potassium": Measure(
        Concept("1000651000000109", "Serum potassium level"), "mmol/L", "mmol/L", LABORATORY, 3.5, 5.3, 1
    ),
    "urea": Measure(
        Concept("1000951000000103", "Serum urea level"), "mmol/L", "mmol/L", LABORATORY, 2.5, 7.8, 1
    ),
    "creatinine": Measure(
        Concept("1000731000000107", "Serum creatinine level"), "umol/L", "micromol/L", LABORATORY, 45, 104, 0
    ),
    "egfr": Measure(
        Concept(
            "1011481000000105",
            "eGFR (estimated glomerular filtration rate) using creatinine Chronic Kidney "
            "Disease Epidemiology Collaboration equation per 1.73 square metres",
        ),
        "mL/min/{1.73_m2}",
        "mL/min/1.73m2",
        LABORATORY,
        60,
        None,
        0,
    ),
    "haemoglobin": Measure(
        Concept("1022431000000105", "Haemoglobin estimation"), "g/L", "g/L", LABORATORY, 115, 180, 0
    ),
    "wcc": Measure(
        Concept("1022541000000102", "Total white cell count"), "10*9/L", "10*9/L", LABORATORY, 4.0, 11.0, 1
    ),
    "platelets": Measure(
        Concept("1022651000000100", "Platelet count"), "10*9/L", "10*9/L", LABORATORY, 150, 450, 0
    ),
    "tsh": Measure(
        Concept("1022791000000101", "Serum TSH (thyroid stimulating hormone) level"),
        "mU/L",
        "mU/L",
        LABORATORY,
        0.27,
        4.2,
        2,
    ),
    "cigarettes": Measure(
        Concept("230056004", "Cigarette consumption"), "/d", "cigarettes/day", SOCIAL_HISTORY, None, None, 0
    ),
}

# Labs whose normal range depends on sex: key -> {sex: (low, high)}; MEASURES holds the widest range.
SEX_SPECIFIC_RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "haemoglobin": {"male": (130, 180), "female": (115, 165)},
    "creatinine": {"male": (59, 104), "female": (45, 84)},
}

# Lab panels: the DiagnosticReport code and the results it groups.
PANELS: dict[str, tuple[Concept, tuple[str, ...]]] = {
    "ue": (
        Concept("1000971000000107", "Urea and electrolytes level"),
        ("sodium", "potassium", "urea", "creatinine", "egfr"),
    ),
    "lipids": (Concept("1005661000000103", "Serum lipids level"), ("cholesterol", "hdl", "triglycerides")),
    "fbc": (Concept("1022441000000101", "FBC - full blood count"), ("haemoglobin", "wcc", "platelets")),
}
# Single lab tests reported without a grouping report.
SINGLE_TESTS = ("hba1c", "tsh")

SMOKER = Concept("77176002", "Smoker")
EX_SMOKER = Concept("8517006", "Ex-smoker")
NEVER_SMOKED = Concept("266919005", "Never smoked tobacco")

# ----------------------------------------------------------------------------------- medications


class Drug(NamedTuple):
    concept: Concept  # dm+d VMP (or AMP where noted), SNOMED CT identifier
    dosage: str
    quantity: int
    unit: str
    supply_days: int


DRUGS: dict[str, Drug] = {
    # long-term (repeat) medicines
    "metformin": Drug(
        Concept("325278007", "Metformin 500mg tablets"), "One tablet twice a day with meals", 56, "tablet", 28
    ),
    "gliclazide": Drug(
        Concept("325242002", "Gliclazide 80mg tablets"),
        "One tablet twice a day with breakfast and evening meal",
        56,
        "tablet",
        28,
    ),
    "insulin_glargine": Drug(
        Concept(
            "38897011000001107",
            "Insulin glargine 100units/ml solution for injection 3ml pre-filled disposable devices",
        ),
        "Inject as directed once daily",
        5,
        "pre-filled disposable injection",
        56,
    ),
    "ramipril": Drug(
        Concept("318906001", "Ramipril 10mg capsules"), "One capsule once a day", 28, "capsule", 28
    ),
    "amlodipine": Drug(
        Concept("319284000", "Amlodipine 10mg tablets"), "One tablet once a day", 28, "tablet", 28
    ),
    "bendroflumethiazide": Drug(
        Concept("317919004", "Bendroflumethiazide 2.5mg tablets"), "One tablet each morning", 28, "tablet", 28
    ),
    "atorvastatin": Drug(
        Concept("320030001", "Atorvastatin 20mg tablets"), "One tablet at night", 28, "tablet", 28
    ),
    "simvastatin": Drug(
        Concept("320000009", "Simvastatin 40mg tablets"), "One tablet at night", 28, "tablet", 28
    ),
    "aspirin": Drug(
        Concept("319773006", "Aspirin 75mg dispersible tablets"), "One tablet once a day", 28, "tablet", 28
    ),
    "clopidogrel": Drug(
        Concept("319799004", "Clopidogrel 75mg tablets"), "One tablet once a day", 28, "tablet", 28
    ),
    "digoxin": Drug(
        Concept("317896006", "Digoxin 125microgram tablets"), "One tablet once a day", 28, "tablet", 28
    ),
    "furosemide": Drug(
        Concept("317972000", "Furosemide 40mg tablets"), "One tablet each morning", 28, "tablet", 28
    ),
    "salbutamol": Drug(
        Concept("39113611000001102", "Salbutamol 100micrograms/dose inhaler CFC free"),
        "Two puffs when required for breathlessness",
        1,
        "inhaler",
        30,
    ),
    "beclometasone": Drug(
        Concept("320537007", "Beclometasone 100micrograms/dose inhaler"),
        "Two puffs twice a day",
        1,
        "inhaler",
        50,
    ),
    "citalopram": Drug(
        Concept("321987003", "Citalopram 20mg tablets"), "One tablet once a day", 28, "tablet", 28
    ),
    "fluoxetine": Drug(
        Concept("321949006", "Fluoxetine 20mg capsules"), "One capsule once a day", 28, "capsule", 28
    ),
    "propranolol": Drug(
        Concept("318352004", "Propranolol 10mg tablets"),
        "One tablet up to three times a day when required",
        84,
        "tablet",
        28,
    ),
    "levothyroxine": Drug(
        Concept("374296008", "Levothyroxine sodium 100microgram tablets"),
        "One tablet each morning before breakfast",
        28,
        "tablet",
        28,
    ),
    "folic_acid": Drug(
        Concept("327550006", "Folic acid 5mg tablets"),
        "One tablet once a week, not on the methotrexate day",
        4,
        "tablet",
        28,
    ),
    "prednisolone": Drug(
        Concept("325443009", "Prednisolone 5mg gastro-resistant tablets"),
        "One tablet each morning with food",
        28,
        "tablet",
        28,
    ),
    "paracetamol": Drug(
        Concept("322236009", "Paracetamol 500mg tablets"),
        "Two tablets up to four times a day when required",
        100,
        "tablet",
        14,
    ),
    "co_codamol": Drug(
        Concept("322366004", "Co-codamol 30mg/500mg capsules"),
        "One or two capsules up to four times a day when required",
        100,
        "capsule",
        14,
    ),
    "ibuprofen": Drug(
        Concept("329652003", "Ibuprofen 200mg tablets"),
        "One or two tablets three times a day after food when required",
        84,
        "tablet",
        14,
    ),
    "omeprazole": Drug(
        Concept("317291008", "Omeprazole 20mg gastro-resistant capsules"),
        "One capsule once a day before breakfast",
        28,
        "capsule",
        28,
    ),
    "allopurinol": Drug(
        Concept("330062008", "Allopurinol 300mg tablets"), "One tablet once a day", 28, "tablet", 28
    ),
    "cetirizine": Drug(
        Concept("320818006", "Cetirizine 10mg tablets"), "One tablet once a day", 30, "tablet", 30
    ),
    # an AMP (branded product): GP records carry many; it is the verified emollient code
    "e45": Drug(
        Concept("545211000001106", "E45 cream (Forum Health Products Ltd)"),
        "Apply to dry skin as often as needed",
        1,
        "tube",
        30,
    ),
    # acute (one-off) medicines; current dm+d VMP ids as used in UK Core examples
    "amoxicillin": Drug(
        Concept("39732411000001106", "Amoxicillin 500mg capsules"),
        "One capsule three times a day for 5 days",
        15,
        "capsule",
        5,
    ),
    "doxycycline": Drug(
        Concept("41948311000001104", "Doxycycline 100mg capsules"),
        "Two capsules on the first day, then one capsule once a day",
        6,
        "capsule",
        5,
    ),
    "clarithromycin": Drug(
        Concept("41946511000001109", "Clarithromycin 500mg tablets"),
        "One tablet twice a day for 5 days",
        10,
        "tablet",
        5,
    ),
    "ciprofloxacin": Drug(
        Concept("39687811000001107", "Ciprofloxacin 500mg tablets"),
        "One tablet twice a day for 7 days",
        14,
        "tablet",
        7,
    ),
    "chloramphenicol_eye": Drug(
        Concept("330295009", "Chloramphenicol 1% eye ointment"),
        "Apply to the affected eye three times a day",
        1,
        "tube",
        7,
    ),
}

# Drugs that contain or cross-react with penicillin: never prescribed to a penicillin-allergic patient.
PENICILLINS = ("amoxicillin",)
# Pain-relief and allergy medicines patients buy over the counter, recorded as MedicationStatements.
OVER_THE_COUNTER = ("paracetamol", "ibuprofen", "cetirizine")

# ----------------------------------------------------------------------------------- allergies


class Allergy(NamedTuple):
    concept: Concept
    category: str  # AllergyIntolerance.category: medication | food | environment
    weight: float  # relative frequency among recorded allergies
    criticality: str


NO_KNOWN_ALLERGY = Concept("716186003", "No known allergy")
PENICILLIN_ALLERGY = Concept("91936005", "Allergy to penicillin")

ALLERGIES: tuple[Allergy, ...] = (
    Allergy(PENICILLIN_ALLERGY, "medication", 10, "high"),
    Allergy(Concept("91931000", "Allergy to erythromycin"), "medication", 1, "low"),
    Allergy(Concept("293586001", "Allergy to aspirin"), "medication", 1.5, "low"),
    Allergy(Concept("91935009", "Allergy to peanuts"), "food", 2, "high"),
    Allergy(Concept("91930004", "Allergy to eggs"), "food", 1, "low"),
    Allergy(Concept("300916003", "Allergy to latex"), "environment", 0.7, "high"),
    Allergy(Concept("418689008", "Allergy to grass pollen"), "environment", 2.5, "low"),
    Allergy(Concept("232350006", "House dust mite allergy"), "environment", 2, "low"),
)

# Reaction manifestations (the UK Core binding is a refset; these are common members).
MANIFESTATIONS: tuple[Concept, ...] = (
    Concept("271807003", "Eruption of skin"),
    Concept("247472004", "Urticarial rash"),
    Concept("418290006", "Itching"),
    Concept("267036007", "Dyspnoea"),
    Concept("422587007", "Nausea"),
    Concept("62315008", "Diarrhoea"),
    Concept("41291007", "Angioedema"),
)
ANAPHYLAXIS = Concept("39579001", "Anaphylaxis")

# -------------------------------------------------------------------------------- immunisations


class Vaccine(NamedTuple):
    concept: Concept  # SNOMED CT international "vaccine product" concept
    oral: bool
    declined: Concept  # the statusReason when the patient declines it


ROUTE_INTRAMUSCULAR = Concept("78421000", "Intramuscular route")
ROUTE_ORAL = Concept("26643006", "Oral route")
LEFT_UPPER_ARM = Concept("368208006", "Left upper arm structure")
RIGHT_UPPER_ARM = Concept("368209003", "Right upper arm structure")
VACCINE_DECLINED = Concept("591000119102", "Vaccine declined by patient")

VACCINES: dict[str, Vaccine] = {
    "6in1": Vaccine(
        Concept(
            "871895005",
            "Vaccine product containing only Bordetella pertussis and Clostridium tetani "
            "and Corynebacterium diphtheriae and Haemophilus influenzae type B and Hepatitis B virus "
            "and Human poliovirus antigens",
        ),
        False,
        VACCINE_DECLINED,
    ),
    "5in1": Vaccine(
        Concept(
            "871887006",
            "Vaccine product containing only Bordetella pertussis and Clostridium tetani "
            "and Corynebacterium diphtheriae and Haemophilus influenzae type B and Human poliovirus "
            "antigens",
        ),
        False,
        VACCINE_DECLINED,
    ),
    "rotavirus": Vaccine(
        Concept("871761004", "Vaccine product containing only Rotavirus antigen"), True, VACCINE_DECLINED
    ),
    "pcv": Vaccine(
        Concept("836398006", "Vaccine product containing Streptococcus pneumoniae antigen"),
        False,
        Concept("401086001", "Pneumococcal vaccination declined"),
    ),
    "mmr": Vaccine(
        Concept(
            "871831003",
            "Vaccine product containing only Measles morbillivirus and Mumps "
            "orthorubulavirus and Rubella virus antigens",
        ),
        False,
        Concept("9711000175104", "Measles, mumps and rubella vaccination declined"),
    ),
    "4in1": Vaccine(
        Concept(
            "871878002",
            "Vaccine product containing only Bordetella pertussis and Clostridium tetani "
            "and Corynebacterium diphtheriae and Human poliovirus antigens",
        ),
        False,
        VACCINE_DECLINED,
    ),
    "hpv": Vaccine(
        Concept("836379009", "Vaccine product containing Human papillomavirus antigen"),
        False,
        Concept("438765003", "Human papillomavirus vaccination declined"),
    ),
    "td_ipv": Vaccine(
        Concept(
            "871837004",
            "Vaccine product containing only Clostridium tetani and Corynebacterium "
            "diphtheriae and Human poliovirus antigens",
        ),
        False,
        VACCINE_DECLINED,
    ),
    "menacwy": Vaccine(
        Concept(
            "871873006",
            "Vaccine product containing only Neisseria meningitidis serogroup A, C, W135 and Y antigens",
        ),
        False,
        Concept("957791000000106", "Meningitis ACW & Y vaccination declined"),
    ),
    "flu": Vaccine(
        Concept("836377006", "Vaccine product containing Influenza virus antigen"),
        False,
        Concept("315640000", "Influenza vaccination declined"),
    ),
    "pneumo_adult": Vaccine(
        Concept("836398006", "Vaccine product containing Streptococcus pneumoniae antigen"),
        False,
        Concept("401086001", "Pneumococcal vaccination declined"),
    ),
    "shingles": Vaccine(
        Concept(
            "1156183006",
            "Vaccine product containing only Human alphaherpesvirus 3 recombinant "
            "surface glycoprotein E antigen",
        ),
        False,
        Concept("9691000175102", "Herpes zoster vaccination declined"),
    ),
    "covid": Vaccine(
        Concept(
            "1119349007",
            "Vaccine product containing only Severe acute respiratory syndrome "
            "coronavirus 2 messenger ribonucleic acid",
        ),
        False,
        Concept("1156270003", "SARS-CoV-2 vaccination declined"),
    ),
}


class ScheduledDose(NamedTuple):
    vaccine: str
    age_days: int
    dose: int
    born_from: str  # ISO date: the programme covers children born on or after this date
    born_before: str  # ... and before this one
    sex: str | None  # "female" when the programme was for girls only


# The routine UK childhood schedule, with the birth cohorts each programme applied to.
CHILD_SCHEDULE: tuple[ScheduledDose, ...] = (
    ScheduledDose("5in1", 56, 1, "2004-07-01", "2017-06-01", None),
    ScheduledDose("5in1", 84, 2, "2004-07-01", "2017-06-01", None),
    ScheduledDose("5in1", 112, 3, "2004-07-01", "2017-06-01", None),
    ScheduledDose("6in1", 56, 1, "2017-06-01", "9999-12-31", None),
    ScheduledDose("6in1", 84, 2, "2017-06-01", "9999-12-31", None),
    ScheduledDose("6in1", 112, 3, "2017-06-01", "9999-12-31", None),
    ScheduledDose("rotavirus", 56, 1, "2013-05-01", "9999-12-31", None),
    ScheduledDose("rotavirus", 84, 2, "2013-05-01", "9999-12-31", None),
    ScheduledDose("pcv", 84, 1, "2006-07-01", "9999-12-31", None),
    ScheduledDose("pcv", 366, 2, "2006-07-01", "9999-12-31", None),
    ScheduledDose("mmr", 366, 1, "1987-01-01", "9999-12-31", None),
    ScheduledDose("mmr", 1218, 2, "1994-01-01", "9999-12-31", None),
    ScheduledDose("4in1", 1218, 1, "2001-01-01", "9999-12-31", None),
    ScheduledDose("hpv", 4480, 1, "1995-09-01", "2006-09-01", "female"),
    ScheduledDose("hpv", 4480, 1, "2006-09-01", "9999-12-31", None),
    ScheduledDose("td_ipv", 5140, 1, "1990-01-01", "9999-12-31", None),
    ScheduledDose("menacwy", 5140, 1, "2000-09-01", "9999-12-31", None),
)

# ------------------------------------------------------------------------------------ HL7 systems

V3_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
V3_PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
V3_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
ALLERGY_VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
DIAGNOSTIC_SECTION = "http://terminology.hl7.org/CodeSystem/v2-0074"
COURSE_OF_THERAPY = "http://terminology.hl7.org/CodeSystem/medicationrequest-course-of-therapy"
MEDICATION_REQUEST_CATEGORY = "http://terminology.hl7.org/CodeSystem/medicationrequest-category"
IMMUNIZATION_FUNCTION = "http://terminology.hl7.org/CodeSystem/v2-0443"
