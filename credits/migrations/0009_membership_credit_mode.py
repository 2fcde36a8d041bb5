"""The members list's credit-access sort key, kept by triggers (SPEC "Performance").

`organizations.Membership.credit_mode` copies `CreditAccess.mode` so that sorting the members
list by credit access reads one index. A trigger copies the mode when an access is made or
its mode is written, whoever writes it; the consumption, which never writes the mode, does not
fire it.
"""

from django.db import migrations

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


def create(apps, schema_editor):
    schema_editor.execute(BACKFILL)
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL)
    else:
        for statement in SQLITE:
            schema_editor.execute(statement)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_DROP)
    else:
        for statement in SQLITE_DROP:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("credits", "0008_member_usage_by_account"),
        ("organizations", "0004_membership_sort_keys"),
    ]

    operations = [migrations.RunPython(create, drop)]
