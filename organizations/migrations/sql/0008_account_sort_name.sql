-- When an account's name or email changes, whoever changes it (pages, admin, API, a script),
-- its memberships' sort keys follow (see membership_sort_name.sql).
CREATE OR REPLACE FUNCTION organizations_account_sort_name() RETURNS trigger
LANGUAGE plpgsql AS $function$
BEGIN
    UPDATE organizations_membership
        SET sort_name = lower(coalesce(nullif(NEW.name, ''), NEW.email)), sort_email = NEW.email
        WHERE account_id = NEW.id;
    RETURN NULL;
END $function$;

CREATE OR REPLACE TRIGGER account_sort_name_on_update
    AFTER UPDATE OF name, email ON organizations_account
    FOR EACH ROW
    WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.email IS DISTINCT FROM NEW.email)
    EXECUTE FUNCTION organizations_account_sort_name();
