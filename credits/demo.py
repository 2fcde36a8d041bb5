"""Demo credits for `seed_demo` (idempotent): a pool purchase for the demo organization,
alice on a monthly quota, bob unlimited, consumptions spread over the last weeks, and
personal credits for the freelancer."""

from datetime import timedelta
from decimal import Decimal
from unittest import mock

from django.utils import timezone

from credits import services
from credits.models import CreditAccess, Hold, LedgerEntry, Lot

# (days ago, account, amount, reference)
CONSUMPTIONS = [
    (24, "alice@example.com", "35.00"),
    (21, "bob@example.com", "80.00"),
    (19, "carol@example.com", "0"),
    (17, "alice@example.com", "42.50"),
    (14, "bob@example.com", "55.00"),
    (11, "alice@example.com", "27.25"),
    (9, "bob@example.com", "120.00"),
    (6, "alice@example.com", "18.00"),
    (4, "bob@example.com", "64.75"),
    (2, "alice@example.com", "22.00"),
    (1, "bob@example.com", "38.00"),
    (0, "alice@example.com", "12.50"),
]


def seed(*, accounts, organization, **_ignored):
    admin = accounts["admin@example.com"]
    if not LedgerEntry.objects.filter(reference__startswith="demo-render-").exists():
        _seed_ledger(accounts=accounts, organization=organization, admin=admin)
    _seed_running_jobs()


def _seed_running_jobs():
    """Two jobs still rendering, each time the demo is seeded (holds last a few hours): what
    they hold shows on Cloud credits and on My credits."""
    stamp = timezone.now().strftime("%Y%m%d%H%M")
    for email, amount, job in (
        ("alice@example.com", "60.00", "1"),
        ("bob@example.com", "125.00", "2"),
    ):
        if Hold.objects.filter(
            account__email=email, status="open", expires_at__gt=timezone.now()
        ).exists():
            continue
        services.hold_open(
            email=email,
            amount=amount,
            reference=f"demo-job-{stamp}-{job}",
            expires_in=6 * 3600,
        )


def _seed_ledger(*, accounts, organization, admin):
    now = timezone.now()
    start = now - timedelta(days=30)
    with mock.patch("django.utils.timezone.now", return_value=start):
        if not Lot.objects.filter(wallet__organization=organization).exists():
            services.pool_credits_purchase(actor=admin, organization=organization, amount="2000")
        for email, mode, limit, period in (
            ("alice@example.com", "quota", "250.00", "monthly"),
            ("bob@example.com", "unlimited", None, None),
        ):
            access = CreditAccess.objects.get(account=accounts[email], organization=organization)
            services.access_set(actor=admin, access=access, mode=mode, limit=limit, period=period)
    organization.low_balance_threshold = organization.low_balance_threshold or Decimal("300.00")
    organization.save(update_fields=["low_balance_threshold"])
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    for n, (days_ago, email, amount) in enumerate(CONSUMPTIONS):
        if amount == "0":
            continue
        moment = now - timedelta(days=days_ago, hours=n % 5)
        if moment < month_start and email == "alice@example.com":
            moment = now - timedelta(hours=n)  # keep alice's demo usage in this month
        with mock.patch("django.utils.timezone.now", return_value=moment):
            services.credits_consume(
                account=accounts[email], amount=Decimal(amount), reference=f"demo-render-{n}"
            )
    freelancer = accounts["freelancer@example.com"]
    if not Lot.objects.filter(wallet__account=freelancer, origin="purchase").exists():
        services.personal_credits_purchase(actor=freelancer, amount="150")
        services.credits_consume(
            account=freelancer, amount=Decimal("23.40"), reference="demo-render-freelancer"
        )
