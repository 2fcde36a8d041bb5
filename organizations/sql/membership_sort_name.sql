-- Membership.sort_name and sort_email, the members list's stored sort keys (R10): the
-- account's name (or its email when it has none) lower-cased, and the account's email.
-- Filled when a membership is made or moved to another account. The account row is read FOR
-- SHARE so that a concurrent rename waits for this membership and then rewrites it
-- (organizations/sql/account_sort_name.sql).
CREATE OR REPLACE FUNCTION organizations_membership_sort_name() RETURNS trigger
LANGUAGE plpgsql AS $function$
BEGIN
    SELECT lower(coalesce(nullif(a.name, ''), a.email)), a.email INTO NEW.sort_name, NEW.sort_email
        FROM organizations_account a WHERE a.id = NEW.account_id FOR SHARE;
    RETURN NEW;
END $function$;

CREATE OR REPLACE TRIGGER membership_sort_name_on_insert
    BEFORE INSERT OR UPDATE OF account_id ON organizations_membership
    FOR EACH ROW EXECUTE FUNCTION organizations_membership_sort_name();
