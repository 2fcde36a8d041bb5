"""The consumption function checks the API token too (SPEC "Performance").

The endpoint made two round trips per consumption: the bearer token's lookup, then the
function. The function now takes the token's SHA-256 and the scope the endpoint needs and
checks them first, before any lookup or lock: unknown or revoked answers `unauthenticated`,
a missing scope `forbidden`, and "last used" is written at most once a minute, as the Python
check does. Callers outside the API pass NULL and skip the check.
"""

import importlib

from django.db import migrations

from portal.migration_sql import per_vendor

rollups_0006 = importlib.import_module("credits.migrations.0006_usage_rollups")

OLD_SIGNATURE = """    p_email text, p_amount numeric, p_reference text, p_now timestamptz, p_month_start timestamptz,
    p_channel text, p_actor bigint
)"""
NEW_SIGNATURE = """    p_email text, p_amount numeric, p_reference text, p_now timestamptz, p_month_start timestamptz,
    p_channel text, p_actor bigint, p_token_hash text, p_scope text
)"""
OLD_START = """BEGIN
    SELECT a.id INTO v_account FROM organizations_account a WHERE a.email = p_email;"""
NEW_START = """BEGIN
    IF p_token_hash IS NOT NULL THEN
        SELECT t.id, t.scopes, t.last_used_at INTO v_token FROM portal_apitoken t
            WHERE t.token_hash = p_token_hash AND t.revoked_at IS NULL;
        IF NOT FOUND OR NOT (v_token.scopes ? p_scope) THEN
            RETURN QUERY SELECT
                CASE WHEN v_token.id IS NULL THEN 'unauthenticated' ELSE 'forbidden' END::text,
                NULL::bigint, NULL::text, NULL::bigint, NULL::numeric, NULL::bigint,
                NULL::numeric, NULL::numeric, NULL::numeric, NULL::text, NULL::numeric,
                NULL::integer, NULL::integer, NULL::boolean, NULL::bigint, NULL::bigint;
            RETURN;
        END IF;
        IF v_token.last_used_at IS NULL OR v_token.last_used_at < p_now - interval '1 minute' THEN
            UPDATE portal_apitoken SET last_used_at = p_now WHERE id = v_token.id;
        END IF;
    END IF;
    SELECT a.id INTO v_account FROM organizations_account a WHERE a.email = p_email;"""
OLD_DECLARE = "DECLARE\n    v_account bigint;\n"
NEW_DECLARE = "DECLARE\n    v_token record;\n    v_account bigint;\n"

for old in (OLD_SIGNATURE, OLD_START, OLD_DECLARE):
    assert rollups_0006.CREATE.count(old) == 1, old
CREATE = (
    rollups_0006.CREATE.replace(OLD_SIGNATURE, NEW_SIGNATURE)
    .replace(OLD_START, NEW_START)
    .replace(OLD_DECLARE, NEW_DECLARE)
)
DROP_OLD = rollups_0006.consume_0004.DROP
DROP_NEW = (
    "DROP FUNCTION IF EXISTS credits_consume(text, numeric, text, timestamptz, timestamptz, "
    "text, bigint, text, text)"
)


class Migration(migrations.Migration):
    dependencies = [
        ("credits", "0006_usage_rollups"),
        ("portal", "0001_initial"),
    ]

    operations = [
        per_vendor(
            postgresql=[DROP_OLD, CREATE],
            sqlite=[],
            postgresql_undo=[DROP_NEW, rollups_0006.CREATE],
            sqlite_undo=[],
        )
    ]
