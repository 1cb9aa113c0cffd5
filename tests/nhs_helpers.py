"""Valid (Modulus 11) test NHS numbers from short labels, for tests that need several distinct ones."""

from __future__ import annotations

from gpbridge.identity.nhs_number import check_digit


def nhs(n: int | str) -> str:
    """A valid test NHS number (999 range) made from a short label, e.g. nhs(7); the same label, the same number."""
    base = int(n)
    while True:
        nine = f"{999000000 + base:09d}"
        digit = check_digit(nine)
        if digit is not None:
            return nine + str(digit)
        base += 1000
