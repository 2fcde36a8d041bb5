"""Connections between licensing and credits, which never import each other: made here, in the
layer above both, when the portal starts."""

from django.db import transaction

from credits.services import trial_credits_grant
from licensing import hooks as licensing_hooks
from portal import errors


def trial_credits_once(*, account):
    """R16: the first trial also brings the one grant of trial credits, unless the account
    draws on an organization's pool or had them already; either way the trial stands."""
    try:
        with transaction.atomic():
            return trial_credits_grant(actor=account, account=account)
    except errors.DomainError:
        return None


def connect() -> None:
    licensing_hooks.trial_started.register(trial_credits_once)
