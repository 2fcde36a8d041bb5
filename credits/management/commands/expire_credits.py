from credits.services import credits_expire, holds_expire
from organizations.commands import PortalCommand, staff_actor


class Command(PortalCommand):
    help = (
        "R28: write an expiry entry for every lot that has expired with credits left; R37: "
        "release every hold whose expiry has come. Idempotent; safe to run from cron while "
        "the portal is in use."
    )

    def run(self, *args, **options):
        # Holds first: what they give back to an expired lot is then written off with it.
        holds = holds_expire()
        count = credits_expire(actor=staff_actor())
        self.stdout.write(
            f"Released {holds} expired hold{'s' if holds != 1 else ''}. "
            f"Expired {count} lot{'s' if count != 1 else ''}."
        )
