"""Writes that span apps."""

from django.db import transaction

from credits.selectors import ledger_verify
from licensing.selectors import seat_tally_problems
from organizations.models import Account
from organizations.selectors import member_tally_problems
from portal.emails import email_send


def ledger_verify_and_report() -> list[str]:
    """R27, R45: check every ledger invariant, the seat tallies and the member tallies; when
    any is violated, email every active staff member the list. Returns the violations."""
    problems = ledger_verify() + seat_tally_problems() + member_tally_problems()
    if problems:
        staff = list(
            Account.objects.filter(is_staff=True, is_active=True)
            .order_by("email")
            .values_list("email", flat=True)
        )
        with transaction.atomic():
            for email in staff:
                email_send(
                    to=email,
                    subject=f"Ledger check: {len(problems)} problem(s) found",
                    template="ledger_problems",
                    context={"problems": problems},
                )
    return problems
