"""Licensing factories: products, organizational seats and personal licenses."""

from datetime import timedelta

import factory
from django.utils import timezone

from licensing.models import License, Product


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    code = factory.Sequence(lambda n: f"product-{n}")
    name = factory.Sequence(lambda n: f"Product {n}")
    price = 120
    beta_available = True


def make_seats(organization, product, n=1, *, days=365, starts_in_days=0, **fields):
    """`n` organizational seats, valid from now (+ `starts_in_days`) for `days` (None:
    perpetual)."""
    starts = timezone.now() + timedelta(days=starts_in_days)
    ends = starts + timedelta(days=days) if days is not None else None
    return [
        License.objects.create(
            product=product,
            organization=organization,
            starts_at=starts,
            ends_at=ends,
            **fields,
        )
        for _ in range(n)
    ]


def make_seat(organization, product, **kwargs):
    return make_seats(organization, product, 1, **kwargs)[0]


def make_personal(account, product, *, days=365, kind="commercial", **fields):
    now = timezone.now()
    return License.objects.create(
        product=product,
        account=account,
        kind=kind,
        starts_at=fields.pop("starts_at", now),
        ends_at=fields.pop("ends_at", now + timedelta(days=days) if days is not None else None),
        **fields,
    )
