"""Common English given-name nicknames, so that Bill matches William and Peggy matches Margaret.

Each formal name lists its usual short forms. The table is deliberately modest: a nickname that
belongs to several formal names (Chris, Alex, Sam, Jo) maps to all of them, and matching treats
sharing any formal name as agreement. Names are upper case A-Z, as ``normalise.name`` produces.
"""

from __future__ import annotations

NICKNAMES: dict[str, tuple[str, ...]] = {
    "ALBERT": ("AL", "BERT", "BERTIE"),
    "ALEXANDER": ("ALEX", "ALEC", "SANDY", "XANDER"),
    "ALEXANDRA": ("ALEX", "SANDRA", "SANDY", "LEXI"),
    "ALFRED": ("ALF", "ALFIE", "FRED"),
    "AMANDA": ("MANDY",),
    "AMELIA": ("MILLIE", "AMY"),
    "ANDREW": ("ANDY", "DREW"),
    "ANNE": ("ANN", "ANNIE", "NAN"),
    "ANTHONY": ("TONY", "ANT"),
    "ARCHIBALD": ("ARCHIE",),
    "ARTHUR": ("ART", "ARTIE"),
    "BARBARA": ("BABS", "BARB"),
    "BENJAMIN": ("BEN", "BENNY"),
    "CATHERINE": ("CATH", "CATHY", "KATE", "KATIE", "KAY"),
    "CHARLES": ("CHARLIE", "CHAS", "CHUCK"),
    "CHARLOTTE": ("LOTTIE", "CHARLIE"),
    "CHRISTINE": ("CHRIS", "CHRISSIE", "TINA"),
    "CHRISTOPHER": ("CHRIS", "KIT"),
    "DANIEL": ("DAN", "DANNY"),
    "DAVID": ("DAVE", "DAVY"),
    "DEBORAH": ("DEBBIE", "DEB"),
    "DONALD": ("DON", "DONNY"),
    "DOROTHY": ("DOT", "DOTTIE", "DOLLY"),
    "EDWARD": ("ED", "EDDIE", "TED", "TEDDY", "NED"),
    "ELIZABETH": ("LIZ", "LIZZIE", "BETH", "BETTY", "ELIZA", "LIBBY", "BESS"),
    "EMILY": ("EM", "EMMY"),
    "EVELYN": ("EVIE", "EVE"),
    "FLORENCE": ("FLO", "FLOSSIE"),
    "FREDERICK": ("FRED", "FREDDIE"),
    "GERALD": ("GERRY",),
    "GILLIAN": ("GILL", "JILL"),
    "GEOFFREY": ("GEOFF",),
    "HAROLD": ("HARRY", "HAL"),
    "HENRY": ("HARRY", "HAL", "HANK"),
    "ISABELLA": ("ISABEL", "IZZY", "BELLA"),
    "JACQUELINE": ("JACKIE", "JACKY"),
    "JAMES": ("JIM", "JIMMY", "JAMIE", "JIMBO"),
    "JANET": ("JAN",),
    "JENNIFER": ("JENNY", "JEN", "JENNI"),
    "JESSICA": ("JESS", "JESSIE"),
    "JOANNE": ("JO", "JOANNA"),
    "JOHN": ("JACK", "JOHNNY", "JON"),
    "JONATHAN": ("JON", "JONNY"),
    "JOSEPH": ("JOE", "JOEY"),
    "JOSEPHINE": ("JO", "JOSIE"),
    "JOSHUA": ("JOSH",),
    "KATHLEEN": ("KATH", "KATHY", "KAY"),
    "KENNETH": ("KEN", "KENNY"),
    "LAWRENCE": ("LAURIE", "LARRY"),
    "LEONARD": ("LEN", "LENNY", "LEO"),
    "LESLIE": ("LES",),
    "MARGARET": ("MAGGIE", "MEG", "PEGGY", "MAG", "MADGE", "RITA"),
    "MARY": ("MOLLY", "POLLY", "MAMIE"),
    "MATTHEW": ("MATT", "MATTY"),
    "MICHAEL": ("MIKE", "MICK", "MICKY", "MIKEY"),
    "NICHOLAS": ("NICK", "NICKY"),
    "NICOLA": ("NICKY", "NIKKI"),
    "OLIVER": ("OLLIE", "OLLY"),
    "PATRICIA": ("PAT", "PATSY", "TRISH", "PATTY"),
    "PATRICK": ("PAT", "PADDY"),
    "PETER": ("PETE",),
    "PHILIP": ("PHIL",),
    "PAMELA": ("PAM",),
    "REBECCA": ("BECKY", "BECCA"),
    "RICHARD": ("RICH", "RICK", "RICKY", "DICK", "RICHIE"),
    "ROBERT": ("BOB", "BOBBY", "ROB", "ROBBIE", "BERT"),
    "RONALD": ("RON", "RONNIE"),
    "ROSEMARY": ("ROSIE", "ROSE"),
    "SAMANTHA": ("SAM", "SAMMY"),
    "SAMUEL": ("SAM", "SAMMY"),
    "SANDRA": ("SANDY",),
    "SARAH": ("SALLY", "SADIE"),
    "SOPHIA": ("SOPHIE",),
    "STANLEY": ("STAN",),
    "STEPHEN": ("STEVE", "STEVIE"),
    "STEVEN": ("STEVE", "STEVIE"),
    "SUSAN": ("SUE", "SUZY", "SUSIE"),
    "TERENCE": ("TERRY", "TEL"),
    "THEODORE": ("THEO", "TED"),
    "THOMAS": ("TOM", "TOMMY"),
    "TIMOTHY": ("TIM", "TIMMY"),
    "VALERIE": ("VAL",),
    "VICTORIA": ("VICKY", "VICKI", "TORI"),
    "WILLIAM": ("BILL", "BILLY", "WILL", "WILLIE", "LIAM"),
}


def _formal_names() -> dict[str, frozenset[str]]:
    """name -> the formal names it may stand for (a formal name stands for itself)."""
    out: dict[str, set[str]] = {}
    for formal, shorts in NICKNAMES.items():
        out.setdefault(formal, set()).add(formal)
        for short in shorts:
            out.setdefault(short, set()).add(formal)
    return {name: frozenset(formals) for name, formals in out.items()}


FORMAL: dict[str, frozenset[str]] = _formal_names()


def formal_names(name: str) -> frozenset[str]:
    """The formal names ``name`` may be short for; a name not in the table is its own formal name."""
    return FORMAL.get(name) or frozenset((name,))


def canonical(name: str) -> str:
    """One stable formal name for blocking (the alphabetically first when a nickname is ambiguous)."""
    formals = FORMAL.get(name)
    return min(formals) if formals else name


def same_person_name(a: str, b: str) -> bool:
    """Whether two given names are the same name or nickname-equivalent (Bill ~ William)."""
    return a == b or not formal_names(a).isdisjoint(formal_names(b))
