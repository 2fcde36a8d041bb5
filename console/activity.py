"""The audit trail written for people (R34): one sentence per event, in the portal's formats.

Every action the audit records has a sentence here (tests/console/test_activity.py fails for
one without). Changes read as *from → to*; amounts carry their unit, dates are calendar dates,
products their names, people their name and email. Internal ids, codes and raw data never show.
On the organization's pages, changes made by vendor staff (the Django admin, operator commands)
read as the vendor's support.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django.utils.dateparse import parse_datetime

from licensing.models import Product
from organizations.models import Account, AccountKind
from portal.models import AuditEvent
from portal.text import with_article

SUPPORT = "Vendor support"
AUTOMATIC = "The portal"
# R44: changes the organization's identity provider made through SCIM.
DIRECTORY = "Your directory"
TERMS = {365: "1 year", 730: "2 years", 1095: "3 years"}
ACCESS_MODES = {"disabled": "Disabled", "unlimited": "Unlimited", "quota": "Quota"}
KIND_NAMES = dict(AccountKind.choices)


# --- Formats ---------------------------------------------------------------------------------


def credits(value) -> str:
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"))
    except (InvalidOperation, TypeError, ValueError):
        return "some credits"
    return f"{amount:,.2f} credits"


def day(value) -> str:
    """An ISO timestamp or date as a calendar day ("5 Mar 2027")."""
    moment = value if isinstance(value, datetime | date) else parse_datetime(str(value or ""))
    if moment is None:
        return ""
    return f"{moment.day} {moment:%b %Y}"


def access(value) -> str:
    """A credit access as the Cloud credits page names it."""
    if isinstance(value, str):
        return ACCESS_MODES.get(value, "Disabled")
    mode = (value or {}).get("mode", "disabled")
    if mode != "quota":
        return ACCESS_MODES.get(mode, "Disabled")
    period = " a month" if value.get("period") == "monthly" else " in total"
    return f"Quota {credits(value.get('limit')).removesuffix(' credits')}{period}"


def count(n, noun: str) -> str:
    n = int(n or 0)
    return f"{n} {noun}{'' if n == 1 else 's'}"


# --- Sentences -------------------------------------------------------------------------------


@dataclass
class Context:
    """What a page of events needs to be written out, looked up once per page."""

    people: dict[str, str]  # email → "Name (email)"
    products: dict[str, str]  # code → name

    def person(self, email) -> str:
        email = str(email or "")
        return self.people.get(email.lower(), email) if email else "someone"

    def product(self, code) -> str:
        return self.products.get(str(code or ""), "a product")


def _settings_changed(e, c):
    parts = []
    for field, change in e.details.items():
        if field == "name":
            parts.append(f"name from {change['from']} to {change['to']}")
        elif field == "low_balance_threshold":
            old = credits(change["from"]) if change["from"] else "none"
            new = credits(change["to"]) if change["to"] else "none"
            parts.append(f"low-balance alert from {old} to {new}")
        elif field == "require_second_factor":
            parts.append("second-factor requirement " + ("on" if change.get("to") else "off"))
    return "changed the organization's " + (" and ".join(parts) or "settings")


def _sign_on_changed(e, c):
    parts = []
    for field, change in e.details.items():
        if field == "issuer":
            parts.append(f"provider from {change.get('from')} to {change.get('to')}")
        elif field == "client_id":
            parts.append(f"client ID from {change.get('from')} to {change.get('to')}")
        elif field == "client_secret":
            parts.append("client secret")
        elif field == "sign_on_required":
            parts.append("required sign-on " + ("on" if change.get("to") else "off"))
    return "changed single sign-on: " + (", ".join(parts) or "settings")


def _factor(e) -> str:
    if e.details.get("kind") == "passkey":
        return f"the passkey “{e.details.get('name') or 'Passkey'}”"
    return "an authenticator app"


def _access_changed(e, c):
    removed = e.details.get("reason") == "removed"
    old, new = access(e.details.get("from")), access(e.details.get("to"))
    sentence = f"changed the credit access of {c.person(e.target)} from {old} to {new}"
    return sentence + (" on removal" if removed else "")


def _seat_assigned(e, c):
    product = with_article(c.product(e.details.get("product")))
    return f"assigned {product} seat to {c.person(e.target)}"


def _seat_reassigned(e, c):
    product = with_article(c.product(e.details.get("product")))
    before, after = c.person(e.details.get("from")), c.person(e.target)
    return f"moved {product} seat from {before} to {after}"


def _seat_revoked(e, c):
    product = c.product(e.details.get("product"))
    why = {"removed": " on removal", "ended": " as it ended", "cancelled": " as it was cancelled"}
    return f"took {with_article(product)} seat back from {c.person(e.target)}" + why.get(
        e.details.get("reason"), ""
    )


def _seats_purchased(e, c):
    term = TERMS.get(e.details.get("term_days"), "")
    return f"bought {count(e.details.get('quantity'), c.product(e.target) + ' seat')}" + (
        f" for {term}" if term else ""
    )


def _licenses_granted(e, c):
    until = day(e.details.get("valid_until"))
    seats = count(e.details.get("seats"), c.product(e.details.get("product")) + " seat")
    return f"granted {seats}" + (f", valid until {until}" if until else ", without end")


def _license_cancelled(e, c):
    return f"cancelled {with_article(c.product(e.details.get('product')))} license"


def _credits_in(verb: str) -> Callable:
    def sentence(e, c):
        until = day(e.details.get("expires_at"))
        text = f"{verb} {credits(e.details.get('amount'))}"
        return text + (f", expiring on {until}" if until else "")

    return sentence


def _consumed(e, c):
    source = "from the pool" if e.details.get("source") == "organization" else "of their own"
    return (
        f"{c.person(e.details.get('account'))} used {credits(e.details.get('amount'))} {source} "
        f"for render job {e.target}"
    )


def _refunded(e, c):
    return (
        f"refunded {credits(e.details.get('amount'))} of render job {e.target} "
        f"to {c.person(e.details.get('account'))}"
    )


def _held(e, c):
    source = "from the pool" if e.details.get("source") == "organization" else "of their own"
    return (
        f"{credits(e.details.get('amount'))} {source} were set aside for "
        f"{c.person(e.details.get('account'))}'s running render job {e.target}"
    )


def _hold_captured(e, c):
    d = e.details
    return (
        f"render job {e.target} of {c.person(d.get('account'))} finished: it used "
        f"{credits(d.get('captured'))} of the {credits(d.get('held'))} set aside"
    )


def _hold_released(e, c):
    return (
        f"gave back the {credits(e.details.get('held'))} set aside for render job {e.target} "
        f"of {c.person(e.details.get('account'))}"
        + (f" ({e.details['reason']})" if e.details.get("reason") else "")
    )


def _hold_expired(e, c):
    return (
        f"the {credits(e.details.get('held'))} set aside for render job {e.target} of "
        f"{c.person(e.details.get('account'))} came back: the job did not finish in time"
    )


def _imported(e, c):
    d = e.details
    return (
        f"imported a list of users: {int(d.get('added') or 0)} added, "
        f"{int(d.get('invited') or 0)} invited, "
        f"{int(d.get('skipped', d.get('failed')) or 0)} skipped"
    )


def _kind_changed(e, c):
    old = KIND_NAMES.get(e.details.get("from"), "another kind")
    new = KIND_NAMES.get(e.details.get("to"), "another kind")
    return f"changed the account of {c.person(e.target)} from {old} to {new}"


def _profile_changed(e, c):
    change = e.details.get("name")
    if isinstance(change, dict):
        return f"changed their name from {change['from'] or 'none'} to {change['to'] or 'none'}"
    return "changed their name"


# Each sentence is the predicate after the person who acted ("Alice Artist (…) <sentence>"),
# except those marked as whole sentences in WHOLE.
SENTENCES: dict[str, Callable[[AuditEvent, Context], str]] = {
    "account.created": lambda e, c: f"created the account {c.person(e.target)}",
    "account.kind_changed": _kind_changed,
    "account.profile_changed": _profile_changed,
    "account.password_changed": lambda e, c: "changed their password",
    "account.second_factor_added": lambda e, c: (
        f"added {_factor(e)} as a second factor for signing in"
    ),
    "account.second_factor_removed": lambda e, c: f"removed the second factor {_factor(e)}",
    "account.second_factor_locked": lambda e, c: (
        "was locked out of the second sign-in step after too many wrong codes"
    ),
    "account.recovery_codes_replaced": lambda e, c: "made new recovery codes",
    "account.second_factors_reset": lambda e, c: (
        f"removed every second factor of {c.person(e.target)} and signed them out"
    ),
    "account.recovery_code_used": lambda e, c: "signed in with a recovery code",
    "account.sessions_ended": lambda e, c: (
        f"signed out of {count(e.details.get('count'), 'other session')}"
    ),
    "account.password_reset_requested": lambda e, c: (
        f"A password-reset link was sent to {c.person(e.target)}"
    ),
    "organization.created": lambda e, c: f"created the organization {e.target}",
    "organization.settings_changed": _settings_changed,
    "organization.sign_on_connected": lambda e, c: (
        f"connected single sign-on through {e.details.get('issuer', {}).get('to') or 'a provider'}"
    ),
    "organization.sign_on_changed": _sign_on_changed,
    "organization.sign_on_removed": lambda e, c: "turned off single sign-on",
    "organization.domain_confirmed": lambda e, c: f"confirmed the email domain {e.target}",
    "organization.domain_removed": lambda e, c: f"removed the email domain {e.target}",
    "organization.administrator_transferred": lambda e, c: (
        f"made {c.person(e.target)} the administrator instead of {c.person(e.details.get('from'))}"
    ),
    "setup_request.created": lambda e, c: f"asked to set up the organization {e.target}",
    "setup_request.confirmed": lambda e, c: f"confirmed the setup of {e.target}",
    "setup_request.rejected": lambda e, c: f"turned down the setup of {e.target}",
    "setup_request.withdrawn": lambda e, c: f"withdrew the request to set up {e.target}",
    "member.added": lambda e, c: (
        "joined by signing in through single sign-on"
        if e.details.get("via") == "sign_on"
        else f"added {c.person(e.target)} as a user"
    ),
    "member.removed": lambda e, c: f"removed {c.person(e.target)}",
    "member.directory_changed": lambda e, c: (
        f"updated the directory details of {c.person(e.target)}"
    ),
    "member.imported": _imported,
    "invitation.sent": lambda e, c: (
        f"invited {e.target}" + (f", until {day(e.details['expires_at'])}" if e.details else "")
    ),
    "invitation.resent": lambda e, c: f"sent the invitation to {e.target} again",
    "invitation.cancelled": lambda e, c: f"cancelled the invitation to {e.target}",
    "invitation.accepted": lambda e, c: f"accepted the invitation sent to {e.target}",
    "seat.assigned": _seat_assigned,
    "seat.reassigned": _seat_reassigned,
    "seat.revoked": _seat_revoked,
    "seats.purchased": _seats_purchased,
    "licenses.granted": _licenses_granted,
    "license.purchased": lambda e, c: (
        f"bought a personal license of {c.product(e.details.get('product'))}"
    ),
    "license.cancelled": _license_cancelled,
    "license.trial_started": lambda e, c: (
        f"started a trial of {c.product(e.details.get('product'))}"
    ),
    "license.beta_started": lambda e, c: (
        f"joined the beta of {c.product(e.details.get('product'))}"
    ),
    "product.created": lambda e, c: f"added {e.details.get('name') or e.target} to the catalog",
    "product.changed": lambda e, c: f"changed the catalog entry of {c.product(e.target)}",
    "credits.purchase": _credits_in("bought"),
    "credits.grant": _credits_in("granted"),
    "credits.trial": _credits_in("received trial credits:"),
    "credits.consumed": _consumed,
    "credits.refunded": _refunded,
    "credits.held": _held,
    "credits.hold_raised": lambda e, c: (
        f"the credits set aside for render job {e.target} of "
        f"{c.person(e.details.get('account'))} went from {credits(e.details.get('from'))} to "
        f"{credits(e.details.get('to'))}"
    ),
    "credits.hold_captured": _hold_captured,
    "credits.hold_released": _hold_released,
    "credits.hold_expired": _hold_expired,
    "credits.expired": lambda e, c: f"{credits(e.details.get('amount'))} expired unused",
    "credits.requested": lambda e, c: f"asked for {credits(e.details.get('amount'))} more",
    "credits.request_approved": lambda e, c: (
        f"approved the request of {c.person(e.target)} for {credits(e.details.get('amount'))}"
    ),
    "credits.request_denied": lambda e, c: (
        f"denied the request of {c.person(e.target)} for {credits(e.details.get('amount'))}"
        + (f" ({e.details['reason']})" if e.details.get("reason") else "")
    ),
    "credits.request_closed": lambda e, c: (
        f"closed the request of {c.person(e.target)} for {credits(e.details.get('amount'))}"
    ),
    "credits.request_withdrawn": lambda e, c: (
        f"withdrew their request for {credits(e.details.get('amount'))}"
    ),
    "credit_access.changed": _access_changed,
    "api_token.created": lambda e, c: f"created the API token “{e.target}”",
    "export.downloaded": lambda e, c: f"downloaded the {EXPORTS.get(e.target, 'data')} as CSV",
    "api_token.revoked": lambda e, c: f"revoked the API token “{e.target}”",
}
EXPORTS = {
    "members": "list of users",
    "seats": "list of seats",
    "credit-history": "pool's credit history",
    "activity": "activity",
    "my-credit-history": "own credit history",
}

# Sentences that name their own subject: the actor is not put in front.
WHOLE = {
    "credits.consumed",
    "credits.expired",
    "credits.held",
    "credits.hold_raised",
    "credits.hold_captured",
    "credits.hold_expired",
    "account.password_reset_requested",
}

# The kinds of change the activity page filters by, and the actions of each.
KINDS = {
    "members": ("Users and invitations", ("member.", "invitation.")),
    "seats": ("Seats and licenses", ("seat.", "seats.", "licenses.", "license.")),
    "credits": ("Credits and access", ("credits.", "credit_access.")),
    "settings": ("Organization settings", ("organization.", "api_token.")),
}


def kind_of(action: str) -> str:
    for key, (_label, prefixes) in KINDS.items():
        if action.startswith(prefixes):
            return key
    return ""


@dataclass
class Line:
    """One event as a page shows it."""

    event: AuditEvent
    who: str
    sentence: str
    kind: str

    @property
    def when(self) -> datetime:
        return self.event.created_at


def _who(event: AuditEvent, context: Context, *, staff_as_support: bool) -> str:
    if event.channel == "scim":
        return DIRECTORY
    actor = event.actor
    if actor is None:
        return SUPPORT if event.channel in ("admin", "command") else AUTOMATIC
    if staff_as_support and actor.is_staff:
        return SUPPORT
    return context.person(actor.email)


def context_for(events: list[AuditEvent]) -> Context:
    """Names of the people and products the events mention: two queries per page."""
    emails, codes = set(), set()
    for event in events:
        for value in (event.target, event.details.get("account"), event.details.get("from")):
            if isinstance(value, str) and "@" in value:
                emails.add(value.lower())
        for value in (event.details.get("product"), event.target):
            if isinstance(value, str) and value and "@" not in value:
                codes.add(value)
        if event.actor is not None:
            emails.add(event.actor.email.lower())
    people = {
        email: f"{name} ({email})" if name else email
        for email, name in Account.objects.filter(email__in=emails).values_list("email", "name")
    }
    products = dict(Product.objects.filter(code__in=codes).values_list("code", "name"))
    return Context(people=people, products=products)


def lines_for(events, *, staff_as_support: bool = True) -> list[Line]:
    """The events written out; `staff_as_support` on the organization's pages."""
    events = list(events)
    context = context_for(events)
    lines = []
    for event in events:
        who = _who(event, context, staff_as_support=staff_as_support)
        write = SENTENCES.get(event.action)
        if write is None:
            sentence = "made a change"
        else:
            try:
                sentence = write(event, context)
            except (KeyError, TypeError, AttributeError):
                sentence = "made a change"
        if event.action in WHOLE:
            sentence = sentence[:1].upper() + sentence[1:]
        else:
            sentence = f"{who} {sentence}"
        lines.append(
            Line(event=event, who=who, sentence=sentence + ".", kind=kind_of(event.action))
        )
    return lines
