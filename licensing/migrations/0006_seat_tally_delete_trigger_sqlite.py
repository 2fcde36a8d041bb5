"""SQLite: a seat deleted after the tallies were emptied adds no tally row.

Flushing a SQLite database (the tests do, between browser tests) deletes every table in an
arbitrary order; when the tallies went first, deleting the seats afterwards wrote negative
tallies that outlived the flush. A deleted seat's window always has rows while the seat
exists, so the trigger now writes only when it finds them. PostgreSQL empties tables with
TRUNCATE, which fires no delete trigger: nothing changes there.
"""

import importlib

from django.db import migrations

from portal.migration_sql import per_vendor

tally_0005 = importlib.import_module("licensing.migrations.0005_seat_tally")

WINDOW_STILL_TALLIED = """
        AND EXISTS (SELECT 1 FROM licensing_seattally t
                    WHERE t.organization_id = OLD.organization_id
                    AND t.product_id = OLD.product_id AND t.starts_at = OLD.starts_at
                    AND t.ends_at IS OLD.ends_at)"""
DELETE_TRIGGER = f"""CREATE TRIGGER seat_tally_on_delete AFTER DELETE ON licensing_license
    BEGIN {tally_0005._sqlite_insert("OLD", "-").rstrip(";")}{WINDOW_STILL_TALLIED}; END"""


class Migration(migrations.Migration):
    dependencies = [("licensing", "0005_seat_tally")]

    operations = [
        per_vendor(
            postgresql=[],
            sqlite=["DROP TRIGGER IF EXISTS seat_tally_on_delete", DELETE_TRIGGER],
            postgresql_undo=[],
            sqlite_undo=["DROP TRIGGER IF EXISTS seat_tally_on_delete", tally_0005.SQLITE[2]],
        )
    ]
