"""Field comparisons: how well two profiles agree on each field, as a discrete level.

Levels are what Fellegi–Sunter weighs (``model``): each field has a few ordered levels, highest
= strongest agreement, 0 = clear disagreement, and ``MISSING`` when either side has no value (no
evidence either way, weight 0). Comparing sets takes the best level over all value pairs, so a
record matches a person on *any* name or address they have had.

Names use exact, nickname, edit-distance (typos: Damerau/OSA distance, Jaro–Winkler) and phonetic
(Soundex, as PDS's fuzzy search) agreement; dates of birth tolerate one mistyped digit and a
day/month swap; postcodes agree by unit, sector and district.
"""

from __future__ import annotations

import jellyfish
from rapidfuzz.distance import OSA, JaroWinkler

from gpbridge.identity.nicknames import same_person_name
from gpbridge.identity.profile import Profile, shares

MISSING = -1
FIELDS = ("nhs", "given", "family", "birth", "sex", "location")

# Level names per field, best first (index = level), for explanations and docs.
LEVELS: dict[str, tuple[str, ...]] = {
    "nhs": ("different", "same"),
    "given": ("different", "phonetic", "typo", "nickname", "exact"),
    "family": ("different", "phonetic", "typo", "previous-name", "exact"),
    "birth": ("different", "same-year-or-month-day", "typo-or-swapped", "exact"),
    "sex": ("different", "same"),
    "location": ("different", "district", "sector", "postcode", "postcode-and-address"),
}

_name_pairs: dict[tuple[str, str], int] = {}


def compare(a: Profile, b: Profile) -> tuple[int, int, int, int, int, int]:
    """Levels for (nhs, given, family, birth, sex, location)."""
    return (
        _nhs(a, b),
        _given(a, b),
        _family(a, b),
        _birth(a.birth, b.birth),
        _sex(a.sex, b.sex),
        _location(a, b),
    )


def clearly_different(a: Profile, b: Profile) -> bool:
    """Two of given name, family name and date of birth flatly disagree (``decide``'s test, computed
    lazily: the third level is needed only when exactly one of the first two disagrees)."""
    flat = (_given(a, b) == 0) + (_family(a, b) == 0)
    if flat == 1:
        return _birth(a.birth, b.birth) == 0
    return flat == 2


def _nhs(a: Profile, b: Profile) -> int:
    if not a.nhs or not b.nhs:
        return MISSING
    return 1 if shares(a.nhs, b.nhs) else 0


def _given(a: Profile, b: Profile) -> int:
    if not a.given or not b.given:
        return MISSING
    if shares(a.given, b.given):
        return 4
    best = max(_name_level(x, y, nicknames=True) for x in a.given for y in b.given)
    if best < 2 and (shares(a.given, b.middle) or shares(b.given, a.middle)):
        best = 2  # known by a middle name in one source (first and middle swapped or dropped)
    return best


def _family(a: Profile, b: Profile) -> int:
    if not (a.family or a.previous) or not (b.family or b.previous):
        return MISSING
    if shares(a.family, b.family):
        return 4
    if shares(a.family, b.previous) or shares(b.family, a.previous) or shares(a.previous, b.previous):
        return 3
    best = 0
    for x in a.family + a.previous:
        for y in b.family + b.previous:
            level = _name_level(x, y, nicknames=False)
            if level > best:
                best = level
    return best if best < 3 else 2  # a typo'd family name is "typo" (2), not "previous name" (3)


def _name_level(x: str, y: str, *, nicknames: bool) -> int:
    """4 exact, 3 nickname, 2 typo, 1 phonetic, 0 different (cached: names repeat endlessly)."""
    key = (x, y) if x <= y else (y, x)
    level = _name_pairs.get(key)
    if level is not None:
        return level if nicknames or level != 3 else 0
    if x == y:
        level = 4
    elif same_person_name(x, y):
        level = 3
    elif _typo(x, y):
        level = 2
    elif jellyfish.soundex(x) == jellyfish.soundex(y):
        level = 1
    else:
        level = 0
    if len(_name_pairs) > 1_000_000:
        _name_pairs.clear()
    _name_pairs[key] = level
    return level if nicknames or level != 3 else 0


def _typo(x: str, y: str) -> bool:
    # One edit (or one adjacent swap) in a name of 4+ letters, or very close by Jaro–Winkler;
    # short names need exactness: ANN/ANA are different people far more often than typos.
    if min(len(x), len(y)) >= 4 and OSA.distance(x, y, score_cutoff=1) <= 1:
        return True
    return min(len(x), len(y)) >= 5 and JaroWinkler.similarity(x, y) >= 0.94


def _birth(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    if not a or not b:
        return MISSING
    if shares(a, b):
        return 3
    return max(_birth_level(x, y) for x in a for y in b)


def _birth_level(x: str, y: str) -> int:
    # YYYY-MM-DD strings: compare digit by digit (a mistyped digit), then swaps.
    if len(x) != 10 or len(y) != 10:
        return 0
    diff = [i for i in (0, 1, 2, 3, 5, 6, 8, 9) if x[i] != y[i]]
    if len(diff) == 1:
        return 2
    if len(diff) == 2 and diff[1] == diff[0] + 1 and x[diff[0]] == y[diff[1]] and x[diff[1]] == y[diff[0]]:
        return 2  # adjacent digits swapped: 1987 -> 1978
    if x[:4] == y[:4] and x[5:7] == y[8:10] and x[8:10] == y[5:7]:
        return 2  # day and month swapped (US order, or a transcription slip)
    if x[:7] == y[:7] or x[4:] == y[4:]:
        return 1
    return 0


def _sex(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    if not a or not b:
        return MISSING
    return 1 if shares(a, b) else 0


def _location(a: Profile, b: Profile) -> int:
    if not a.postcode or not b.postcode:
        return MISSING
    if shares(a.postcode, b.postcode):
        return 4 if shares(a.address, b.address) else 3
    best = 0
    for x in a.postcode:
        for y in b.postcode:
            if x[:-2] == y[:-2]:
                return 2  # same sector (e.g. LS6 3)
            if best < 1 and x[:-3] == y[:-3]:
                best = 1  # same district (LS6)
    return best


def explain(levels: tuple[int, ...]) -> dict[str, str]:
    """``{"given": "nickname", ...}``: what a reviewer sees beside a score."""
    return {f: ("missing" if lv == MISSING else LEVELS[f][lv]) for f, lv in zip(FIELDS, levels, strict=True)}
