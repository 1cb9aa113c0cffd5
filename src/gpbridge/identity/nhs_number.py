"""NHS numbers: the one validation used everywhere (adapters, linkage, the PDS API).

An NHS number is ten digits; the tenth is a Modulus 11 check digit over the first nine with
weights 10..2 (NHS Data Dictionary, "NHS Number"). ``11 - (sum mod 11)`` gives the check digit,
where 11 means 0 and 10 means the nine digits can never form a valid number. Spaces (as printed,
``943 476 5919``) are ignored; nothing else is, so a typo is reported rather than guessed at.
"""

from __future__ import annotations

import random

NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
TEST_RANGE_PREFIX = "999"  # numbers starting 999 are never issued to real people


class NhsNumberError(ValueError):
    """A value that is not a valid NHS number; the message says which rule it broke."""


def check_digit(nine_digits: str) -> int | None:
    """The Modulus 11 check digit for nine digits, or None when none exists (remainder gives 10)."""
    if len(nine_digits) != 9 or not nine_digits.isascii() or not nine_digits.isdigit():
        raise NhsNumberError(f"check_digit needs exactly nine digits, not {nine_digits!r}")
    check = _check(nine_digits)
    return None if check == 10 else check


def _check(digits: str) -> int:
    """Modulus 11 over the first nine ASCII digits of ``digits``: 0-9, or 10 (no valid number)."""
    # ord() arithmetic, not int() per digit: compiled, this is a few instructions a digit (linkage
    # validates every record's number; int() parsing was an eighth of a batch).
    total = 0
    for i in range(9):
        total += (ord(digits[i]) - 48) * (10 - i)
    check = 11 - total % 11
    return 0 if check == 11 else check


def validate_nhs_number(value: object) -> str:
    """The NHS number in canonical form (ten digits, no spaces), or ``NhsNumberError`` saying why not."""
    if not isinstance(value, str):
        raise NhsNumberError(f"An NHS number must be a string, not {type(value).__name__}")
    digits = value.replace(" ", "")
    if not digits:
        raise NhsNumberError("The NHS number is empty")
    # isascii first: str.isdigit accepts other scripts' digits (e.g. Arabic-Indic), which are not NHS numbers
    if not (digits.isascii() and digits.isdigit()):
        raise NhsNumberError(f"An NHS number has only digits (and optional spaces): {value!r} has other characters")
    if len(digits) != 10:
        raise NhsNumberError(f"An NHS number has 10 digits: {value!r} has {len(digits)}")
    expected = check_digit(digits[:9])
    if expected is None:
        raise NhsNumberError(
            f"{digits} cannot be an NHS number: its first nine digits give check digit 10, which is never issued"
        )
    if int(digits[9]) != expected:
        raise NhsNumberError(
            f"{digits} fails the Modulus 11 check: its check digit is {digits[9]} but should be {expected}"
        )
    return digits


def is_valid_nhs_number(value: object) -> bool:
    """``validate_nhs_number`` without the message: no exception made for a wrong number."""
    if not isinstance(value, str):
        return False
    digits = value.replace(" ", "") if " " in value else value
    if len(digits) != 10 or not (digits.isascii() and digits.isdigit()):
        return False
    return _check(digits) == ord(digits[9]) - 48


def generate_test_nhs_number(rng: random.Random) -> str:
    """A valid NHS number in the 999 test range (never issued to a real person)."""
    while True:  # about 1 in 11 draws has no check digit; redraw
        body = f"{TEST_RANGE_PREFIX}{rng.randrange(1_000_000):06d}"
        check = check_digit(body)
        if check is not None:
            return f"{body}{check}"


def format_nhs_number(value: object) -> str:
    """``9434765919`` -> ``943 476 5919``, the 3-3-4 form people read and write."""
    digits = validate_nhs_number(value)
    return f"{digits[:3]} {digits[3:6]} {digits[6:]}"
