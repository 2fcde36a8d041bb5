from credits.services import credits_expire
from organizations.commands import PortalCommand, staff_actor


class Command(PortalCommand):
    help = (
        "R28: write an expiry entry for every lot that has expired with credits left. "
        "Idempotent; safe to run from cron while the portal is in use."
    )

    def run(self, *args, **options):
        count = credits_expire(actor=staff_actor())
        self.stdout.write(f"Expired {count} lot{'s' if count != 1 else ''}.")
