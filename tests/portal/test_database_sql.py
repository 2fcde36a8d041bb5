"""The database functions and triggers are exactly the `.sql` files beside their apps.

Migrations apply frozen copies of the files. Running the files again over the migrated test
database must change nothing: a file edited without a migration that applies it (or a
migration that applied something else) makes the definitions differ, and this test fails.
"""

import re
from pathlib import Path

import pytest
from django.db import connection, transaction

BASE_DIR = Path(__file__).resolve().parent.parent.parent
SQL_FILES = sorted(BASE_DIR.glob("*/sql/*.sql"))
CREATED = re.compile(r"CREATE OR REPLACE (FUNCTION|TRIGGER) (\w+)", re.IGNORECASE)


def _definitions(cursor) -> dict[str, str]:
    """The portal's own functions and triggers (not those of extensions, nor Procrastinate's
    job queue, whose migrations are its own), by name."""
    cursor.execute(
        """
        SELECT p.proname, pg_get_functiondef(p.oid)
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = current_schema() AND p.proname NOT LIKE 'procrastinate%%'
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
        UNION ALL
        SELECT t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t
        WHERE NOT t.tgisinternal AND t.tgname NOT LIKE 'procrastinate%%'
        """
    )
    return dict(cursor.fetchall())


class _Undo(Exception):
    pass


def _definitions_after_running_the_files() -> dict[str, str]:
    after = {}
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            for path in SQL_FILES:
                cursor.execute(path.read_text())
            after.update(_definitions(cursor))
            raise _Undo
    except _Undo:
        pass
    return after


def test_every_sql_file_defines_functions_or_triggers():
    assert SQL_FILES, "no .sql files found"
    for path in SQL_FILES:
        assert CREATED.search(path.read_text()), f"{path.name} creates nothing"


@pytest.mark.django_db
def test_database_definitions_equal_the_sql_files():
    with connection.cursor() as cursor:
        before = _definitions(cursor)
    after = _definitions_after_running_the_files()
    changed = sorted(name for name in after if before.get(name) != after[name])
    assert not changed, f"the database differs from the .sql files for {changed}: add a migration"


@pytest.mark.django_db
def test_every_database_function_and_trigger_has_its_file():
    declared = {m.group(2) for path in SQL_FILES for m in CREATED.finditer(path.read_text())}
    with connection.cursor() as cursor:
        assert set(_definitions(cursor)) == declared


@pytest.mark.django_db
def test_connections_run_without_jit_compilation():
    """A page's query that the planner over-estimates on a large table would otherwise pay
    50-60 ms of JIT compilation for a millisecond of work (portal/settings/base.py)."""
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"
