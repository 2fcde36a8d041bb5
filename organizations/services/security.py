"""Second factors, recovery codes and sessions (R42).

Authenticator apps and recovery codes are django-otp devices (TOTP, static tokens); passkeys are
`Passkey` devices checked with py_webauthn. Each check locks its device row, so one code or
recovery code is accepted once even when it arrives twice at the same moment. Wrong answers
count per account, not per device: past the limit the second step is closed for a while.

Every change is audited; adding or removing a factor is confirmed by email.
"""

import hashlib
import hmac
import json
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from webauthn import (
    base64url_to_bytes,
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from organizations.models import Account, AccountSession, Organization, Passkey
from portal import errors
from portal.audit import audit_record
from portal.emails import email_send
from portal.text import with_article

RECOVERY_CODES = 10
KIND_NAMES = {"totp": "authenticator app", "passkey": "passkey"}


class SecondFactorInvalid(errors.InvalidRequest):
    code = "second_factor_invalid"
    default_message = "That code is not right, or it was already used. Try the newest code."


class SecondFactorLocked(errors.DomainError):
    code = "second_factor_locked"
    status = 429
    default_message = "Too many wrong codes. Try again in a few minutes."


class PasskeyInvalid(errors.InvalidRequest):
    code = "passkey_invalid"
    default_message = "The passkey could not be checked. Try again."


class SecondFactorStillRequired(errors.Conflict):
    code = "second_factor_required"
    default_message = (
        "Your organization requires a second factor: add another one before removing this one."
    )


# --- Throttling ---------------------------------------------------------------------------


def _check_not_locked(account: Account) -> None:
    locked_until = (
        Account.objects.filter(pk=account.pk).values_list("second_factor_locked_until", flat=True)
    ).first()
    if locked_until and locked_until > timezone.now():
        minutes = max(1, round((locked_until - timezone.now()).total_seconds() / 60))
        raise SecondFactorLocked(
            f"Too many wrong codes. Try again in {minutes} minute{'s' if minutes != 1 else ''}."
        )


def _count_failure(account: Account) -> None:
    """One more wrong answer, in its own transaction (it must stay counted although the
    caller goes on to refuse); the limit closes the second step and starts counting again."""
    with transaction.atomic():
        row = Account.objects.select_for_update().only("second_factor_failures").get(pk=account.pk)
        failures = row.second_factor_failures + 1
        if failures >= settings.SECOND_FACTOR_FAILURE_LIMIT:
            locked_until = timezone.now() + timedelta(minutes=settings.SECOND_FACTOR_LOCK_MINUTES)
            Account.objects.filter(pk=account.pk).update(
                second_factor_failures=0, second_factor_locked_until=locked_until
            )
            audit_record(actor=account, action="account.second_factor_locked", target=account.email)
        else:
            Account.objects.filter(pk=account.pk).update(second_factor_failures=failures)


def _reset_failures(account: Account) -> None:
    Account.objects.filter(pk=account.pk, second_factor_failures__gt=0).update(
        second_factor_failures=0
    )


# --- Checking a second factor -------------------------------------------------------------


def _normalize_code(code: str) -> str:
    return "".join(str(code or "").split()).replace("-", "").lower()


def second_factor_check(*, account: Account, code: str):
    """The device that accepts `code`: the authenticator app's current code (each used once)
    or one of the recovery codes (then spent). Raises SecondFactorLocked or
    SecondFactorInvalid."""
    code = _normalize_code(code)
    device = None
    with transaction.atomic():
        # One check at a time per account, the pause read under the same lock: answers sent
        # in parallel cannot slip past the limit.
        Account.objects.select_for_update().only("pk").get(pk=account.pk)
        _check_not_locked(account)
        if code:
            if code.isdigit() and len(code) == 6:
                candidates = TOTPDevice.objects.filter(user=account, confirmed=True)
            else:
                candidates = StaticDevice.objects.filter(user=account, confirmed=True)
            for candidate in candidates.select_for_update():
                if candidate.verify_token(code):
                    device = candidate
                    break
            if device is not None:
                _reset_failures(account)
                if isinstance(device, StaticDevice):
                    audit_record(
                        actor=account, action="account.recovery_code_used", target=account.email
                    )
    if device is None:
        _count_failure(account)
        raise SecondFactorInvalid(field="code")
    return device


# --- Authenticator app ----------------------------------------------------------------------


def totp_begin(*, account: Account) -> TOTPDevice:
    """A new authenticator-app secret, not yet in use: it counts once a code from the app
    confirms it (`totp_confirm`). A started set-up replaces any earlier unfinished one."""
    with transaction.atomic():
        TOTPDevice.objects.filter(user=account, confirmed=False).delete()
        return TOTPDevice.objects.create(user=account, name="Authenticator app", confirmed=False)


def totp_pending(*, account: Account) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=account, confirmed=False).order_by("-pk").first()


def totp_confirm(*, account: Account, code: str) -> tuple[TOTPDevice, list[str]]:
    """The app shows the right code: it becomes the account's authenticator app (replacing an
    earlier one). Returns the device and, when the account had no recovery codes yet, its ten
    new ones (shown once)."""
    _check_not_locked(account)
    with transaction.atomic():
        device = (
            TOTPDevice.objects.select_for_update()
            .filter(user=account, confirmed=False)
            .order_by("-pk")
            .first()
        )
        if device is None:
            raise errors.InvalidRequest(
                "Start the set-up again: the code was asked for too long ago.", field="code"
            )
        accepted = device.verify_token(_normalize_code(code))
        if accepted:
            TOTPDevice.objects.filter(user=account, confirmed=True).delete()
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            _added(account, kind="totp", name=device.name)
            codes = [] if _has_recovery_codes(account) else _recovery_codes_replace(account)
    if not accepted:
        _count_failure(account)
        raise SecondFactorInvalid(field="code")
    return device, codes


# --- Passkeys -------------------------------------------------------------------------------


def _user_handle(account: Account) -> bytes:
    """The WebAuthn user handle: stable per account (so an authenticator keeps one passkey per
    account) and saying nothing about the person."""
    return hmac.new(
        settings.SECRET_KEY.encode(), f"passkey-user:{account.pk}".encode(), hashlib.sha256
    ).digest()[:32]


def passkey_registration_options(*, account: Account, rp_id: str) -> tuple[str, bytes]:
    """The browser's `navigator.credentials.create` options (JSON) and their challenge."""
    options = generate_registration_options(
        rp_id=rp_id,
        rp_name=settings.PORTAL_WEBAUTHN_RP_NAME,
        user_id=_user_handle(account),
        user_name=account.email,
        user_display_name=account.display_name,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=_descriptors(account),
    )
    return options_to_json(options), options.challenge


def passkey_register(
    *,
    account: Account,
    name: str,
    credential: str,
    challenge: bytes,
    rp_id: str,
    origin: str,
) -> tuple[Passkey, list[str]]:
    """The new passkey and, when the account had no recovery codes yet, its ten new ones."""
    name = " ".join(str(name or "").split())[:64] or "Passkey"
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
            require_user_verification=True,
        )
    except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
        raise PasskeyInvalid(
            "The passkey could not be added. Try again, or use another device."
        ) from exc
    with transaction.atomic():
        credential_id = bytes_to_base64url(verified.credential_id)
        if Passkey.objects.filter(credential_id=credential_id).exists():
            raise PasskeyInvalid("This passkey is already added.")
        passkey = Passkey.objects.create(
            user=account,
            name=name,
            credential_id=credential_id,
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
        )
        _added(account, kind="passkey", name=name)
        codes = [] if _has_recovery_codes(account) else _recovery_codes_replace(account)
    return passkey, codes


def passkey_authentication_options(
    *, rp_id: str, account: Account | None = None
) -> tuple[str, bytes]:
    """Options for `navigator.credentials.get`: for the sign-in page no list (the browser
    offers the passkeys it has for this site); for a second step the account's own."""
    allowed = _descriptors(account) if account is not None else None
    options = generate_authentication_options(
        rp_id=rp_id,
        allow_credentials=allowed,
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return options_to_json(options), options.challenge


def _descriptors(account: Account) -> list[PublicKeyCredentialDescriptor]:
    """The account's passkeys as WebAuthn names them in options."""
    return [
        PublicKeyCredentialDescriptor(id=base64url_to_bytes(credential_id))
        for credential_id in Passkey.objects.filter(user=account).values_list(
            "credential_id", flat=True
        )
    ]


def passkey_authenticate(
    *,
    credential: str,
    challenge: bytes,
    rp_id: str,
    origin: str,
    account: Account | None = None,
) -> Passkey:
    """The passkey that signed the challenge; with `account`, it must be one of theirs (a
    second step). The signature counter is kept as the authenticator reports it."""
    try:
        credential_id = str(json.loads(credential)["id"])
    except (ValueError, TypeError, KeyError) as exc:
        raise PasskeyInvalid from exc
    if account is not None:
        _check_not_locked(account)
    with transaction.atomic():
        passkey = (
            Passkey.objects.select_for_update()
            .select_related("user")
            .filter(credential_id=credential_id)
            .first()
        )
        if passkey is None or (account is not None and passkey.user_id != account.pk):
            passkey = None
        else:
            try:
                verified = verify_authentication_response(
                    credential=credential,
                    expected_challenge=challenge,
                    expected_rp_id=rp_id,
                    expected_origin=origin,
                    credential_public_key=bytes(passkey.public_key),
                    credential_current_sign_count=passkey.sign_count,
                    require_user_verification=True,
                )
            except (WebAuthnException, ValueError, TypeError, KeyError):
                passkey = None
            else:
                passkey.sign_count = verified.new_sign_count
                passkey.last_used_at = timezone.now()
                passkey.save(update_fields=["sign_count", "last_used_at"])
                _reset_failures(passkey.user)
    if passkey is None:
        if account is not None:
            _count_failure(account)
        raise PasskeyInvalid("This passkey is not known here, or it could not be checked.")
    return passkey


# --- Removing factors, recovery codes -------------------------------------------------------


def _factor_count(account: Account) -> int:
    return (
        TOTPDevice.objects.filter(user=account, confirmed=True).count()
        + Passkey.objects.filter(user=account).count()
    )


def _required_for(account: Account) -> bool:
    return Organization.objects.filter(
        memberships__account=account, require_second_factor=True
    ).exists()


def second_factor_remove(*, account: Account, kind: str, pk: int) -> None:
    """Remove the authenticator app or a passkey. The last factor cannot go while the
    organization requires one; with the last factor go the recovery codes (nothing is left for
    them to stand in for)."""
    model = {"totp": TOTPDevice, "passkey": Passkey}.get(kind)
    if model is None:
        raise errors.NotFound()
    with transaction.atomic():
        Account.objects.select_for_update().only("pk").get(pk=account.pk)
        device = model.objects.filter(user=account, pk=pk).first()
        if device is None or not device.confirmed:
            raise errors.NotFound()
        if _factor_count(account) == 1:
            if _required_for(account):
                raise SecondFactorStillRequired()
            StaticDevice.objects.filter(user=account).delete()
        name = device.name
        device.delete()
        audit_record(
            actor=account,
            action="account.second_factor_removed",
            target=account.email,
            details={"kind": kind, "name": name},
        )
        _notify(account, added=False, kind=kind, name=name)


def _has_recovery_codes(account: Account) -> bool:
    return StaticToken.objects.filter(device__user=account).exists()


def _recovery_codes_replace(account: Account) -> list[str]:
    StaticDevice.objects.filter(user=account).delete()
    device = StaticDevice.objects.create(user=account, name="Recovery codes")
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes


def recovery_codes_regenerate(*, account: Account) -> list[str]:
    """Ten new recovery codes; the earlier ones stop working. Only with a second factor."""
    with transaction.atomic():
        Account.objects.select_for_update().only("pk").get(pk=account.pk)
        if _factor_count(account) == 0:
            raise errors.InvalidRequest("Add an authenticator app or a passkey first.")
        codes = _recovery_codes_replace(account)
        audit_record(actor=account, action="account.recovery_codes_replaced", target=account.email)
    return codes


def recovery_codes_left(*, account: Account) -> int:
    return StaticToken.objects.filter(device__user=account).count()


def _added(account: Account, *, kind: str, name: str) -> None:
    audit_record(
        actor=account,
        action="account.second_factor_added",
        target=account.email,
        details={"kind": kind, "name": name},
    )
    _notify(account, added=True, kind=kind, name=name)


def _notify(account: Account, *, added: bool, kind: str, name: str) -> None:
    what = KIND_NAMES[kind]
    email_send(
        to=account.email,
        subject=f"{with_article(what).capitalize()} was "
        f"{'added to' if added else 'removed from'} your account",
        template="second_factor_changed",
        context={
            "account": account,
            "added": added,
            "what": what,
            "what_with_article": with_article(what),
            "name": name if kind == "passkey" else "",
            "when": timezone.now(),
        },
    )


# --- Sessions -------------------------------------------------------------------------------


def sessions_end_others(*, account: Account, keep_session_key: str) -> int:
    """Sign the account out of every session but this one; how many ended."""
    with transaction.atomic():
        ended, _ = (
            AccountSession.objects.filter(account=account)
            .exclude(session_key=keep_session_key)
            .delete()
        )
        if ended:
            audit_record(
                actor=account,
                action="account.sessions_ended",
                target=account.email,
                details={"count": ended},
            )
    return ended


def second_factors_reset(*, actor: Account, account: Account) -> int:
    """Vendor support, for a person who lost their phone and their recovery codes: every
    second factor and recovery code of the account goes, and their sessions end (whoever holds
    the lost device is signed out too). Audited and emailed like any removal; returns how
    many factors went."""
    with transaction.atomic():
        Account.objects.select_for_update().only("pk").get(pk=account.pk)
        removed = _factor_count(account)
        TOTPDevice.objects.filter(user=account).delete()
        Passkey.objects.filter(user=account).delete()
        StaticDevice.objects.filter(user=account).delete()
        AccountSession.objects.filter(account=account).delete()
        Account.objects.filter(pk=account.pk).update(
            second_factor_failures=0, second_factor_locked_until=None
        )
        audit_record(
            actor=actor,
            action="account.second_factors_reset",
            target=account.email,
            details={"count": removed},
        )
        email_send(
            to=account.email,
            subject="The second factors of your account were removed",
            template="second_factors_reset",
            context={"account": account, "when": timezone.now()},
        )
    return removed
