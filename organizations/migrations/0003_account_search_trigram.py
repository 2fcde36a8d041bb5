"""Trigram indexes for the members search on PostgreSQL (R10, SPEC "Performance").

`icontains` becomes `UPPER(col) LIKE UPPER('%…%')`, which no B-tree serves; at 10,000 members
the search read every account. A GIN trigram index on the same expressions answers it from
the index. pg_trgm is a trusted extension (PostgreSQL 13+), so the database owner can create
it; where that is not allowed the migration leaves the search as it was (slower, same result).
SQLite has no such index and searches as before.
"""

from django.db import migrations

INDEXES = {
    "account_email_trgm": 'UPPER("email"::text) gin_trgm_ops',
    "account_name_trgm": 'UPPER("name"::text) gin_trgm_ops',
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
        if cursor.fetchone() is None:
            try:
                cursor.execute("SAVEPOINT trgm")
                cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
                cursor.execute("RELEASE SAVEPOINT trgm")
            except Exception:  # noqa: BLE001 - no privilege: keep the slower search
                cursor.execute("ROLLBACK TO SAVEPOINT trgm")
                return
        for name, expression in INDEXES.items():
            cursor.execute(
                f'CREATE INDEX IF NOT EXISTS "{name}" ON "organizations_account" '
                f"USING gin ({expression})"
            )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):
    dependencies = [
        ("organizations", "0002_member_import"),
    ]

    operations = [migrations.RunPython(create, drop)]
