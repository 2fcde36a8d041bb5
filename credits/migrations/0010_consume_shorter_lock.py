"""`credits_consume` holds the pool's wallet lock for less time: the lots are no longer locked
one by one (the wallet's lock, which every writer of lots takes first, keeps them), they are
read once and moved in one statement, the caches are written in one statement, and the
pool's audit event is written before the lock; the lookups before the lock are three
statements instead of six. `credits_usage_add` updates the rollups in place (PL/pgSQL, its
plans kept); the hold functions no longer lock the lots either. Applied from a frozen copy of
`credits/sql/consume.sql`."""

from pathlib import Path

from django.db import migrations

FROZEN = Path(__file__).parent / "sql"


class Migration(migrations.Migration):
    dependencies = [("credits", "0009_alerts_as_jobs")]

    operations = [
        migrations.RunSQL(
            (FROZEN / "0010_consume.sql").read_text(),
            reverse_sql=(FROZEN / "0009_consume.sql").read_text(),
        ),
    ]
