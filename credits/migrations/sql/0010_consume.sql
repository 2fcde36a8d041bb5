-- credits_consume: one consumption (R22-R25), the API's hot path, in one statement; with
-- p_hold_expires_at it opens a hold instead (R35): same routing, locks and checks, the credits
-- taken into the hold rather than consumed. The other hold functions follow it below.
--
-- Called by credits.services (consumption) with the caller's email, amount and reference. It
-- optionally checks the API token and its scope first (one round trip instead of two), then
-- routes (R23: personal credits when active, else the pool where access is enabled), locks in
-- the portal's fixed order (wallet, then access), checks quota and pool (R22), writes the
-- ledger entry with its lot movements, the caches (wallet balance, access usage, usage
-- rollups) and the audit event. A refusal writes nothing and says why in `outcome`; the caller
-- turns outcomes into errors. The alerts (R30) are saved as a job with the consumption (R45).
--
-- The lots are not locked row by row: every writer of a wallet's lots (this file's functions,
-- grants and purchases, expiry, refunds) holds the wallet's lock first, so the wallet's lock
-- is what keeps them consistent. A pool's wallet row is what all of its consumptions queue
-- for, so the work done while it is locked is kept short: the lots read once, their movements
-- written in one statement, and the pool's audit event written before the lock is taken.
CREATE OR REPLACE FUNCTION credits_consume(
    p_email text,
    p_amount numeric,
    p_reference text,
    p_now timestamp with time zone,
    p_month_start timestamp with time zone,
    p_channel text,
    p_actor bigint,
    p_token_hash text,
    p_scope text,
    p_hold_expires_at timestamp with time zone
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
-- R22-R25 in one statement: the lookups, then the locks in the fixed order (wallet, access),
-- the checks, the ledger entry, its lot movements, both caches and the audit event, and the
-- alerts' job. Refusals write nothing.
DECLARE
    v_token record;
    v_account bigint;
    v_wallet bigint;
    v_alerted boolean;
    v_access record;
    v_acc record;
    v_pool numeric;
    v_used numeric;
    v_level integer;
    v_new_level integer;
    v_room numeric;
    v_entry bigint;
    v_lots bigint[];
    v_remaining numeric[];
    v_after numeric;
    v_low boolean := false;
    v_is_quota boolean;
    v_hold bigint;
    v_audit bigint;
    v_expired boolean;
    v_day boolean;
    v_month boolean;
    v_kind text := CASE WHEN p_hold_expires_at IS NULL THEN 'consumption' ELSE 'hold' END;
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
    -- The account and where it would draw from (R23) in one lookup: its personal wallet when
    -- it holds active credits (or holds past their expiry), its enabled access with the pool's
    -- wallet. What is decided from them is checked again under the locks.
    SELECT a.id AS account_id, pw.id AS personal_wallet, ca.id, ca.organization_id,
            o.low_balance_threshold, ow.id AS wallet_id
        INTO v_access
        FROM organizations_account a
        LEFT JOIN credits_wallet pw ON pw.account_id = a.id
            AND (EXISTS (SELECT 1 FROM credits_lot l WHERE l.wallet_id = pw.id
                         AND l.remaining > 0 AND (l.expires_at IS NULL OR l.expires_at > p_now))
                 OR EXISTS (SELECT 1 FROM credits_hold h WHERE h.wallet_id = pw.id
                            AND h.status = 'open' AND h.expires_at <= p_now))
        LEFT JOIN (credits_creditaccess ca
                   JOIN organizations_organization o ON o.id = ca.organization_id
                   LEFT JOIN credits_wallet ow ON ow.organization_id = ca.organization_id)
            ON ca.account_id = a.id AND ca.mode <> 'disabled'
        WHERE a.email = p_email;
    v_account := v_access.account_id;
    IF v_account IS NULL THEN
        RETURN QUERY SELECT 'no_account'::text, NULL::bigint, NULL::text, NULL::bigint,
            NULL::numeric, NULL::bigint, NULL::numeric, NULL::numeric, NULL::numeric, NULL::text,
            NULL::numeric, NULL::integer, NULL::integer, NULL::boolean, NULL::bigint, NULL::bigint;
        RETURN;
    END IF;
    -- R38: consumptions and holds share one namespace of references, kept in two tables:
    -- the check and the insert below are serialized per reference.
    PERFORM pg_advisory_xact_lock(hashtext(p_reference));
    -- R38: a hold's reference is taken for consumptions; a repeated opening is a replay.
    -- R25: a recorded reference answers what was first answered. One lookup, the hold first.
    RETURN QUERY (SELECT CASE WHEN p_hold_expires_at IS NULL THEN 'hold_reference'
            ELSE 'hold_replay' END::text, h.id, 'hold'::text, h.account_id, h.opening_amount,
        h.organization_id, NULL::numeric, NULL::numeric, NULL::numeric, NULL::text,
        NULL::numeric, NULL::integer, NULL::integer, NULL::boolean, h.organization_id, v_account
        FROM credits_hold h WHERE h.reference = p_reference)
        UNION ALL
        (SELECT 'replay'::text, e.id, e.kind::text, e.account_id, e.amount,
        e.organization_id, e.available_after, NULL::numeric, NULL::numeric, NULL::text,
        NULL::numeric, NULL::integer, NULL::integer, NULL::boolean, e.organization_id, v_account
        FROM credits_ledgerentry e WHERE e.reference = p_reference)
        LIMIT 1;
    IF FOUND THEN RETURN; END IF;

    -- R23: personal credits first when they are active.
    v_wallet := v_access.personal_wallet;
    IF v_wallet IS NOT NULL THEN
        PERFORM 1 FROM credits_wallet w WHERE w.id = v_wallet FOR UPDATE;
        LOOP
            -- The spendable lots in burn order (R23), and whether an open hold has expired.
            SELECT array_agg(l.id ORDER BY l.expires_at NULLS LAST, l.arrived_at, l.id),
                   array_agg(l.remaining ORDER BY l.expires_at NULLS LAST, l.arrived_at, l.id),
                   coalesce(sum(l.remaining), 0),
                   EXISTS (SELECT 1 FROM credits_hold h WHERE h.wallet_id = v_wallet
                           AND h.status = 'open' AND h.expires_at <= p_now)
                INTO v_lots, v_remaining, v_pool, v_expired
                FROM credits_lot l WHERE l.wallet_id = v_wallet AND l.remaining > 0
                AND (l.expires_at IS NULL OR l.expires_at > p_now);
            EXIT WHEN NOT v_expired;
            -- R37: expired holds give their credits back before anything is counted.
            PERFORM credits_holds_expire(v_wallet, p_now, p_month_start);
        END LOOP;
        IF v_pool > 0 THEN
            IF p_amount > v_pool THEN
                RETURN QUERY SELECT 'insufficient_personal'::text, NULL::bigint, NULL::text,
                    NULL::bigint, NULL::numeric, NULL::bigint, NULL::numeric, v_pool,
                    NULL::numeric, NULL::text, NULL::numeric, NULL::integer, NULL::integer,
                    NULL::boolean, NULL::bigint, v_account;
                RETURN;
            END IF;
            v_after := v_pool - p_amount;
            IF p_hold_expires_at IS NOT NULL THEN
                INSERT INTO credits_hold (reference, account_id, wallet_id, organization_id,
                    opening_amount, amount, status, period_start, opened_at, expires_at,
                    release_reason)
                    VALUES (p_reference, v_account, v_wallet, NULL, p_amount, p_amount, 'open',
                        NULL, p_now, p_hold_expires_at, '')
                    RETURNING id INTO v_hold;
            END IF;
            -- The entry, its lot movements (each lot in burn order gives what is still to
            -- take, up to what it holds) and the lots' new amounts.
            WITH entry AS (
                INSERT INTO credits_ledgerentry (wallet_id, kind, amount, account_id,
                    organization_id, reference, available_after, actor_id, note, created_at,
                    hold_id)
                    VALUES (v_wallet, v_kind, -p_amount, v_account, NULL,
                        CASE WHEN v_hold IS NULL THEN p_reference END, v_after, p_actor, '',
                        p_now, v_hold)
                    RETURNING id
            ), taken AS (
                SELECT t.lot_id, t.take FROM (
                    SELECT u.lot_id, least(u.remaining,
                        p_amount - (sum(u.remaining) OVER (ORDER BY u.n) - u.remaining)) AS take
                    FROM unnest(v_lots, v_remaining) WITH ORDINALITY AS u(lot_id, remaining, n)
                ) t WHERE t.take > 0
            ), moved AS (
                INSERT INTO credits_lotmovement (entry_id, lot_id, amount)
                    SELECT entry.id, taken.lot_id, -taken.take FROM entry, taken
            ), lots AS (
                UPDATE credits_lot l SET remaining = l.remaining - taken.take
                    FROM taken WHERE l.id = taken.lot_id
            )
            SELECT entry.id INTO v_entry FROM entry;
            UPDATE credits_wallet SET balance = balance - p_amount WHERE id = v_wallet;
            INSERT INTO portal_auditevent (actor_id, channel, organization_id, action, target,
                details, created_at)
                VALUES (p_actor, p_channel, NULL,
                    CASE WHEN v_hold IS NULL THEN 'credits.consumed' ELSE 'credits.held' END,
                    p_reference,
                    jsonb_build_object('account', p_email, 'amount', round(p_amount, 2)::text,
                        'source', 'personal'), p_now);
            RETURN QUERY SELECT 'created'::text, v_entry, v_kind, v_account,
                -p_amount, NULL::bigint, v_after, NULL::numeric, NULL::numeric, NULL::text,
                NULL::numeric, 0, 0, false, NULL::bigint, v_account;
            RETURN;
        END IF;
        -- Spent meanwhile: the pool, if any, is the source.
    END IF;

    IF v_access.id IS NULL THEN
        RETURN QUERY SELECT 'no_source'::text, NULL::bigint, NULL::text, NULL::bigint,
            NULL::numeric, NULL::bigint, NULL::numeric, NULL::numeric, NULL::numeric, NULL::text,
            NULL::numeric, NULL::integer, NULL::integer, NULL::boolean, NULL::bigint, v_account;
        RETURN;
    END IF;
    v_wallet := v_access.wallet_id;
    -- The audit event needs no lock: written before the pool's, it is not part of the wait of
    -- the pool's other consumptions. A refusal below deletes it again, so nothing is written.
    INSERT INTO portal_auditevent (actor_id, channel, organization_id, action, target, details,
        created_at)
        VALUES (p_actor, p_channel, v_access.organization_id,
            CASE WHEN p_hold_expires_at IS NULL THEN 'credits.consumed' ELSE 'credits.held' END,
            p_reference,
            jsonb_build_object('account', p_email, 'amount', round(p_amount, 2)::text,
                'source', 'organization'), p_now)
        RETURNING id INTO v_audit;
    IF v_wallet IS NOT NULL THEN
        SELECT w.low_balance_alerted INTO v_alerted
            FROM credits_wallet w WHERE w.id = v_wallet FOR UPDATE;
    END IF;
    SELECT a.mode, a."limit", a.period, a.period_start, a.used, a.alert_level INTO v_acc
        FROM credits_creditaccess a WHERE a.id = v_access.id FOR UPDATE;
    v_pool := 0;
    IF v_wallet IS NOT NULL THEN
        LOOP
            -- The spendable lots in burn order (R23), and whether an open hold has expired.
            SELECT array_agg(l.id ORDER BY l.expires_at NULLS LAST, l.arrived_at, l.id),
                   array_agg(l.remaining ORDER BY l.expires_at NULLS LAST, l.arrived_at, l.id),
                   coalesce(sum(l.remaining), 0),
                   EXISTS (SELECT 1 FROM credits_hold h WHERE h.wallet_id = v_wallet
                           AND h.status = 'open' AND h.expires_at <= p_now)
                INTO v_lots, v_remaining, v_pool, v_expired
                FROM credits_lot l WHERE l.wallet_id = v_wallet AND l.remaining > 0
                AND (l.expires_at IS NULL OR l.expires_at > p_now);
            EXIT WHEN NOT v_expired;
            -- R37: expired holds give their credits (and quota usage) back before the checks.
            PERFORM credits_holds_expire(v_wallet, p_now, p_month_start);
            SELECT a.mode, a."limit", a.period, a.period_start, a.used, a.alert_level
                INTO v_acc FROM credits_creditaccess a WHERE a.id = v_access.id;
        END LOOP;
    END IF;
    IF v_acc.mode = 'disabled' THEN
        DELETE FROM portal_auditevent WHERE id = v_audit;
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
    IF v_is_quota THEN
        v_room := greatest(v_acc."limit" - v_used, 0);
        -- R22: when both the quota and the pool are short, the answer is quota_exceeded.
        IF p_amount > v_room THEN
            DELETE FROM portal_auditevent WHERE id = v_audit;
            RETURN QUERY SELECT 'quota_exceeded'::text, NULL::bigint, NULL::text, NULL::bigint,
                NULL::numeric, NULL::bigint, NULL::numeric, v_room, v_acc."limit",
                v_acc.period::text, NULL::numeric, NULL::integer, NULL::integer, NULL::boolean,
                v_access.organization_id, v_account;
            RETURN;
        END IF;
    END IF;
    IF p_amount > v_pool THEN
        DELETE FROM portal_auditevent WHERE id = v_audit;
        RETURN QUERY SELECT 'insufficient_pool'::text, NULL::bigint, NULL::text, NULL::bigint,
            NULL::numeric, NULL::bigint, NULL::numeric, v_pool, NULL::numeric, NULL::text,
            NULL::numeric, NULL::integer, NULL::integer, NULL::boolean,
            v_access.organization_id, v_account;
        RETURN;
    END IF;
    v_used := v_used + p_amount;
    v_after := CASE WHEN v_is_quota THEN least(v_acc."limit" - v_used, v_pool - p_amount)
                    ELSE v_pool - p_amount END;
    -- R30: the low-balance alert goes out once, when the pool falls below the threshold.
    v_low := v_access.low_balance_threshold IS NOT NULL
        AND v_pool - p_amount < v_access.low_balance_threshold AND NOT v_alerted;
    v_new_level := 0;
    IF v_is_quota THEN
        -- R30: the highest threshold (80 or 100 percent) reached, never lowered in a period.
        v_new_level := greatest(v_level, CASE
            WHEN v_acc."limit" <= 0 OR v_used >= v_acc."limit" THEN 100
            WHEN v_used * 5 >= v_acc."limit" * 4 THEN 80
            ELSE 0 END);
    END IF;
    IF p_hold_expires_at IS NOT NULL THEN
        INSERT INTO credits_hold (reference, account_id, wallet_id, organization_id,
            opening_amount, amount, status, period_start, opened_at, expires_at, release_reason)
            VALUES (p_reference, v_account, v_wallet, v_access.organization_id, p_amount,
                p_amount, 'open', CASE WHEN v_acc.period = 'monthly' THEN p_month_start END,
                p_now, p_hold_expires_at, '')
            RETURNING id INTO v_hold;
    END IF;
    -- The entry, its lot movements (each lot in burn order gives what is still to take, up to
    -- what it holds) and the lots' new amounts, in one statement.
    WITH entry AS (
        INSERT INTO credits_ledgerentry (wallet_id, kind, amount, account_id, organization_id,
            reference, available_after, quota_limit, quota_used_after, actor_id, note,
            created_at, hold_id)
            VALUES (v_wallet, v_kind, -p_amount, v_account, v_access.organization_id,
                CASE WHEN v_hold IS NULL THEN p_reference END, v_after,
                CASE WHEN v_is_quota THEN v_acc."limit" END,
                CASE WHEN v_is_quota THEN v_used END, p_actor, '', p_now, v_hold)
            RETURNING id
    ), taken AS (
        SELECT t.lot_id, t.take FROM (
            SELECT u.lot_id, least(u.remaining,
                p_amount - (sum(u.remaining) OVER (ORDER BY u.n) - u.remaining)) AS take
            FROM unnest(v_lots, v_remaining) WITH ORDINALITY AS u(lot_id, remaining, n)
        ) t WHERE t.take > 0
    ), moved AS (
        INSERT INTO credits_lotmovement (entry_id, lot_id, amount)
            SELECT entry.id, taken.lot_id, -taken.take FROM entry, taken
    ), lots AS (
        UPDATE credits_lot l SET remaining = l.remaining - taken.take
            FROM taken WHERE l.id = taken.lot_id
    )
    SELECT entry.id INTO v_entry FROM entry;
    -- The caches, in one statement: the usage rollups of the charts (a day of the pool, a
    -- month of the member; a hold counts there once captured), the wallet's balance, and the
    -- access's usage and alert level.
    WITH day_row AS (
        UPDATE credits_poolusageday d SET consumed = d.consumed + p_amount
            WHERE v_hold IS NULL AND d.organization_id = v_access.organization_id
            AND d.day = (p_now AT TIME ZONE 'UTC')::date
            RETURNING 1
    ), month_row AS (
        UPDATE credits_memberusagemonth m SET consumed = m.consumed + p_amount
            WHERE v_hold IS NULL AND m.organization_id = v_access.organization_id
            AND m.account_id = v_account
            AND m.month = date_trunc('month', p_now AT TIME ZONE 'UTC')::date
            RETURNING 1
    ), wallet AS (
        UPDATE credits_wallet w SET balance = w.balance - p_amount,
            low_balance_alerted = w.low_balance_alerted OR v_low
            WHERE w.id = v_wallet
    ), access AS (
        UPDATE credits_creditaccess a SET used = v_used,
            period_start = CASE WHEN a.period = 'monthly' THEN p_month_start END,
            alert_level = v_new_level
            WHERE a.id = v_access.id
    )
    SELECT EXISTS (SELECT FROM day_row), EXISTS (SELECT FROM month_row) INTO v_day, v_month;
    IF v_hold IS NULL AND NOT v_day THEN
        -- The pool's first consumption of the day: the day's row is made.
        INSERT INTO credits_poolusageday (organization_id, day, consumed)
            VALUES (v_access.organization_id, (p_now AT TIME ZONE 'UTC')::date, p_amount)
            ON CONFLICT ON CONSTRAINT pool_usage_day_unique
            DO UPDATE SET consumed = credits_poolusageday.consumed + EXCLUDED.consumed;
    END IF;
    IF v_hold IS NULL AND NOT v_month THEN
        -- The member's first consumption of the month: the month's row is made.
        INSERT INTO credits_memberusagemonth (organization_id, account_id, month, consumed)
            VALUES (v_access.organization_id, v_account,
                date_trunc('month', p_now AT TIME ZONE 'UTC')::date, p_amount)
            ON CONFLICT ON CONSTRAINT member_usage_month_unique
            DO UPDATE SET consumed = credits_memberusagemonth.consumed + EXCLUDED.consumed;
    END IF;
    -- R30, R45: the alerts are a job saved with the consumption itself and emailed by a
    -- worker (credits.tasks.alerts_send): off this hot path, never lost, and never sent for
    -- a consumption that rolled back.
    IF v_new_level > v_level OR v_low THEN
        PERFORM procrastinate_defer_jobs_v1(ARRAY[ROW('default', 'credits.alerts_send', 0,
            NULL, NULL, jsonb_build_object(
                'account_id', v_account,
                'organization_id', v_access.organization_id,
                'quota_level', CASE WHEN v_new_level > v_level THEN v_new_level END,
                'used_after', v_used::text,
                'pool_after', CASE WHEN v_low THEN (v_pool - p_amount)::text END),
            NULL)::procrastinate_job_to_defer_v1]);
    END IF;
    RETURN QUERY SELECT 'created'::text, v_entry, v_kind, v_account, -p_amount,
        v_access.organization_id, v_after, v_pool - p_amount, v_acc."limit", v_acc.period::text,
        v_used, v_level, v_new_level, v_low, v_access.organization_id, v_account;
END;
$function$;

-- credits_usage_add: the usage rollups the charts read (a day of the pool, a month of a member).
-- Both rows exist after the day's (the month's) first consumption, so each is updated first
-- and inserted only when missing: cheaper than an insert that meets its conflict, and it runs
-- under the pool's lock. In PL/pgSQL rather than SQL so that its plans are kept per session
-- instead of made again at every call.
CREATE OR REPLACE FUNCTION credits_usage_add(
    p_organization bigint,
    p_account bigint,
    p_now timestamp with time zone,
    p_amount numeric
)
RETURNS void
LANGUAGE plpgsql AS $function$
BEGIN
    UPDATE credits_poolusageday SET consumed = consumed + p_amount
        WHERE organization_id = p_organization AND day = (p_now AT TIME ZONE 'UTC')::date;
    IF NOT FOUND THEN
        INSERT INTO credits_poolusageday (organization_id, day, consumed)
            VALUES (p_organization, (p_now AT TIME ZONE 'UTC')::date, p_amount)
            ON CONFLICT ON CONSTRAINT pool_usage_day_unique
            DO UPDATE SET consumed = credits_poolusageday.consumed + EXCLUDED.consumed;
    END IF;
    UPDATE credits_memberusagemonth SET consumed = consumed + p_amount
        WHERE organization_id = p_organization AND account_id = p_account
        AND month = date_trunc('month', p_now AT TIME ZONE 'UTC')::date;
    IF NOT FOUND THEN
        INSERT INTO credits_memberusagemonth (organization_id, account_id, month, consumed)
            VALUES (p_organization, p_account,
                date_trunc('month', p_now AT TIME ZONE 'UTC')::date, p_amount)
            ON CONFLICT ON CONSTRAINT member_usage_month_unique
            DO UPDATE SET consumed = credits_memberusagemonth.consumed + EXCLUDED.consumed;
    END IF;
END;
$function$;

-- credits_available: what the account can spend now (R22, R23), read under the caller's locks.
CREATE OR REPLACE FUNCTION credits_available(
    p_account bigint,
    p_now timestamp with time zone,
    p_month_start timestamp with time zone
)
RETURNS numeric
LANGUAGE plpgsql AS $function$
DECLARE
    v_personal numeric;
    v_acc record;
    v_pool numeric;
    v_used numeric;
BEGIN
    SELECT coalesce(sum(l.remaining), 0) INTO v_personal FROM credits_lot l
        JOIN credits_wallet w ON w.id = l.wallet_id
        WHERE w.account_id = p_account AND l.remaining > 0
        AND (l.expires_at IS NULL OR l.expires_at > p_now);
    IF v_personal > 0 THEN
        RETURN v_personal;
    END IF;
    SELECT a.mode, a."limit", a.period, a.period_start, a.used, w.id AS wallet_id INTO v_acc
        FROM credits_creditaccess a
        LEFT JOIN credits_wallet w ON w.organization_id = a.organization_id
        WHERE a.account_id = p_account AND a.mode <> 'disabled';
    IF v_acc.mode IS NULL THEN
        RETURN 0;
    END IF;
    SELECT coalesce(sum(l.remaining), 0) INTO v_pool FROM credits_lot l
        WHERE l.wallet_id = v_acc.wallet_id AND l.remaining > 0
        AND (l.expires_at IS NULL OR l.expires_at > p_now);
    IF v_acc.mode = 'unlimited' THEN
        RETURN v_pool;
    END IF;
    v_used := CASE WHEN v_acc.period = 'monthly'
        AND v_acc.period_start IS DISTINCT FROM p_month_start THEN 0 ELSE v_acc.used END;
    RETURN greatest(least(v_acc."limit" - v_used, v_pool), 0);
END;
$function$;

-- credits_hold_settle: capture p_capture of an open hold (0: release it), as R37 says. The
-- caller holds the wallet's lock and the hold's. Everything held goes back to the lots it
-- came from; a capture then takes its amount from those same lots (expired or not: the hold
-- guaranteed it) as a consumption under the hold's reference. What goes back to a lot that
-- has been written off as expired is written off again at once. The quota usage of the
-- period the hold was opened in gives back what was not captured.
CREATE OR REPLACE FUNCTION credits_hold_settle(
    p_hold bigint,
    p_capture numeric,
    p_status text,
    p_now timestamp with time zone,
    p_actor bigint,
    p_channel text,
    p_reason text
)
RETURNS void
LANGUAGE plpgsql AS $function$
DECLARE
    v_h record;
    v_access_id bigint;
    v_access_period text;
    v_access_start timestamp with time zone;
    v_release bigint;
    v_consume bigint;
    v_lots bigint[];
    v_held numeric[];
    v_expired boolean[];
    v_i integer;
    v_left numeric := p_capture;
    v_take numeric;
    v_back numeric;
    v_expiry bigint;
    v_written_off numeric := 0;
BEGIN
    SELECT h.* INTO v_h FROM credits_hold h WHERE h.id = p_hold;
    IF v_h.organization_id IS NOT NULL THEN
        SELECT a.id, a.period, a.period_start
            INTO v_access_id, v_access_period, v_access_start FROM credits_creditaccess a
            WHERE a.account_id = v_h.account_id AND a.organization_id = v_h.organization_id
            FOR UPDATE;
    END IF;
    -- What the hold took from each lot, listed in burn order (R23); the wallet's lock, which
    -- every writer of its lots takes first, keeps them as read.
    SELECT array_agg(t.lot_id ORDER BY l.expires_at NULLS LAST, l.arrived_at, l.id),
           array_agg(t.held ORDER BY l.expires_at NULLS LAST, l.arrived_at, l.id),
           array_agg(l.expired_entry_id IS NOT NULL
                     ORDER BY l.expires_at NULLS LAST, l.arrived_at, l.id)
        INTO v_lots, v_held, v_expired
        FROM (SELECT m.lot_id, -sum(m.amount) AS held FROM credits_lotmovement m
              JOIN credits_ledgerentry e ON e.id = m.entry_id
              WHERE e.hold_id = p_hold AND e.kind IN ('hold', 'release')
              GROUP BY m.lot_id HAVING sum(m.amount) <> 0) t
        JOIN credits_lot l ON l.id = t.lot_id;

    INSERT INTO credits_ledgerentry (wallet_id, kind, amount, account_id, organization_id,
        actor_id, note, created_at, hold_id)
        VALUES (v_h.wallet_id, 'release', v_h.amount, v_h.account_id, v_h.organization_id,
            p_actor, left(p_reason, 255), p_now, p_hold)
        RETURNING id INTO v_release;
    INSERT INTO credits_lotmovement (entry_id, lot_id, amount)
        SELECT v_release, u.lot_id, u.held FROM unnest(v_lots, v_held) AS u(lot_id, held);
    UPDATE credits_lot l SET remaining = l.remaining + u.held
        FROM unnest(v_lots, v_held) AS u(lot_id, held) WHERE l.id = u.lot_id;
    IF p_capture > 0 THEN
        INSERT INTO credits_ledgerentry (wallet_id, kind, amount, account_id, organization_id,
            reference, actor_id, note, created_at, hold_id)
            VALUES (v_h.wallet_id, 'consumption', -p_capture, v_h.account_id,
                v_h.organization_id, v_h.reference, p_actor, '', p_now, p_hold)
            RETURNING id INTO v_consume;
        IF v_h.organization_id IS NOT NULL THEN
            PERFORM credits_usage_add(v_h.organization_id, v_h.account_id, p_now, p_capture);
        END IF;
    END IF;
    FOR v_i IN 1 .. coalesce(array_length(v_lots, 1), 0) LOOP
        v_take := least(v_held[v_i], greatest(v_left, 0));
        IF v_take > 0 THEN
            INSERT INTO credits_lotmovement (entry_id, lot_id, amount)
                VALUES (v_consume, v_lots[v_i], -v_take);
            UPDATE credits_lot SET remaining = remaining - v_take WHERE id = v_lots[v_i];
            v_left := v_left - v_take;
        END IF;
        v_back := v_held[v_i] - v_take;
        IF v_back > 0 AND v_expired[v_i] THEN
            -- Given back to a lot already written off as expired: it stays expired.
            INSERT INTO credits_ledgerentry (wallet_id, kind, amount, account_id,
                organization_id, note, created_at)
                VALUES (v_h.wallet_id, 'expiry', -v_back,
                    CASE WHEN v_h.organization_id IS NULL THEN v_h.account_id END,
                    v_h.organization_id, 'Hold given back to expired lot #' || v_lots[v_i],
                    p_now)
                RETURNING id INTO v_expiry;
            INSERT INTO credits_lotmovement (entry_id, lot_id, amount)
                VALUES (v_expiry, v_lots[v_i], -v_back);
            UPDATE credits_lot SET remaining = remaining - v_back WHERE id = v_lots[v_i];
            v_written_off := v_written_off + v_back;
        END IF;
    END LOOP;

    v_back := v_h.amount - p_capture;
    UPDATE credits_wallet SET balance = balance + v_back - v_written_off
        WHERE id = v_h.wallet_id;
    IF v_access_id IS NOT NULL AND v_back > 0
        -- The cached usage includes the hold when it covers the hold's opening (R37).
        AND (v_access_period <> 'monthly' OR v_h.opened_at >= v_access_start) THEN
        UPDATE credits_creditaccess SET used = greatest(used - v_back, 0)
            WHERE id = v_access_id;
    END IF;
    UPDATE credits_hold SET status = p_status, settled_at = p_now,
        captured = CASE WHEN p_capture > 0 THEN p_capture END,
        release_reason = left(p_reason, 255)
        WHERE id = p_hold;
    INSERT INTO portal_auditevent (actor_id, channel, organization_id, action, target, details,
        created_at)
        VALUES (p_actor, p_channel, v_h.organization_id,
            CASE p_status WHEN 'captured' THEN 'credits.hold_captured'
                          WHEN 'expired' THEN 'credits.hold_expired'
                          ELSE 'credits.hold_released' END,
            v_h.reference,
            jsonb_build_object('account', (SELECT email FROM organizations_account
                                           WHERE id = v_h.account_id),
                'held', round(v_h.amount, 2)::text, 'captured', round(p_capture, 2)::text)
            || CASE WHEN p_reason <> '' THEN jsonb_build_object('reason', p_reason)
                    ELSE '{}'::jsonb END,
            p_now);
END;
$function$;

-- credits_holds_expire: release every open hold of the wallet whose expiry has come (R37).
-- The caller holds the wallet's lock. Returns how many were released.
CREATE OR REPLACE FUNCTION credits_holds_expire(
    p_wallet bigint,
    p_now timestamp with time zone,
    p_month_start timestamp with time zone
)
RETURNS integer
LANGUAGE plpgsql AS $function$
DECLARE
    v_hold record;
    v_count integer := 0;
BEGIN
    FOR v_hold IN SELECT h.id FROM credits_hold h
        WHERE h.wallet_id = p_wallet AND h.status = 'open' AND h.expires_at <= p_now
        ORDER BY h.id FOR UPDATE
    LOOP
        PERFORM credits_hold_settle(v_hold.id, 0, 'expired', p_now, NULL, 'system', '');
        v_count := v_count + 1;
    END LOOP;
    RETURN v_count;
END;
$function$;

-- credits_hold_change: raise, capture or release one hold (R36-R38) in one statement. The
-- token and its scope are checked first, as for a consumption; then the locks in the portal's
-- order (wallet, access; the hold's row after its wallet; the lots kept by the wallet's lock),
-- expired holds of the wallet released, and the operation. `p_action`: 'raise' (p_amount: the
-- new total), 'capture' (p_amount: the amount, NULL for all) or 'release'.
CREATE OR REPLACE FUNCTION credits_hold_change(
    p_action text,
    p_reference text,
    p_amount numeric,
    p_now timestamp with time zone,
    p_month_start timestamp with time zone,
    p_channel text,
    p_actor bigint,
    p_token_hash text,
    p_scope text,
    p_reason text
)
RETURNS TABLE(
    outcome text,
    hold_id bigint,
    account_email text,
    organization_id bigint,
    amount numeric,
    status text,
    captured numeric,
    expires_at timestamp with time zone,
    available_after numeric,
    figure numeric,
    quota_limit numeric,
    quota_period text
)
LANGUAGE plpgsql AS $function$
-- Output columns share names with table columns; in queries the names mean the columns.
#variable_conflict use_column
DECLARE
    v_token record;
    v_h record;
    v_acc record;
    v_extra numeric;
    v_pool numeric;
    v_used numeric;
    v_same boolean;
    v_room numeric;
    v_entry bigint;
    v_lot record;
    v_left numeric;
    v_take numeric;
    v_capture numeric;
    v_outcome text;
    v_after numeric;
BEGIN
    IF p_token_hash IS NOT NULL THEN
        SELECT t.id, t.scopes, t.last_used_at INTO v_token FROM portal_apitoken t
            WHERE t.token_hash = p_token_hash AND t.revoked_at IS NULL;
        IF NOT FOUND OR NOT (v_token.scopes ? p_scope) THEN
            RETURN QUERY SELECT
                CASE WHEN v_token.id IS NULL THEN 'unauthenticated' ELSE 'forbidden' END::text,
                NULL::bigint, NULL::text, NULL::bigint, NULL::numeric, NULL::text,
                NULL::numeric, NULL::timestamptz, NULL::numeric, NULL::numeric, NULL::numeric,
                NULL::text;
            RETURN;
        END IF;
        IF v_token.last_used_at IS NULL OR v_token.last_used_at < p_now - interval '1 minute' THEN
            UPDATE portal_apitoken SET last_used_at = p_now WHERE id = (
                SELECT t.id FROM portal_apitoken t WHERE t.id = v_token.id
                FOR UPDATE SKIP LOCKED);
        END IF;
    END IF;
    SELECT h.id, h.wallet_id INTO v_h FROM credits_hold h WHERE h.reference = p_reference;
    IF v_h.id IS NULL THEN
        RETURN QUERY SELECT 'not_found'::text, NULL::bigint, NULL::text, NULL::bigint,
            NULL::numeric, NULL::text, NULL::numeric, NULL::timestamptz, NULL::numeric,
            NULL::numeric, NULL::numeric, NULL::text;
        RETURN;
    END IF;
    PERFORM 1 FROM credits_wallet w WHERE w.id = v_h.wallet_id FOR UPDATE;
    PERFORM credits_holds_expire(v_h.wallet_id, p_now, p_month_start);
    SELECT h.* INTO v_h FROM credits_hold h WHERE h.id = v_h.id FOR UPDATE;
    v_outcome := p_action || 'd';

    IF v_h.status <> 'open' THEN
        -- R38: the same capture or release again answers as the first time.
        IF (p_action = 'capture' AND v_h.status = 'captured'
                AND (p_amount IS NOT DISTINCT FROM v_h.capture_requested
                     OR p_amount = v_h.captured))
            OR (p_action = 'release' AND v_h.status = 'released') THEN
            v_outcome := 'replay';
        ELSE
            v_outcome := 'hold_not_open';
        END IF;
    ELSIF v_h.expires_at <= p_now THEN
        v_outcome := 'hold_not_open';  -- not reached: expired holds were released above
    ELSIF p_action = 'raise' THEN
        v_extra := p_amount - v_h.amount;
        IF v_extra < 0 THEN
            v_outcome := 'lower';
        ELSIF v_extra = 0 THEN
            v_outcome := 'unchanged';
        ELSE
            -- Personal credits have no access row: the record is given its shape empty.
            SELECT NULL::bigint AS id, NULL::text AS mode, NULL::numeric AS "limit",
                NULL::text AS period, NULL::timestamptz AS period_start, 0::numeric AS used
                INTO v_acc;
            IF v_h.organization_id IS NOT NULL THEN
                SELECT a.id, a.mode::text, a."limit", a.period::text, a.period_start, a.used
                    INTO v_acc
                    FROM credits_creditaccess a
                    WHERE a.account_id = v_h.account_id
                      AND a.organization_id = v_h.organization_id
                    FOR UPDATE;
                IF v_acc.id IS NULL OR v_acc.mode = 'disabled' THEN
                    v_outcome := 'access_disabled';
                END IF;
            END IF;
            IF v_outcome = 'raised' THEN
                SELECT coalesce(sum(l.remaining), 0) INTO v_pool FROM credits_lot l
                    WHERE l.wallet_id = v_h.wallet_id AND l.remaining > 0
                    AND (l.expires_at IS NULL OR l.expires_at > p_now);
                v_used := CASE WHEN v_acc.period = 'monthly'
                    AND v_acc.period_start IS DISTINCT FROM p_month_start
                    THEN 0 ELSE v_acc.used END;
                IF v_acc.mode = 'quota' THEN
                    v_room := greatest(v_acc."limit" - v_used, 0);
                    IF v_extra > v_room THEN
                        v_outcome := 'quota_exceeded';
                        RETURN QUERY SELECT v_outcome, v_h.id, NULL::text,
                            v_h.organization_id, v_h.amount, v_h.status::text, NULL::numeric,
                            v_h.expires_at, NULL::numeric, v_room, v_acc."limit",
                            v_acc.period::text;
                        RETURN;
                    END IF;
                END IF;
                IF v_extra > v_pool THEN
                    v_outcome := CASE WHEN v_h.organization_id IS NULL
                        THEN 'insufficient_personal' ELSE 'insufficient_pool' END;
                    RETURN QUERY SELECT v_outcome, v_h.id, NULL::text, v_h.organization_id,
                        v_h.amount, v_h.status::text, NULL::numeric, v_h.expires_at, NULL::numeric,
                        v_pool, NULL::numeric, NULL::text;
                    RETURN;
                END IF;
                INSERT INTO credits_ledgerentry (wallet_id, kind, amount, account_id,
                    organization_id, actor_id, note, created_at, hold_id, quota_limit,
                    quota_used_after)
                    VALUES (v_h.wallet_id, 'hold', -v_extra, v_h.account_id,
                        v_h.organization_id, p_actor, '', p_now, v_h.id,
                        CASE WHEN v_acc.mode = 'quota' THEN v_acc."limit" END,
                        CASE WHEN v_acc.mode = 'quota' THEN v_used + v_extra END)
                    RETURNING id INTO v_entry;
                v_left := v_extra;
                FOR v_lot IN SELECT l.id, l.remaining FROM credits_lot l
                    WHERE l.wallet_id = v_h.wallet_id AND l.remaining > 0
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
                UPDATE credits_wallet SET balance = balance - v_extra WHERE id = v_h.wallet_id;
                IF v_acc.id IS NOT NULL THEN
                    -- R37: a raise counts in the period the hold was opened in.
                    v_same := v_acc.period <> 'monthly' OR v_h.opened_at >= p_month_start;
                    IF v_same THEN
                        UPDATE credits_creditaccess SET used = v_used + v_extra,
                            period_start = CASE WHEN period = 'monthly' THEN p_month_start END
                            WHERE id = v_acc.id;
                    END IF;
                END IF;
                UPDATE credits_hold SET amount = p_amount WHERE id = v_h.id;
                INSERT INTO portal_auditevent (actor_id, channel, organization_id, action,
                    target, details, created_at)
                    VALUES (p_actor, p_channel, v_h.organization_id, 'credits.hold_raised',
                        v_h.reference,
                        jsonb_build_object('account', (SELECT email FROM organizations_account
                                                       WHERE id = v_h.account_id),
                            'from', round(v_h.amount, 2)::text,
                            'to', round(p_amount, 2)::text), p_now);
            END IF;
        END IF;
    ELSIF p_action = 'capture' THEN
        v_capture := coalesce(p_amount, v_h.amount);
        IF v_capture > v_h.amount THEN
            v_outcome := 'capture_exceeds_hold';
        ELSE
            PERFORM credits_hold_settle(v_h.id, v_capture, 'captured', p_now, p_actor,
                p_channel, '');
        END IF;
    ELSE
        PERFORM credits_hold_settle(v_h.id, 0, 'released', p_now, p_actor, p_channel,
            coalesce(p_reason, ''));
    END IF;

    IF v_outcome IN ('captured', 'released') THEN
        v_after := credits_available(v_h.account_id, p_now, p_month_start);
        UPDATE credits_hold SET capture_requested = p_amount, settled_available_after = v_after
            WHERE id = v_h.id;
        UPDATE credits_ledgerentry SET available_after = v_after
            WHERE hold_id = v_h.id AND kind = 'consumption';
    ELSIF v_outcome = 'replay' THEN
        v_after := v_h.settled_available_after;
    ELSE
        v_after := credits_available(v_h.account_id, p_now, p_month_start);
    END IF;
    RETURN QUERY SELECT v_outcome, h.id, a.email::text, h.organization_id, h.amount,
        h.status::text,
        h.captured, h.expires_at, v_after, NULL::numeric, NULL::numeric, NULL::text
        FROM credits_hold h JOIN organizations_account a ON a.id = h.account_id
        WHERE h.id = v_h.id;
END;
$function$;
