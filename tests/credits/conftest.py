import pytest

from credits.selectors import ledger_verify


@pytest.fixture
def assert_ledger_ok():
    """`assert_ledger_ok()` fails the test with every violation `verify_ledger` finds."""

    def _check():
        problems = ledger_verify()
        assert problems == []

    return _check
