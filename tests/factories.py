"""Factories with readable defaults. Organizations are made through the services, as in the
portal, so that every test starts from states the portal itself can produce."""

import factory

from organizations.models import Account, Role
from organizations.services import account_create, membership_create
from portal.models import Announcement, AuditEvent

PASSWORD = "correct horse battery staple"


class AccountFactory(factory.django.DjangoModelFactory):
    """A plain (trial) account without an organization."""

    class Meta:
        model = Account
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    name = factory.Sequence(lambda n: f"User {n}")
    kind = "trial"
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


_counter = iter(range(1, 10**9))


def make_org_admin(*, email: str | None = None, name: str = "") -> Account:
    """A commercial account and the organization it administers (R2)."""
    n = next(_counter)
    return account_create(
        email=email or f"admin{n}@studio{n}.example",
        kind="commercial",
        password=PASSWORD,
        name=name or f"Studio {n}",
    )


def add_member(organization, account: Account | None = None, **account_fields):
    """Add `account` (a new one by default) as a user of `organization`."""
    account = account or AccountFactory(**account_fields)
    return membership_create(organization=organization, account=account, role=Role.MEMBER)


class AnnouncementFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Announcement

    title = factory.Sequence(lambda n: f"Announcement {n}")
    text = "Update your license server."
    level = "info"


class AuditEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AuditEvent

    action = "test.event"
    target = "something"


def verify_session(client, account: Account):
    """Mark the test client's session as having passed a second factor (R42), with a real
    authenticator device of `account`'s (made if it has none); returns the device."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=account, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(user=account, name="Authenticator app")
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return device
