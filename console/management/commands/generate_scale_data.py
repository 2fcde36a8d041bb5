"""Fill PostgreSQL with a large and a small organization for the benchmarks (rules.md
"Performance"). The work is in benchmarks/scale_data.py; this is its door."""

from django.core.management.base import CommandError

from organizations.commands import PortalCommand


class Command(PortalCommand):
    help = (
        "Generate one organization with --members, --seats and --ledger entries, and one of "
        "--small-members for the growth ratio. Skips an organization that is already there."
    )

    def add_arguments(self, parser):
        parser.add_argument("--members", type=int, default=100_000)
        parser.add_argument("--seats", type=int, default=100_000)
        parser.add_argument("--ledger", type=int, default=10_000_000)
        parser.add_argument("--small-members", type=int, default=100)

    def run(self, *args, members, seats, ledger, small_members, **options):
        from benchmarks.scale_data import Scale, generate

        if min(members, small_members) < 1 or seats < 0 or ledger < 10:
            raise CommandError("Members must be at least 1 and the ledger at least 10 entries.")
        ratio = small_members / members
        for scale in (
            Scale(tag=1, members=members, seats=seats, ledger=ledger),
            Scale(
                tag=2,
                members=small_members,
                seats=max(1, round(seats * ratio)),
                ledger=max(10, round(ledger * ratio)),
            ),
        ):
            generate(scale, log=self.stdout.write)
