-- credits_consume: one consumption (R22-R25), the API's hot path, in one statement.
--
-- Called by credits.services (consumption) with the caller's email, amount and reference. It
-- optionally checks the API token and its scope first (one round trip instead of two), then
-- routes (R23: personal credits when active, else the pool where access is enabled), locks in
-- the portal's fixed order (wallet, access, lots by id), checks quota and pool (R22), writes the
-- ledger entry with its lot movements, the caches (wallet balance, access usage, usage
-- rollups) and the audit event. A refusal writes nothing and says why in `outcome`; the caller
-- turns outcomes into errors and sends the alert emails after the commit (R30).
CREATE OR REPLACE FUNCTION credits_consume(
    p_email text,
    p_amount numeric,
    p_reference text,
    p_now timestamp with time zone,
    p_month_start timestamp with time zone,
    p_channel text,
    p_actor bigint,
    p_token_hash text,
    p_scope text
)
RETURNS TABLE(
    outcome text,
    entry_id bigint,
    entry_kind text,
    entry_account bigint,
    entry_amount numeric,
    entry_organization bigint,
    available_after numeric,
    figure numeric,
    quota_limit numeric,
    quota_period text,
    used_after numeric,
    alert_before integer,
    alert_after integer,
    low_balance boolean,
    organization_id bigint,
    account_id bigint
)
LANGUAGE plpgsql AS $function$
-- R22-R25 in one statement: the lookups, then the locks in the fixed order (wallet, access,
-- lots by id), the checks, the ledger entry, its lot movements, both caches and the audit
-- event. Refusals write nothing. The caller sends the emails after the commit.
DECLARE
    v_token record;
    v_account bigint;
    v_wallet bigint;
    v_balance numeric;
    v_alerted boolean;
    v_access record;
    v_acc record;
    v_pool numeric;
    v_used numeric;
    v_level integer;
    v_new_level integer;
    v_room numeric;
    v_left numeric;
    v_take numeric;
    v_entry bigint;
    v_lot record;
    v_after numeric;
    v_low boolean := false;
    v_is_quota boolean;
BEGIN
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
            UPDATE portal_apitoken SET last_used_at = p_now WHERE id = (
                SELECT t.id FROM portal_apitoken t WHERE t.id = v_token.id
                FOR UPDATE SKIP LOCKED);
        END IF;
    END IF;
    SELECT a.id INTO v_account FROM organizations_account a WHERE a.email = p_email;
    IF v_account IS NULL THEN
        RETURN QUERY SELECT 'no_account'::text, NULL::bigint, NULL::text, NULL::bigint,
            NULL::numeric, NULL::bigint, NULL::numeric, NULL::numeric, NULL::numeric, NULL::text,
            NULL::numeric, NULL::integer, NULL::integer, NULL::boolean, NULL::bigint, NULL::bigint;
        RETURN;
    END IF;
    -- R25: a recorded reference answers what was first answered.
    RETURN QUERY SELECT 'replay'::text, e.id, e.kind::text, e.account_id, e.amount,
        e.organization_id, e.available_after, NULL::numeric, NULL::numeric, NULL::text,
        NULL::numeric, NULL::integer, NULL::integer, NULL::boolean, e.organization_id, v_account
        FROM credits_ledgerentry e WHERE e.reference = p_reference;
    IF FOUND THEN RETURN; END IF;

    -- R23: personal credits first when they are active.
    SELECT w.id INTO v_wallet FROM credits_wallet w WHERE w.account_id = v_account
        AND EXISTS (SELECT 1 FROM credits_lot l WHERE l.wallet_id = w.id AND l.remaining > 0
                    AND (l.expires_at IS NULL OR l.expires_at > p_now));
    IF v_wallet IS NOT NULL THEN
        SELECT w.balance INTO v_balance FROM credits_wallet w WHERE w.id = v_wallet FOR UPDATE;
        PERFORM 1 FROM credits_lot l WHERE l.wallet_id = v_wallet AND l.remaining > 0
            AND (l.expires_at IS NULL OR l.expires_at > p_now) ORDER BY l.id FOR UPDATE;
        SELECT coalesce(sum(l.remaining), 0) INTO v_pool FROM credits_lot l
            WHERE l.wallet_id = v_wallet AND l.remaining > 0
            AND (l.expires_at IS NULL OR l.expires_at > p_now);
        IF v_pool > 0 THEN
            IF p_amount > v_pool THEN
                RETURN QUERY SELECT 'insufficient_personal'::text, NULL::bigint, NULL::text,
                    NULL::bigint, NULL::numeric, NULL::bigint, NULL::numeric, v_pool,
                    NULL::numeric, NULL::text, NULL::numeric, NULL::integer, NULL::integer,
                    NULL::boolean, NULL::bigint, v_account;
                RETURN;
            END IF;
            v_after := v_pool - p_amount;
            INSERT INTO credits_ledgerentry (wallet_id, kind, amount, account_id, organization_id,
                reference, available_after, actor_id, note, created_at)
                VALUES (v_wallet, 'consumption', -p_amount, v_account, NULL, p_reference,
                    v_after, p_actor, '', p_now)
                RETURNING id INTO v_entry;
            v_left := p_amount;
            FOR v_lot IN SELECT l.id, l.remaining FROM credits_lot l
                WHERE l.wallet_id = v_wallet AND l.remaining > 0
                AND (l.expires_at IS NULL OR l.expires_at > p_now)
                ORDER BY l.expires_at NULLS LAST, l.arrived_at, l.id
            LOOP
                EXIT WHEN v_left <= 0;
                v_take := least(v_lot.remaining, v_left);
                INSERT INTO credits_lotmovement (entry_id, lot_id, amount)
                    VALUES (v_entry, v_lot.id, -v_take);
                UPDATE credits_lot SET remaining = remaining - v_take WHERE id = v_lot.id;
                v_left := v_left - v_take;
            END LOOP;
            UPDATE credits_wallet SET balance = balance - p_amount WHERE id = v_wallet;
            INSERT INTO portal_auditevent (actor_id, channel, organization_id, action, target,
                details, created_at)
                VALUES (p_actor, p_channel, NULL, 'credits.consumed', p_reference,
                    jsonb_build_object('account', p_email, 'amount', round(p_amount, 2)::text,
                        'source', 'personal'), p_now);
            RETURN QUERY SELECT 'created'::text, v_entry, 'consumption'::text, v_account,
                -p_amount, NULL::bigint, v_after, NULL::numeric, NULL::numeric, NULL::text,
                NULL::numeric, 0, 0, false, NULL::bigint, v_account;
            RETURN;
        END IF;
        -- Spent meanwhile: the pool, if any, is the source.
    END IF;

    SELECT a.id, a.organization_id, o.low_balance_threshold, w.id AS wallet_id
        INTO v_access
        FROM credits_creditaccess a
        JOIN organizations_organization o ON o.id = a.organization_id
        LEFT JOIN credits_wallet w ON w.organization_id = a.organization_id
        WHERE a.account_id = v_account AND a.mode <> 'disabled';
    IF v_access.id IS NULL THEN
        RETURN QUERY SELECT 'no_source'::text, NULL::bigint, NULL::text, NULL::bigint,
            NULL::numeric, NULL::bigint, NULL::numeric, NULL::numeric, NULL::numeric, NULL::text,
            NULL::numeric, NULL::integer, NULL::integer, NULL::boolean, NULL::bigint, v_account;
        RETURN;
    END IF;
    v_wallet := v_access.wallet_id;
    IF v_wallet IS NOT NULL THEN
        SELECT w.balance, w.low_balance_alerted INTO v_balance, v_alerted
            FROM credits_wallet w WHERE w.id = v_wallet FOR UPDATE;
    END IF;
    SELECT a.mode, a."limit", a.period, a.period_start, a.used, a.alert_level INTO v_acc
        FROM credits_creditaccess a WHERE a.id = v_access.id FOR UPDATE;
    IF v_acc.mode = 'disabled' THEN
        RETURN QUERY SELECT 'access_disabled'::text, NULL::bigint, NULL::text, NULL::bigint,
            NULL::numeric, NULL::bigint, NULL::numeric, NULL::numeric, NULL::numeric, NULL::text,
            NULL::numeric, NULL::integer, NULL::integer, NULL::boolean, NULL::bigint, v_account;
        RETURN;
    END IF;
    v_is_quota := v_acc.mode = 'quota';
    v_used := v_acc.used;
    v_level := v_acc.alert_level;
    IF v_acc.period = 'monthly' AND v_acc.period_start IS DISTINCT FROM p_month_start THEN
        v_used := 0;  -- R22: a new month has begun; R30: its alerts are armed again.
        v_level := 0;
    END IF;
    v_pool := 0;
    IF v_wallet IS NOT NULL THEN
        PERFORM 1 FROM credits_lot l WHERE l.wallet_id = v_wallet AND l.remaining > 0
            AND (l.expires_at IS NULL OR l.expires_at > p_now) ORDER BY l.id FOR UPDATE;
        SELECT coalesce(sum(l.remaining), 0) INTO v_pool FROM credits_lot l
            WHERE l.wallet_id = v_wallet AND l.remaining > 0
            AND (l.expires_at IS NULL OR l.expires_at > p_now);
    END IF;
    IF v_is_quota THEN
        v_room := greatest(v_acc."limit" - v_used, 0);
        -- R22: when both the quota and the pool are short, the answer is quota_exceeded.
        IF p_amount > v_room THEN
            RETURN QUERY SELECT 'quota_exceeded'::text, NULL::bigint, NULL::text, NULL::bigint,
                NULL::numeric, NULL::bigint, NULL::numeric, v_room, v_acc."limit",
                v_acc.period::text, NULL::numeric, NULL::integer, NULL::integer, NULL::boolean,
                v_access.organization_id, v_account;
            RETURN;
        END IF;
    END IF;
    IF p_amount > v_pool THEN
        RETURN QUERY SELECT 'insufficient_pool'::text, NULL::bigint, NULL::text, NULL::bigint,
            NULL::numeric, NULL::bigint, NULL::numeric, v_pool, NULL::numeric, NULL::text,
            NULL::numeric, NULL::integer, NULL::integer, NULL::boolean,
            v_access.organization_id, v_account;
        RETURN;
    END IF;
    v_used := v_used + p_amount;
    v_after := CASE WHEN v_is_quota THEN least(v_acc."limit" - v_used, v_pool - p_amount)
                    ELSE v_pool - p_amount END;
    INSERT INTO credits_ledgerentry (wallet_id, kind, amount, account_id, organization_id,
        reference, available_after, quota_limit, quota_used_after, actor_id, note, created_at)
        VALUES (v_wallet, 'consumption', -p_amount, v_account, v_access.organization_id,
            p_reference, v_after,
            CASE WHEN v_is_quota THEN v_acc."limit" END,
            CASE WHEN v_is_quota THEN v_used END, p_actor, '', p_now)
        RETURNING id INTO v_entry;
    v_left := p_amount;
    FOR v_lot IN SELECT l.id, l.remaining FROM credits_lot l
        WHERE l.wallet_id = v_wallet AND l.remaining > 0
        AND (l.expires_at IS NULL OR l.expires_at > p_now)
        ORDER BY l.expires_at NULLS LAST, l.arrived_at, l.id
    LOOP
        EXIT WHEN v_left <= 0;
        v_take := least(v_lot.remaining, v_left);
        INSERT INTO credits_lotmovement (entry_id, lot_id, amount)
            VALUES (v_entry, v_lot.id, -v_take);
        UPDATE credits_lot SET remaining = remaining - v_take WHERE id = v_lot.id;
        v_left := v_left - v_take;
    END LOOP;
    INSERT INTO credits_poolusageday (organization_id, day, consumed)
        VALUES (v_access.organization_id, (p_now AT TIME ZONE 'UTC')::date, p_amount)
        ON CONFLICT ON CONSTRAINT pool_usage_day_unique
        DO UPDATE SET consumed = credits_poolusageday.consumed + EXCLUDED.consumed;
    INSERT INTO credits_memberusagemonth (organization_id, account_id, month, consumed)
        VALUES (v_access.organization_id, v_account,
            date_trunc('month', p_now AT TIME ZONE 'UTC')::date, p_amount)
        ON CONFLICT ON CONSTRAINT member_usage_month_unique
        DO UPDATE SET consumed = credits_memberusagemonth.consumed + EXCLUDED.consumed;
    -- R30: the low-balance alert goes out once, when the pool falls below the threshold.
    v_low := v_access.low_balance_threshold IS NOT NULL
        AND v_pool - p_amount < v_access.low_balance_threshold AND NOT v_alerted;
    UPDATE credits_wallet SET balance = balance - p_amount,
        low_balance_alerted = low_balance_alerted OR v_low
        WHERE id = v_wallet;
    v_new_level := 0;
    IF v_is_quota THEN
        -- R30: the highest threshold (80 or 100 percent) reached, never lowered in a period.
        v_new_level := greatest(v_level, CASE
            WHEN v_acc."limit" <= 0 OR v_used >= v_acc."limit" THEN 100
            WHEN v_used * 5 >= v_acc."limit" * 4 THEN 80
            ELSE 0 END);
    END IF;
    UPDATE credits_creditaccess SET used = v_used,
        period_start = CASE WHEN period = 'monthly' THEN p_month_start END,
        alert_level = v_new_level
        WHERE id = v_access.id;
    INSERT INTO portal_auditevent (actor_id, channel, organization_id, action, target, details,
        created_at)
        VALUES (p_actor, p_channel, v_access.organization_id, 'credits.consumed', p_reference,
            jsonb_build_object('account', p_email, 'amount', round(p_amount, 2)::text,
                'source', 'organization'), p_now);
    RETURN QUERY SELECT 'created'::text, v_entry, 'consumption'::text, v_account, -p_amount,
        v_access.organization_id, v_after, v_pool - p_amount, v_acc."limit", v_acc.period::text,
        v_used, v_level, v_new_level, v_low, v_access.organization_id, v_account;
END;
$function$;
