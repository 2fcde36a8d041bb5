"""Domain errors with the stable codes of rules.md "JSON API".

Services raise them; pages show `message` next to the field or as a message, the API answers
`{"error": {"code", "message", "fields"}}` with `status`. Every code the API documents lives here
so that one rule has one error everywhere.
"""


class DomainError(Exception):
    code = "invalid_request"
    status = 400
    default_message = "The request is not valid."

    def __init__(self, message: str | None = None, *, fields: dict | None = None, field=None):
        self.message = message or self.default_message
        self.fields = fields or {}
        # The form field the message belongs next to, on pages.
        self.field = field
        super().__init__(self.message)


class InvalidRequest(DomainError):
    code = "invalid_request"
    status = 400


class NotFound(DomainError):
    code = "not_found"
    status = 404
    default_message = "Not found."


class Unauthenticated(DomainError):
    code = "unauthenticated"
    status = 401
    default_message = "A valid bearer token is required."


class Forbidden(DomainError):
    code = "forbidden"
    status = 403
    default_message = "This token or account may not do that."


class Conflict(DomainError):
    status = 409


class InsufficientCredits(DomainError):
    code = "insufficient_credits"
    status = 402
    default_message = "Not enough credits available."


class QuotaExceeded(DomainError):
    code = "quota_exceeded"
    status = 402
    default_message = "This would exceed the credit quota."


class NoCreditSource(DomainError):
    code = "no_credit_source"
    status = 402
    default_message = "This account has no credits to draw from."


class HoldNotOpen(Conflict):
    """R37, R38: captured, released or expired."""

    code = "hold_not_open"
    default_message = "This hold is no longer open: it was captured, released or has expired."


class CaptureExceedsHold(Conflict):
    code = "capture_exceeds_hold"
    default_message = "A capture cannot be more than the amount held."


class ReferenceConflict(Conflict):
    code = "reference_conflict"
    default_message = "This reference was already used for a different consumption."


class AlreadyMember(Conflict):
    code = "already_member"
    default_message = "This account is already a member of the organization."


class AlreadyInvited(Conflict):
    code = "already_invited"
    default_message = "This email already has a pending invitation."


class NotAMember(Conflict):
    code = "not_a_member"
    default_message = "This account is not a member of the organization."


class MemberOfOtherOrganization(Conflict):
    code = "member_of_other_organization"
    default_message = "This account is already a user in another organization."


class PersonalCreditsActive(Conflict):
    code = "personal_credits_active"
    default_message = "This account still has active personal credits."


class CreditAccessEnabledElsewhere(Conflict):
    code = "credit_access_enabled_elsewhere"
    default_message = "This account's credit access is enabled in another organization."


class OrgCreditAccessEnabled(Conflict):
    code = "org_credit_access_enabled"
    default_message = "This account draws credits from an organization's pool."


class SeatUnavailable(Conflict):
    code = "seat_unavailable"
    default_message = "This seat is not available."


class DuplicateProductSeat(Conflict):
    code = "duplicate_product_seat"
    default_message = "This member already has a seat of this product."


class AlreadyRefunded(Conflict):
    code = "already_refunded"
    default_message = "This consumption was already refunded."


class RefundExceedsConsumption(Conflict):
    code = "refund_exceeds_consumption"
    default_message = "A refund cannot exceed what was consumed."


class CannotRemoveAdmin(Conflict):
    code = "cannot_remove_admin"
    default_message = "The administrator cannot be removed from the organization."


class AlreadyAdministers(Conflict):
    """Not an API code: R5 refusal when an account would administer a second organization."""

    code = "already_administers"
    default_message = "This account already administers an organization."
