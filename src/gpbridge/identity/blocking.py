"""Blocking: the few keys under which a record's possible matches are filed.

A record is compared only with people who share at least one key, so cost grows with the number
of records times the (small) block size rather than quadratically. The keys are chosen so that
each common error leaves at least one intact:

- ``N``  the NHS number                          (everything else may be wrong)
- ``BG`` date of birth + given-name sound        (married or misspelt family name)
- ``BF`` date of birth + family-name sound       (nickname or misspelt given name)
- ``NY`` family sound + given sound + birth year (day/month typos and swaps)
- ``PG`` postcode + given-name sound             (wrong date of birth and changed family name)

Given names are reduced to their formal name first (Bill -> William), then to Soundex, so
nicknames and most typos fall under the same key.
"""

from __future__ import annotations

import jellyfish

from gpbridge.identity.nicknames import canonical
from gpbridge.identity.profile import Profile

_sounds: dict[str, str] = {}
_given_sounds: dict[str, str] = {}


def sound(name: str) -> str:
    out = _sounds.get(name)
    if out is None:
        if len(_sounds) > 500_000:
            _sounds.clear()
        out = jellyfish.soundex(name) if name else ""
        _sounds[name] = out
    return out


def given_sound(name: str) -> str:
    out = _given_sounds.get(name)
    if out is None:
        if len(_given_sounds) > 500_000:
            _given_sounds.clear()
        out = _given_sounds[name] = sound(canonical(name))
    return out


def blocking_keys(p: Profile) -> list[str]:
    """The record's keys (a list: building a set costs more than the rare duplicate)."""
    # f-strings: compiled, each key is built in one step (``"BG" + b + g`` made an intermediate)
    keys = [f"N{n}" for n in p.nhs]
    givens = [given_sound(g) for g in p.given]
    families = [sound(f) for f in p.family]
    for f in p.previous:
        families.append(sound(f))
    for b in p.birth:
        year = b[:4]
        for g in givens:
            keys.append(f"BG{b}{g}")
        for f in families:
            keys.append(f"BF{b}{f}")
            for g in givens:
                keys.append(f"NY{f}{g}{year}")
    for code in p.postcode:
        for g in givens:
            keys.append(f"PG{code}{g}")
    return keys
