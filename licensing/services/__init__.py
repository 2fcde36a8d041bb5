"""Writes for licenses and seats (R11–R16). Every function is atomic, locks what it checks,
writes the audit event and raises a domain error with a stable code.

Lock order (docs/licensing.md): product row (purchases and grants only), then the seat row,
then the membership row. Assign, revoke and reassign never lock a product, so they cannot
deadlock against each other or against member removal, which locks a membership and then
the seats assigned to it (a seat that is not yet assigned to that member is not matched).

The package splits the writes by subject; every service is importable from here.
"""

from licensing.services.catalog import (  # noqa: F401
    DEFAULT_SEAT_PRICE,
    PRODUCT_EDITABLE,
    price_check,
    product_create,
    product_update,
)
from licensing.services.expiry import (  # noqa: F401
    license_cancel,
    seat_tallies_compact,
    seats_release_ended,
)
from licensing.services.purchases import (  # noqa: F401
    MAX_GRANT_SEATS,
    MAX_SEATS_PER_ORDER,
    TERM_CHOICES,
    AlreadyApplied,
    ProductUnavailable,
    license_purchase,
    licenses_grant,
    order_line,
    order_total,
    seats_purchase,
)
from licensing.services.seats import (  # noqa: F401
    BulkReport,
    member_seats_revoke,
    seat_assign,
    seat_assign_any,
    seat_reassign,
    seat_revoke,
    seats_bulk_assign,
    seats_revoke_on_removal,
)
from licensing.services.trials import (  # noqa: F401
    BETA_DAYS,
    TRIAL_DAYS,
    OrganizationSeatAssigned,
    license_apply,
)
