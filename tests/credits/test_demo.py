from io import StringIO

import pytest
from django.core.management import call_command

from credits.models import AccessMode, CreditAccess, LedgerEntry
from credits.selectors import ledger_verify, personal_available

pytestmark = pytest.mark.django_db


def test_seed_demo_credits_are_idempotent_and_consistent():
    call_command("seed_demo", stdout=StringIO())
    entries = LedgerEntry.objects.count()
    call_command("seed_demo", stdout=StringIO())
    assert LedgerEntry.objects.count() == entries
    modes = dict(
        CreditAccess.objects.filter(
            account__email__in=["alice@example.com", "bob@example.com"]
        ).values_list("account__email", "mode")
    )
    assert modes == {"alice@example.com": AccessMode.QUOTA, "bob@example.com": AccessMode.UNLIMITED}
    from organizations.models import Account

    assert personal_available(account=Account.objects.get(email="freelancer@example.com")) > 0
    assert ledger_verify() == []
