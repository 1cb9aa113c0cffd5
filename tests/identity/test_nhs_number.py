"""NHS number validation: known numbers, each failure's message, and Modulus 11 properties."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpbridge.identity.nhs_number import (
    NhsNumberError,
    check_digit,
    format_nhs_number,
    generate_test_nhs_number,
    is_valid_nhs_number,
    validate_nhs_number,
)

nine_digits = st.text(alphabet="0123456789", min_size=9, max_size=9)


@pytest.mark.parametrize("value", ["9000000009", "9434765919", "943 476 5919", " 9434765919 ", "4010232137"])
def test_known_valid_numbers(value: str) -> None:
    assert validate_nhs_number(value) == value.replace(" ", "")
    assert is_valid_nhs_number(value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("943476591", "has 9"),
        ("94347659190", "has 11"),
        ("943476591X", "other characters"),
        ("943-476-5919", "other characters"),
        ("٩٤٣٤٧٦٥٩١٩", "other characters"),  # Arabic-Indic digits are digits to str.isdigit, not to the NHS
        ("9434765918", "should be 9"),
        ("9000000000", "should be 9"),
    ],
)
def test_each_failure_says_why(value: str, message: str) -> None:
    with pytest.raises(NhsNumberError, match=message):
        validate_nhs_number(value)
    assert not is_valid_nhs_number(value)


def test_check_digit_ten_is_never_valid() -> None:
    body = next(f"{n:09d}" for n in range(10**6) if check_digit(f"{n:09d}") is None)
    for last in "0123456789":
        with pytest.raises(NhsNumberError, match="check digit 10"):
            validate_nhs_number(body + last)


def test_non_string_is_invalid() -> None:
    assert not is_valid_nhs_number(9434765919)
    with pytest.raises(NhsNumberError):
        validate_nhs_number(9434765919)  # type: ignore[arg-type]


def test_error_is_a_value_error() -> None:
    assert issubclass(NhsNumberError, ValueError)


def test_format() -> None:
    assert format_nhs_number("9434765919") == "943 476 5919"


@given(nine_digits)
def test_a_check_digit_completes_a_valid_number(body: str) -> None:
    check = check_digit(body)
    if check is None:
        assert not any(is_valid_nhs_number(body + d) for d in "0123456789")
    else:
        assert 0 <= check <= 9
        assert validate_nhs_number(body + str(check)) == body + str(check)


@given(nine_digits)
def test_exactly_one_last_digit_is_valid_or_none(body: str) -> None:
    valid = [d for d in "0123456789" if is_valid_nhs_number(body + d)]
    assert len(valid) == (0 if check_digit(body) is None else 1)


@given(nine_digits, st.integers(0, 8), st.integers(1, 9))
def test_any_single_digit_error_is_caught(body: str, position: int, delta: int) -> None:
    check = check_digit(body)
    if check is None:
        return
    number = body + str(check)
    changed = number[:position] + str((int(number[position]) + delta) % 10) + number[position + 1 :]
    assert not is_valid_nhs_number(changed)


@given(nine_digits, st.integers(0, 7))
def test_adjacent_transpositions_are_caught(body: str, position: int) -> None:
    check = check_digit(body)
    if check is None or body[position] == body[position + 1]:
        return
    number = body + str(check)
    swapped = number[:position] + number[position + 1] + number[position] + number[position + 2 :]
    assert not is_valid_nhs_number(swapped)


@given(st.text(max_size=14))
def test_validation_never_raises_anything_else(value: str) -> None:
    try:
        result = validate_nhs_number(value)
    except NhsNumberError:
        return
    assert len(result) == 10 and result.isdigit()


@given(st.integers(0, 2**32))
def test_generated_test_numbers_are_valid_and_in_the_test_range(seed: int) -> None:
    number = generate_test_nhs_number(random.Random(seed))
    assert number.startswith("999")
    assert validate_nhs_number(number) == number


@given(st.one_of(st.text(alphabet="0123456789 ٣x", max_size=14), nine_digits.map(lambda b: b + "0"),
                 st.from_regex(r"\A[0-9]{3} ?[0-9]{3} ?[0-9]{4}\Z")))
def test_the_quick_check_agrees_with_the_one_that_explains(value: str) -> None:
    # is_valid_nhs_number (linkage's hot path) checks without raising; it must agree exactly
    try:
        validate_nhs_number(value)
        explained = True
    except NhsNumberError:
        explained = False
    assert is_valid_nhs_number(value) is explained
