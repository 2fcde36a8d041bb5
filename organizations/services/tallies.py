"""The member tallies' upkeep (rules.md "Performance"): folding their log."""

from django.db import connection, transaction

from organizations.models import MemberTally


def member_tallies_compact() -> int:
    """Fold the member tallies' log into one row per organization; returns the rows left.
    Safe while members change: one statement deletes the rows it sees and writes their sums,
    so a change committed meanwhile keeps its own row. Organizations whose rows add up to
    nothing keep no row (they count zero)."""
    table = MemberTally._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"WITH gone AS (DELETE FROM {table} RETURNING *) "
            f"INSERT INTO {table} (organization_id, members, invitations) "
            "SELECT organization_id, sum(members), sum(invitations) FROM gone "
            "GROUP BY organization_id HAVING sum(members) <> 0 OR sum(invitations) <> 0"
        )
    return MemberTally.objects.count()
