from django.conf import settings
from django.db import transaction
from django.test.utils import override_settings

from credits import demo as credits_demo
from licensing import demo as licensing_demo
from organizations import demo as organizations_demo
from organizations.commands import PortalCommand


class Command(PortalCommand):
    help = "Create the demo organization, users, products, seats and credits; idempotent."

    def run(self, *args, **options):
        # The demo's invitations and notices are kept, not printed: the console stays readable.
        quiet = override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend")
        with quiet, transaction.atomic():
            demo = organizations_demo.seed()
            licensing_demo.seed(**demo)
            credits_demo.seed(**demo)
        self.stdout.write(
            f"Demo data is ready. Sign in at {settings.PORTAL_BASE_URL.rstrip('/')}/ with:"
        )
        for email, _name, kind, staff, role in organizations_demo.DEMO_ACCOUNTS:
            what = "vendor staff (Django admin)" if staff else (role or kind)
            if role == "admin":
                what = "organization administrator"
            self.stdout.write(f"  {email:<24} {organizations_demo.DEMO_PASSWORD}   {what}")
