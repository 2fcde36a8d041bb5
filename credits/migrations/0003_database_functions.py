"""The credits app's database functions and triggers, from frozen copies of `credits/sql/`.

A frozen copy never changes: when a file in `credits/sql/` changes, a new migration applies a
new copy (tests/portal/test_database_sql.py fails until it does).
"""

from pathlib import Path

from django.db import migrations

FROZEN = Path(__file__).parent / "sql"


def sql(name: str) -> str:
    return (FROZEN / f"0003_{name}.sql").read_text()


class Migration(migrations.Migration):
    dependencies = [('credits', '0002_initial'), ('portal', '0001_initial'), ('organizations', '0002_database_functions')]

    operations = [
        migrations.RunSQL([sql("consume")], reverse_sql=['DROP FUNCTION IF EXISTS credits_consume(text, numeric, text, timestamptz, timestamptz, text, bigint, text, text)']),
        migrations.RunSQL([sql("access_mode_to_membership")], reverse_sql=['DROP TRIGGER IF EXISTS access_mode_to_membership ON credits_creditaccess; DROP FUNCTION IF EXISTS credits_access_mode_to_membership()']),
    ]
