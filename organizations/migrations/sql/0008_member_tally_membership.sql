-- The member tallies (rules.md "Performance"): how many members and pending invitations an
-- organization has, kept as a log of signed changes so that the members list and the overview
-- count from a few rows instead of every member. Each statement adds one row per organization
-- it touched (adding 500 members from a file is one row), and no two writers wait on the same
-- counter row; `member_tallies_compact` folds the log.
-- This one: memberships made, removed or (never in practice) moved to another organization.
CREATE OR REPLACE FUNCTION organizations_member_tally_membership() RETURNS trigger
LANGUAGE plpgsql AS $function$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO organizations_membertally (organization_id, members, invitations)
        SELECT organization_id, count(*), 0 FROM new_rows GROUP BY organization_id;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO organizations_membertally (organization_id, members, invitations)
        SELECT organization_id, -count(*), 0 FROM old_rows GROUP BY organization_id;
    ELSE
        INSERT INTO organizations_membertally (organization_id, members, invitations)
        SELECT organization_id, sum(change), 0
        FROM (
            SELECT organization_id, -1 FROM old_rows
            UNION ALL
            SELECT organization_id, +1 FROM new_rows
        ) AS changes (organization_id, change)
        GROUP BY organization_id
        HAVING sum(change) <> 0;
    END IF;
    RETURN NULL;
END $function$;

CREATE OR REPLACE TRIGGER member_tally_on_membership_insert
    AFTER INSERT ON organizations_membership
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION organizations_member_tally_membership();

CREATE OR REPLACE TRIGGER member_tally_on_membership_update
    AFTER UPDATE ON organizations_membership
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION organizations_member_tally_membership();

CREATE OR REPLACE TRIGGER member_tally_on_membership_delete
    AFTER DELETE ON organizations_membership
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION organizations_member_tally_membership();
