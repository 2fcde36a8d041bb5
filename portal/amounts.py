"""Amounts of credits and money: decimals with at most two places, never floats (R17).

One parser for every door (forms, API, commands) so that "12.5" is accepted everywhere and
"12.505", "1e3", "-1", "NaN" and huge values are refused everywhere.
"""

import re
from decimal import Decimal, InvalidOperation

from portal import errors

# The published pattern (rules.md "JSON API"); it is always applied with `fullmatch`: `re.match`
# with `$` would also take a trailing newline ("1\n").
AMOUNT_PATTERN = r"^[0-9]{1,12}(\.[0-9]{1,2})?$"
AMOUNT_RE = re.compile(AMOUNT_PATTERN)
# What a positive amount must not be: zero, however it is written ("0", "000.00").
ZERO_AMOUNT_PATTERN = r"^0+(\.0+)?$"
ZERO = Decimal("0.00")
CENT = Decimal("0.01")


def parse_amount(value, *, field: str = "amount", allow_zero: bool = False) -> Decimal:
    """Parse a positive amount given as text (rules.md "JSON API" amount format)."""
    if isinstance(value, Decimal):
        text = format(value, "f")
    elif isinstance(value, str):
        text = value
    else:
        raise errors.InvalidRequest(
            'Give the amount as text, such as "12.50".',
            fields={field: 'must be a string like "12.50"'},
            field=field,
        )
    if text.strip().startswith("-") and AMOUNT_RE.fullmatch(text.strip()[1:]):
        # A negative number is a clear intent with a clear answer, not a format problem.
        raise errors.InvalidRequest(
            "The amount must be more than zero.", fields={field: "must be positive"}, field=field
        )
    if not AMOUNT_RE.fullmatch(text):
        raise errors.InvalidRequest(
            "Amounts have at most 12 digits before the point and 2 after it, with no sign.",
            fields={field: f"must match {AMOUNT_PATTERN}"},
            field=field,
        )
    try:
        amount = Decimal(text).quantize(CENT)
    except InvalidOperation as exc:  # pragma: no cover - the pattern already excludes this
        raise errors.InvalidRequest(fields={field: "not a number"}, field=field) from exc
    if amount <= 0 and not (allow_zero and amount == 0):
        raise errors.InvalidRequest(
            "The amount must be more than zero.", fields={field: "must be positive"}, field=field
        )
    return amount


def format_amount(amount: Decimal | None) -> str | None:
    if amount is None:
        return None
    return f"{Decimal(amount).quantize(CENT):f}"
