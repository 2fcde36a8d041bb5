"""Writes for credits: lots, ledger, access, consumption, refunds, expiry (R16–R30).

Every movement of credits writes ledger entries (R27) and keeps two caches in the same
transaction: `Wallet.balance` (the sum of the wallet's entries, which equals the remaining
amounts of its lots not yet written off) and `CreditAccess.used` (the usage in the access's
current period). Pool consumptions and refunds also keep the usage rollups of the chart
(`PoolUsageDay`, `MemberUsageMonth`). `credits.selectors.ledger_verify` recomputes them all.

Lock order everywhere (DESIGN-NOTES): wallet(s) first, then the member's access row, then lots
ordered by id; a change of access mode locks the membership just before the access (removing a
member locks them in that order too). Every path that touches a lot holds its wallet's lock,
so lots are never contended out of that order.

The package splits the writes by subject; every service is importable from here.
"""

from credits.services.access import (  # noqa: F401
    AccessRefused,
    access_create_for_member,
    access_disable_on_removal,
    access_set,
    access_set_many,
    member_access_disable,
)
from credits.services.consumption import (  # noqa: F401
    ConsumptionResult,
    alerts_send,
    credits_consume,
    credits_consume_for_email,
)
from credits.services.expiry import (  # noqa: F401
    credits_expire,
)
from credits.services.holds import (  # noqa: F401
    DEFAULT_EXPIRES_IN,
    MAX_EXPIRES_IN,
    HoldResult,
    hold_capture,
    hold_get,
    hold_open,
    hold_raise,
    hold_release,
    holds_expire,
)
from credits.services.ledger import (  # noqa: F401
    REFERENCE_RE,
    usage_rollups_rebuild,
)
from credits.services.lots import (  # noqa: F401
    TRIAL_CREDIT_DAYS,
    TrialCreditsUsed,
    credits_grant,
    credits_line,
    personal_credits_purchase,
    pool_credits_purchase,
    trial_credits_grant,
)
from credits.services.refunds import (  # noqa: F401
    credits_refund,
)
from credits.services.requests import (  # noqa: F401
    RequestAlreadyOpen,
    RequestNotOpen,
    credit_request_approve,
    credit_request_close,
    credit_request_create,
    credit_request_deny,
    credit_request_withdraw,
)
