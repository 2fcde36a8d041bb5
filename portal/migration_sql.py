"""SQL that migrations run per database vendor (triggers, backfills).

The portal's triggers exist in a PostgreSQL and a SQLite dialect; a migration states both and
`per_vendor` runs the one that fits, forwards and backwards. Kept small and stable: migrations
import it.
"""

from django.db import migrations


def per_vendor(
    *,
    postgresql: list[str],
    sqlite: list[str],
    postgresql_undo: list[str],
    sqlite_undo: list[str],
    first: list[str] = (),
) -> migrations.RunPython:
    """A RunPython that runs `first` (on every vendor), then the vendor's statements; undone
    by the vendor's undo statements."""

    def statements(connection, postgresql_list, sqlite_list):
        return postgresql_list if connection.vendor == "postgresql" else sqlite_list

    def forward(apps, schema_editor):
        for sql in [*first, *statements(schema_editor.connection, postgresql, sqlite)]:
            schema_editor.execute(sql)

    def backward(apps, schema_editor):
        for sql in statements(schema_editor.connection, postgresql_undo, sqlite_undo):
            schema_editor.execute(sql)

    return migrations.RunPython(forward, backward)
