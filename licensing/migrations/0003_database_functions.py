"""The licensing app's database functions and triggers, from frozen copies of `licensing/sql/`.

A frozen copy never changes: when a file in `licensing/sql/` changes, a new migration applies a
new copy (tests/portal/test_database_sql.py fails until it does).
"""

from pathlib import Path

from django.db import migrations

FROZEN = Path(__file__).parent / "sql"


def sql(name: str) -> str:
    return (FROZEN / f"0003_{name}.sql").read_text()


class Migration(migrations.Migration):
    dependencies = [('licensing', '0002_initial')]

    operations = [
        migrations.RunSQL([sql("seat_tally_insert")], reverse_sql=['DROP TRIGGER IF EXISTS seat_tally_on_insert ON licensing_license; DROP FUNCTION IF EXISTS licensing_seat_tally_insert()']),
        migrations.RunSQL([sql("seat_tally_update")], reverse_sql=['DROP TRIGGER IF EXISTS seat_tally_on_update ON licensing_license; DROP FUNCTION IF EXISTS licensing_seat_tally_update()']),
        migrations.RunSQL([sql("seat_tally_delete")], reverse_sql=['DROP TRIGGER IF EXISTS seat_tally_on_delete ON licensing_license; DROP FUNCTION IF EXISTS licensing_seat_tally_delete()']),
    ]
