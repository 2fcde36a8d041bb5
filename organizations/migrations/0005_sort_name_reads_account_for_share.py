"""The membership's sort name is read with the account row share-locked (PostgreSQL).

Without the lock, an account renamed while its new membership was not yet committed kept the
old name: the rename's trigger could not see the membership, and the membership's trigger had
read the name before the rename. With it, one of the two waits for the other, and whichever
runs second sees the first.
"""

from django.db import migrations

from portal.migration_sql import per_vendor

SORT_NAME = "lower(coalesce(nullif(a.name, ''), a.email))"


def _function(lock: str) -> str:
    return f"""
CREATE OR REPLACE FUNCTION organizations_membership_sort_name() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    SELECT {SORT_NAME} INTO NEW.sort_name FROM organizations_account a
        WHERE a.id = NEW.account_id {lock};
    RETURN NEW;
END $$;
"""


class Migration(migrations.Migration):
    dependencies = [("organizations", "0004_membership_sort_keys")]

    operations = [
        per_vendor(
            # SQLite writes one transaction at a time: nothing to change there.
            postgresql=[_function("FOR SHARE")],
            sqlite=[],
            postgresql_undo=[_function("")],
            sqlite_undo=[],
        )
    ]
