from django.core.management.base import CommandError

from credits.selectors import ledger_verify
from licensing.selectors import seat_tally_problems
from organizations.commands import PortalCommand
from organizations.selectors import member_tally_problems


class Command(PortalCommand):
    help = (
        "R27: check every ledger invariant (lots, wallets, references, refunds, quotas, cached "
        "usage and usage rollups), the seat tallies against the seats and the member tallies "
        "against the members. Exit 0 when all hold; otherwise list each violation and exit 1."
    )

    def run(self, *args, **options):
        problems = ledger_verify() + seat_tally_problems() + member_tally_problems()
        if not problems:
            self.stdout.write("Ledger OK: every invariant holds.")
            return
        for problem in problems:
            self.stderr.write(problem)
        raise CommandError(
            f"{len(problems)} ledger violation{'s' if len(problems) != 1 else ''}.", returncode=1
        )
