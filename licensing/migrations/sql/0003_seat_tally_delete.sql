-- Seat tallies (see seat_tally_insert.sql): seats deleted count out.
CREATE OR REPLACE FUNCTION licensing_seat_tally_delete() RETURNS trigger
LANGUAGE plpgsql AS $function$
BEGIN
    INSERT INTO licensing_seattally (organization_id, product_id, starts_at, ends_at, live, cancelled, assigned)
    SELECT organization_id, product_id, starts_at, ends_at,
           sum(live), sum(cancelled), sum(assigned)
    FROM (
        SELECT r.organization_id, r.product_id, r.starts_at, r.ends_at, -((r.cancelled_at IS NULL)::int), -((r.cancelled_at IS NOT NULL)::int), -((r.cancelled_at IS NULL AND r.assignee_id IS NOT NULL)::int)
        FROM old_rows r WHERE r.organization_id IS NOT NULL
    ) AS changes (organization_id, product_id, starts_at, ends_at, live, cancelled, assigned)
    GROUP BY organization_id, product_id, starts_at, ends_at
    HAVING sum(live) <> 0 OR sum(cancelled) <> 0 OR sum(assigned) <> 0;
    RETURN NULL;
END $function$;

CREATE OR REPLACE TRIGGER seat_tally_on_delete
    AFTER DELETE ON licensing_license
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION licensing_seat_tally_delete();
