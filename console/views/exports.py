"""CSV downloads (R41): each streams from `console.exports` and is audited there."""

from django.contrib.auth.decorators import login_required
from django.views.decorators.http import require_GET

from console import exports
from organizations.permissions import org_admin_required

ORGANIZATION_EXPORTS = {
    "members": (exports.MEMBER_HEADER, exports.member_rows),
    "seats": (exports.SEAT_HEADER, exports.seat_rows),
    "credit-history": (exports.LEDGER_HEADER, exports.pool_history_rows),
    "activity": (exports.ACTIVITY_HEADER, exports.activity_rows),
}


def _organization_export(what: str):
    header, rows = ORGANIZATION_EXPORTS[what]

    @org_admin_required
    @require_GET
    def view(request):
        organization = request.organization
        return exports.csv_response(
            actor=request.user,
            organization=organization,
            what=what,
            owner_name=organization.name,
            header=header,
            rows=rows(organization),
        )

    view.__name__ = f"export_{what.replace('-', '_')}"
    return view


members = _organization_export("members")
seats = _organization_export("seats")
credit_history = _organization_export("credit-history")
activity = _organization_export("activity")


@login_required
@require_GET
def my_credit_history(request):
    """Everyone's own credit history: personal credits and what they drew from a pool."""
    return exports.csv_response(
        actor=request.user,
        organization=None,
        what="my-credit-history",
        owner_name=request.user.email.split("@")[0],
        header=exports.LEDGER_HEADER,
        rows=exports.own_history_rows(request.user),
    )
