"""R45: `credits_consume` saves the alerts (R30) as a background job in its own statement, so
it needs Procrastinate's tables and its `procrastinate_defer_jobs_v1` function first."""

from pathlib import Path

from django.db import migrations

FROZEN = Path(__file__).parent / "sql"


class Migration(migrations.Migration):
    dependencies = [
        ("credits", "0008_hold_labels"),
        ("procrastinate", "0041_post_retry_failed_job"),
    ]

    operations = [
        migrations.RunSQL(
            (FROZEN / "0009_consume.sql").read_text(),
            reverse_sql=(FROZEN / "0007_consume.sql").read_text(),
        ),
    ]
