from licensing.services import seat_tallies_compact, seats_release_ended
from organizations.commands import PortalCommand, staff_actor


class Command(PortalCommand):
    help = (
        "Unassign organizational seats that have ended or were cancelled (R13), then fold the "
        "seat tallies' log. Idempotent; safe to run from cron."
    )

    def run(self, *args, **options):
        released = seats_release_ended(actor=staff_actor())
        self.stdout.write(f"Released {released} ended seat{'s' if released != 1 else ''}.")
        rows = seat_tallies_compact()
        self.stdout.write(f"Seat tallies folded to {rows} row{'s' if rows != 1 else ''}.")
