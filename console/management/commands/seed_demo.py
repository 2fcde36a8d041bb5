from django.db import transaction

from organizations import demo as organizations_demo
from organizations.commands import PortalCommand


def _app_seeders():
    """Each app seeds its own demo data; missing seeders are simply skipped."""
    seeders = []
    for module in ("licensing.demo", "credits.demo"):
        try:
            seeders.append(__import__(module, fromlist=["seed"]).seed)
        except ImportError:
            continue
    return seeders


class Command(PortalCommand):
    help = "Create the demo organization, users, products, seats and credits; idempotent."

    def run(self, *args, **options):
        with transaction.atomic():
            demo = organizations_demo.seed()
            for seed in _app_seeders():
                seed(**demo)
        self.stdout.write("Demo data is ready. Sign in at http://127.0.0.1:8000/ with:")
        for email, _name, kind, staff, role in organizations_demo.DEMO_ACCOUNTS:
            what = "vendor staff (Django admin)" if staff else (role or kind)
            if role == "admin":
                what = "organization administrator"
            self.stdout.write(f"  {email:<24} {organizations_demo.DEMO_PASSWORD}   {what}")
