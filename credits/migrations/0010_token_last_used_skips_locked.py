"""The consumption function writes the token's "last used" without waiting (PostgreSQL).

Once a minute the first consumption with a token updated the token's row and kept it locked
until the end of its statement, lock waits on a busy pool included; the other consumptions
with that token queued behind it. Now the row is updated only if nobody holds it: whoever
holds it is writing the same minute.
"""

import importlib

from django.db import migrations

from portal.migration_sql import per_vendor

checks_token_0007 = importlib.import_module("credits.migrations.0007_consume_checks_token")

OLD = "            UPDATE portal_apitoken SET last_used_at = p_now WHERE id = v_token.id;\n"
NEW = """            UPDATE portal_apitoken SET last_used_at = p_now WHERE id = (
                SELECT t.id FROM portal_apitoken t WHERE t.id = v_token.id
                FOR UPDATE SKIP LOCKED);
"""
assert checks_token_0007.CREATE.count(OLD) == 1
CREATE = checks_token_0007.CREATE.replace(OLD, NEW)


class Migration(migrations.Migration):
    dependencies = [("credits", "0009_membership_credit_mode")]

    operations = [
        per_vendor(
            postgresql=[CREATE],
            sqlite=[],
            postgresql_undo=[checks_token_0007.CREATE],
            sqlite_undo=[],
        )
    ]
