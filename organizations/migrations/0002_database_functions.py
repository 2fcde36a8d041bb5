"""The organizations app's database functions and triggers, from frozen copies of `organizations/sql/`.

A frozen copy never changes: when a file in `organizations/sql/` changes, a new migration applies a
new copy (tests/portal/test_database_sql.py fails until it does).
"""

from pathlib import Path

from django.db import migrations

FROZEN = Path(__file__).parent / "sql"


def sql(name: str) -> str:
    return (FROZEN / f"0002_{name}.sql").read_text()


class Migration(migrations.Migration):
    dependencies = [('organizations', '0001_initial')]

    operations = [
        migrations.RunSQL([sql("membership_sort_name")], reverse_sql=['DROP TRIGGER IF EXISTS membership_sort_name_on_insert ON organizations_membership; DROP FUNCTION IF EXISTS organizations_membership_sort_name()']),
        migrations.RunSQL([sql("account_sort_name")], reverse_sql=['DROP TRIGGER IF EXISTS account_sort_name_on_update ON organizations_account; DROP FUNCTION IF EXISTS organizations_account_sort_name()']),
    ]
