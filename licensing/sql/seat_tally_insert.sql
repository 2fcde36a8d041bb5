-- The seat tallies (R13, rules.md "Performance"): counts of live, cancelled and assigned seats per
-- organization, product and validity window, kept as a log of signed changes so that seat
-- pages count from a few rows instead of every seat. Each statement on licensing_license adds
-- one row per window it touched; `expire_seats` folds the log (licensing.services
-- seat_tallies_compact) and `verify_ledger` checks it against the seats.
-- This one: seats inserted.
CREATE OR REPLACE FUNCTION licensing_seat_tally_insert() RETURNS trigger
LANGUAGE plpgsql AS $function$
BEGIN
    INSERT INTO licensing_seattally (organization_id, product_id, starts_at, ends_at, live, cancelled, assigned)
    SELECT organization_id, product_id, starts_at, ends_at,
           sum(live), sum(cancelled), sum(assigned)
    FROM (
        SELECT r.organization_id, r.product_id, r.starts_at, r.ends_at, +((r.cancelled_at IS NULL)::int), +((r.cancelled_at IS NOT NULL)::int), +((r.cancelled_at IS NULL AND r.assignee_id IS NOT NULL)::int)
        FROM new_rows r WHERE r.organization_id IS NOT NULL
    ) AS changes (organization_id, product_id, starts_at, ends_at, live, cancelled, assigned)
    GROUP BY organization_id, product_id, starts_at, ends_at
    HAVING sum(live) <> 0 OR sum(cancelled) <> 0 OR sum(assigned) <> 0;
    RETURN NULL;
END $function$;

CREATE OR REPLACE TRIGGER seat_tally_on_insert
    AFTER INSERT ON licensing_license
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION licensing_seat_tally_insert();
