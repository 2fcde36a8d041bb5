"""The members list's credit-access sort key, kept by triggers (SPEC "Performance").

`organizations.Membership.credit_mode` copies `CreditAccess.mode` so that sorting the members
list by credit access reads one index. A trigger copies the mode when an access is made or
its mode is written, whoever writes it; the consumption, which never writes the mode, does not
fire it.
"""

from django.db import migrations

from portal.migration_sql import per_vendor

POSTGRESQL = """
CREATE FUNCTION credits_access_mode_to_membership() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE organizations_membership SET credit_mode = NEW.mode
        WHERE id = NEW.membership_id AND credit_mode IS DISTINCT FROM NEW.mode;
    RETURN NULL;
END $$;
CREATE TRIGGER access_mode_to_membership AFTER INSERT OR UPDATE OF mode
    ON credits_creditaccess FOR EACH ROW EXECUTE FUNCTION credits_access_mode_to_membership();
"""
POSTGRESQL_DROP = """
DROP TRIGGER IF EXISTS access_mode_to_membership ON credits_creditaccess;
DROP FUNCTION IF EXISTS credits_access_mode_to_membership();
"""
SQLITE = [
    f"""CREATE TRIGGER access_mode_to_membership_on_{event.split()[0].lower()}
    AFTER {event} ON credits_creditaccess
    BEGIN
        UPDATE organizations_membership SET credit_mode = NEW.mode
        WHERE id = NEW.membership_id;
    END"""
    for event in ("INSERT", "UPDATE OF mode")
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS access_mode_to_membership_on_insert",
    "DROP TRIGGER IF EXISTS access_mode_to_membership_on_update",
]
BACKFILL = """
UPDATE organizations_membership SET credit_mode = coalesce((
    SELECT c.mode FROM credits_creditaccess c WHERE c.membership_id = organizations_membership.id
), 'disabled')
"""


class Migration(migrations.Migration):
    dependencies = [
        ("credits", "0008_member_usage_by_account"),
        ("organizations", "0004_membership_sort_keys"),
    ]

    operations = [
        per_vendor(
            first=[BACKFILL],
            postgresql=[POSTGRESQL],
            sqlite=SQLITE,
            postgresql_undo=[POSTGRESQL_DROP],
            sqlite_undo=SQLITE_DROP,
        )
    ]
