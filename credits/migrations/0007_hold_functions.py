"""Holds (R35-R38) in the database functions: `credits_consume` opens holds too, and the
hold functions join it in `credits/sql/consume.sql` (applied from a frozen copy)."""

from pathlib import Path

from django.db import migrations

FROZEN = Path(__file__).parent / "sql"
OLD_CONSUME = (
    "credits_consume(text, numeric, text, timestamptz, timestamptz, text, bigint, text, text)"
)
NEW_CONSUME = (
    "credits_consume(text, numeric, text, timestamptz, timestamptz, text, bigint, text, text, "
    "timestamptz)"
)


class Migration(migrations.Migration):
    dependencies = [("credits", "0006_holds")]

    operations = [
        migrations.RunSQL(
            [f"DROP FUNCTION IF EXISTS {OLD_CONSUME}", (FROZEN / "0007_consume.sql").read_text()],
            reverse_sql=[
                f"DROP FUNCTION IF EXISTS {NEW_CONSUME}",
                "DROP FUNCTION IF EXISTS credits_hold_change(text, text, numeric, timestamptz, "
                "timestamptz, text, bigint, text, text, text)",
                "DROP FUNCTION IF EXISTS credits_holds_expire(bigint, timestamptz, timestamptz)",
                "DROP FUNCTION IF EXISTS credits_hold_settle(bigint, numeric, text, timestamptz, "
                "bigint, text, text)",
                "DROP FUNCTION IF EXISTS credits_available(bigint, timestamptz, timestamptz)",
                "DROP FUNCTION IF EXISTS credits_usage_add(bigint, bigint, timestamptz, numeric)",
                (FROZEN / "0003_consume.sql").read_text(),
            ],
        ),
    ]
