"""The consumption function writes the token's "last used" without waiting (PostgreSQL).

Once a minute the first consumption with a token updated the token's row and kept it locked
until the end of its statement, lock waits on a busy pool included; the other consumptions
with that token queued behind it. Now the row is updated only if nobody holds it: whoever
holds it is writing the same minute.
"""

import importlib

from django.db import migrations

checks_token_0007 = importlib.import_module("credits.migrations.0007_consume_checks_token")

OLD = "            UPDATE portal_apitoken SET last_used_at = p_now WHERE id = v_token.id;\n"
NEW = """            UPDATE portal_apitoken SET last_used_at = p_now WHERE id = (
                SELECT t.id FROM portal_apitoken t WHERE t.id = v_token.id
                FOR UPDATE SKIP LOCKED);
"""
assert checks_token_0007.CREATE.count(OLD) == 1
CREATE = checks_token_0007.CREATE.replace(OLD, NEW)


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(checks_token_0007.CREATE)


class Migration(migrations.Migration):
    dependencies = [("credits", "0009_membership_credit_mode")]

    operations = [migrations.RunPython(forward, backward)]
