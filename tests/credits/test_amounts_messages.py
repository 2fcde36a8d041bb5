"""R17: a refused amount says why in words a person understands."""

import pytest

from portal import errors
from portal.amounts import parse_amount


@pytest.mark.parametrize("text", ["-5", "-0.50", " -12"])
def test_a_negative_amount_is_refused_as_not_positive(text):
    with pytest.raises(errors.InvalidRequest) as excinfo:
        parse_amount(text)
    assert excinfo.value.message == "The amount must be more than zero."
    assert excinfo.value.fields == {"amount": "must be positive"}


@pytest.mark.parametrize("text", ["1e3", "12.505", "+5", "--5", "- 5", "NaN"])
def test_other_malformed_amounts_are_refused_for_their_format(text):
    with pytest.raises(errors.InvalidRequest) as excinfo:
        parse_amount(text)
    assert "at most 12 digits" in excinfo.value.message
