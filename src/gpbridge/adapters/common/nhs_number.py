"""NHS number checks for the adapters.

Uses ``gpbridge.identity.nhs_number.validate_nhs_number`` when the identity package provides it;
until then a private Modulus 11 check with the same contract (normalised digits or ValueError).
"""

from __future__ import annotations

from collections.abc import Callable

NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"


def _modulus11(value: str) -> str:
    digits = "".join(ch for ch in str(value) if not ch.isspace() and ch != "-")
    if len(digits) != 10 or not digits.isdigit():
        raise ValueError(f"{value!r} is not 10 digits")
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    check = 0 if check == 11 else check
    if check == 10 or check != int(digits[9]):
        raise ValueError(f"{value!r} fails the NHS number check digit")
    return digits


def _validator() -> Callable[[str], str]:
    try:
        from gpbridge.identity.nhs_number import validate_nhs_number  # type: ignore[import-not-found]
    except ImportError:
        return _modulus11
    return validate_nhs_number  # type: ignore[no-any-return]


def check_nhs_number(value: str) -> str:
    """The normalised NHS number, or ValueError (whatever the identity module raises is wrapped)."""
    try:
        return _validator()(value)
    except ValueError:
        raise
    except Exception as exc:  # NhsNumberError may not subclass ValueError
        raise ValueError(str(exc)) from None
