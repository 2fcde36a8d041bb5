from functools import cache

from django.contrib.auth.backends import ModelBackend
from django.db import connection
from django_otp.plugins.otp_totp.models import TOTPDevice

from organizations.models import Account, Membership, Organization, Passkey, normalize_email


class EmailBackend(ModelBackend):
    """Sign in by email, whatever its case (R1)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        username = username or kwargs.get("email")
        if username is None:
            return None
        return super().authenticate(request, username=normalize_email(username), password=password)

    def get_user(self, user_id):
        """The signed-in account of each request, in one statement with what every page asks
        of it: its second-factor facts (R42, for the middleware) and the organization it
        administers (navigation, and the Organization pages' access check). Written out in
        SQL, built once per process: it runs on every page, where the ORM's query building
        and model loading cost more than the statement itself."""
        try:
            user_id = int(user_id)
        except (TypeError, ValueError):
            return None
        with connection.cursor() as cursor:
            cursor.execute(_account_load_sql(), [user_id])
            row = cursor.fetchone()
        if row is None:
            return None
        account_fields, organization_fields = _loaded_fields()
        split = len(account_fields)
        account = Account.from_db(connection.alias, account_fields, row[:split])
        account.has_second_factor, account.second_factor_required = row[split : split + 2]
        organization = None
        if row[split + 2] is not None:
            organization = Organization.from_db(
                connection.alias, organization_fields, row[split + 2 :]
            )
        # As select_related would: `account.administered_organization` answers from here
        # (None reads as "administers none", without a query).
        Account.administered_organization.related.set_cached_value(account, organization)
        return account if self.user_can_authenticate(account) else None


@cache
def _loaded_fields() -> tuple[list[str], list[str]]:
    return (
        [f.attname for f in Account._meta.concrete_fields],
        [f.attname for f in Organization._meta.concrete_fields],
    )


@cache
def _account_load_sql() -> str:
    account_columns = ", ".join(f'a."{f.column}"' for f in Account._meta.concrete_fields)
    organization_columns = ", ".join(f'o."{f.column}"' for f in Organization._meta.concrete_fields)
    account, organization = Account._meta.db_table, Organization._meta.db_table
    return f"""
        SELECT {account_columns},
               EXISTS (SELECT 1 FROM {TOTPDevice._meta.db_table} t
                        WHERE t.user_id = a.id AND t.confirmed)
               OR EXISTS (SELECT 1 FROM {Passkey._meta.db_table} p WHERE p.user_id = a.id),
               EXISTS (SELECT 1 FROM {Membership._meta.db_table} m
                         JOIN {organization} r ON r.id = m.organization_id
                        WHERE m.account_id = a.id AND r.require_second_factor),
               {organization_columns}
          FROM {account} a
          LEFT JOIN {organization} o ON o.administrator_id = a.id
         WHERE a.id = %s
    """


def throttle_username(request, credentials) -> str:
    """django-axes counts failed sign-ins per email as the portal compares it (R1: case and
    surrounding spaces do not matter), so that "Carol@…" shares "carol@…"'s counter."""
    username = (credentials or {}).get("username") or ""
    return normalize_email(username)
