-- Member tallies (see member_tally_membership.sql): pending invitations made, answered,
-- cancelled or deleted count in and out.
CREATE OR REPLACE FUNCTION organizations_member_tally_invitation() RETURNS trigger
LANGUAGE plpgsql AS $function$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO organizations_membertally (organization_id, members, invitations)
        SELECT organization_id, 0, count(*) FROM new_rows
        WHERE state = 'pending' GROUP BY organization_id;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO organizations_membertally (organization_id, members, invitations)
        SELECT organization_id, 0, -count(*) FROM old_rows
        WHERE state = 'pending' GROUP BY organization_id;
    ELSE
        INSERT INTO organizations_membertally (organization_id, members, invitations)
        SELECT organization_id, 0, sum(change)
        FROM (
            SELECT organization_id, -1 FROM old_rows WHERE state = 'pending'
            UNION ALL
            SELECT organization_id, +1 FROM new_rows WHERE state = 'pending'
        ) AS changes (organization_id, change)
        GROUP BY organization_id
        HAVING sum(change) <> 0;
    END IF;
    RETURN NULL;
END $function$;

CREATE OR REPLACE TRIGGER member_tally_on_invitation_insert
    AFTER INSERT ON organizations_invitation
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION organizations_member_tally_invitation();

CREATE OR REPLACE TRIGGER member_tally_on_invitation_update
    AFTER UPDATE ON organizations_invitation
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION organizations_member_tally_invitation();

CREATE OR REPLACE TRIGGER member_tally_on_invitation_delete
    AFTER DELETE ON organizations_invitation
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION organizations_member_tally_invitation();
