"""The one review page every purchase goes through (R39): what is bought, how many, the unit
price, the total, then "Place order". Licensing and credits fill in a `Review`; the page, the
checkout token and the ceiling check are the same for all of them."""

import secrets
from dataclasses import dataclass, field
from decimal import Decimal

from django import forms
from django.shortcuts import render

from billing.pricing import order_limit_check
from portal import errors


class CheckoutForm(forms.Form):
    """The token of one review page: a resubmission finds the order the first one placed."""

    checkout_token = forms.RegexField(regex=r"^[0-9a-f]{32}\Z", widget=forms.HiddenInput)


def checkout_form(request, form) -> CheckoutForm:
    """The posted token; without a valid one the order form says to review the order again."""
    token_form = CheckoutForm(request.POST)
    if not token_form.is_valid() and form.is_valid():
        form.add_error(None, "This order was not reviewed yet: check it below and place it again.")
    return token_form


@dataclass
class Review:
    title: str
    subtitle: str
    rows: list[tuple[str, str]]
    total: Decimal
    formula: str
    outcome: str
    hidden: dict[str, str]
    change_url: str
    token: str = field(default_factory=lambda: secrets.token_hex(16))


def add_form_error(form, exc: errors.DomainError) -> None:
    """A refusal goes next to the field it names, else above the form."""
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)


def review_or_error(form, review: Review, *, field: str) -> Review | None:
    """The review, unless its total is above the ceiling: then the form says so at `field`."""
    try:
        order_limit_check(total=review.total, field=field)
    except errors.DomainError as exc:
        add_form_error(form, exc)
        return None
    return review


def checkout_render(
    request,
    *,
    form,
    review: Review | None,
    heading: str,
    action: str,
    back_url: str,
    intro: str = "",
    organization=None,
):
    """The entry form (GET, with its errors) or the review with "Place order" (POST)."""
    return render(
        request,
        "billing/checkout.html",
        {
            "form": form,
            "review": review,
            "heading": heading,
            "intro": intro,
            "action": action,
            "back_url": back_url,
            "organization": organization,
        },
        status=200 if review or not form.is_bound else 422,
    )
