"""Writes for accounts, organizations, setup requests, members and invitations (R1–R9).

Every function runs in one transaction, locks what it checks, writes the audit event and
raises a `portal.errors.DomainError` with a stable code.

The package splits the writes by subject; every service is importable from here.
"""

from organizations.services.accounts import (  # noqa: F401
    EmailTaken,
    account_create,
    account_profile_update,
    account_set_kind,
    administrator_transfer,
    membership_create,
    organization_create,
    organization_settings_update,
    password_changed_notice,
    password_reset_allowed,
)
from organizations.services.imports import (  # noqa: F401
    CSV_MAX_BYTES,
    CSV_MAX_ROWS,
    CsvInvalid,
    member_csv_parse,
    member_import,
    member_import_preview,
)
from organizations.services.members import (  # noqa: F401
    InvitationUnusable,
    InvitationWrongAccount,
    MemberAddResult,
    invitation_accept,
    invitation_by_token,
    invitation_cancel,
    invitation_check_usable,
    invitation_resend,
    invitation_token_hash,
    invitations_cancel,
    invitations_resend,
    member_add,
    member_provision,
    member_remove,
    member_remove_by_email,
    members_remove,
)
from organizations.services.security import (  # noqa: F401
    PasskeyInvalid,
    SecondFactorInvalid,
    SecondFactorLocked,
    SecondFactorStillRequired,
    passkey_authenticate,
    passkey_authentication_options,
    passkey_register,
    passkey_registration_options,
    recovery_codes_left,
    recovery_codes_regenerate,
    second_factor_check,
    second_factor_remove,
    second_factors_reset,
    sessions_end_others,
    totp_begin,
    totp_confirm,
    totp_pending,
)
from organizations.services.setup import (  # noqa: F401
    setup_request_confirm,
    setup_request_create,
    setup_request_reject,
    setup_request_withdraw,
)
from organizations.services.sso import (  # noqa: F401
    DomainNotConfirmed,
    EmailNotVerified,
    RemovedMember,
    email_domain_clean,
    email_domain_confirm,
    email_domain_remove,
    identity_provider_remove,
    identity_provider_save,
    sso_sign_in,
)
from organizations.services.tallies import member_tallies_compact  # noqa: F401
