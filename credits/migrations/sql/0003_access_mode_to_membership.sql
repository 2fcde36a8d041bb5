-- Membership.credit_mode, the members list's stored sort key by credit access (R10, R20): a
-- copy of the member's CreditAccess.mode, written whenever the access is made or its mode
-- changes, whoever changes it.
CREATE OR REPLACE FUNCTION credits_access_mode_to_membership() RETURNS trigger
LANGUAGE plpgsql AS $function$
BEGIN
    UPDATE organizations_membership SET credit_mode = NEW.mode
        WHERE id = NEW.membership_id AND credit_mode IS DISTINCT FROM NEW.mode;
    RETURN NULL;
END $function$;

CREATE OR REPLACE TRIGGER access_mode_to_membership
    AFTER INSERT OR UPDATE OF mode ON credits_creditaccess
    FOR EACH ROW EXECUTE FUNCTION credits_access_mode_to_membership();
