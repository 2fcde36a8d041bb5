"""Bulk add by CSV (R7): the file checked whole first, then applied row by row."""

import csv
import io

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from organizations.models import (
    Account,
    Invitation,
    InvitationState,
    MemberImport,
    Membership,
    Organization,
    Role,
    normalize_email,
)
from organizations.services.members import member_add
from portal import errors
from portal.audit import audit_record

CSV_MAX_BYTES = 1024 * 1024


CSV_MAX_ROWS = 1000


class CsvInvalid(errors.InvalidRequest):
    """A malformed CSV file: refused as a whole, nothing changes (R7)."""

    def __init__(self, message: str, *, problems: list[str] | None = None):
        self.problems = problems or []
        super().__init__(message, field="file", fields={"file": message})


def member_csv_parse(data: bytes) -> list[dict]:
    """Check the file's format as a whole before anything else (R7).

    UTF-8 with or without BOM, at most 1 MiB and 1,000 data rows, one column; a first row
    without "@" is a header. Blank lines are ignored. A file that breaks these is refused with
    the reason. Otherwise one dict per data row: `line`, `email`, and `reason` for a row that
    will be skipped (not an email address, several values, listed twice).
    """
    if len(data) > CSV_MAX_BYTES:
        raise CsvInvalid("The file is larger than 1 MiB. Split it into smaller files.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CsvInvalid(
            "The file is not UTF-8 text. Save it as “CSV UTF-8” and upload it again."
        ) from exc
    if "\x00" in text:
        raise CsvInvalid("The file is not a CSV text file.")
    try:
        lines = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise CsvInvalid(f"The file could not be read as CSV: {exc}.") from exc
    rows = []
    header_seen = False
    seen: dict[str, int] = {}
    for number, cells in enumerate(lines, start=1):
        values = [cell.strip() for cell in cells if cell.strip()]
        if not values:
            continue
        if not rows and not header_seen and "@" not in values[0]:
            header_seen = True
            if len(values) > 1:
                raise CsvInvalid(
                    f"Line {number}: the header has {len(values)} columns; use one column of "
                    "email addresses."
                )
            continue
        row = {"line": number, "email": normalize_email(values[0])[:254]}
        if len(values) > 1:
            row["reason"] = f"{len(values)} values on one row; put one email per row"
        elif not _is_email(row["email"]):
            row.update(email=values[0][:80], reason="not an email address")
        elif row["email"] in seen:
            row["reason"] = f"listed twice (first on line {seen[row['email']]})"
        else:
            seen[row["email"]] = number
        rows.append(row)
    if not rows:
        raise CsvInvalid(
            "The file has no email addresses." + (" It has only a header." if header_seen else "")
        )
    if len(rows) > CSV_MAX_ROWS:
        raise CsvInvalid(
            f"The file has {len(rows):,} rows; at most {CSV_MAX_ROWS:,} are allowed at once."
        )
    return rows


def _is_email(email: str) -> bool:
    try:
        validate_email(email)
    except ValidationError:
        return False
    return len(email) <= 254


def member_import_preview(*, organization: Organization, data: bytes) -> list[dict]:
    """R7: what applying the file would do, row by row, changing nothing: `status` is "add"
    (an existing account joins), "invite" (anyone else) or "skip" with the `reason`. A fixed
    number of queries for the whole file."""
    rows = member_csv_parse(data)
    emails = [row["email"] for row in rows if "reason" not in row]
    known = set(Account.objects.filter(email__in=emails).values_list("email", flat=True))
    here = set(
        Membership.objects.filter(organization=organization, account__email__in=emails).values_list(
            "account__email", flat=True
        )
    )
    elsewhere = set(
        Membership.objects.filter(role=Role.MEMBER, account__email__in=emails)
        .exclude(organization=organization)
        .values_list("account__email", flat=True)
    )
    invited = set(
        Invitation.objects.filter(
            organization=organization, state=InvitationState.PENDING, email__in=emails
        ).values_list("email", flat=True)
    )
    for row in rows:
        email = row["email"]
        if "reason" in row:
            pass
        elif email in here:
            row["reason"] = "already a member"
        elif email in invited:
            row["reason"] = "already invited"
        elif email in elsewhere:
            row["reason"] = "already a user of another organization"
        row["status"] = "skip" if "reason" in row else ("add" if email in known else "invite")
    return rows


def member_import(
    *, actor: Account, organization: Organization, emails: list[str], filename: str = ""
) -> MemberImport:
    """R7: add the previewed addresses row by row (each its own transaction, so one refusal
    does not undo the others) and keep the per-row report. A row refused meanwhile (someone
    joined elsewhere since the preview) is reported as skipped with the reason."""
    emails = [normalize_email(email) for email in emails if email.strip()][:CSV_MAX_ROWS]
    report = []
    counts = {"added": 0, "invited": 0, "skipped": 0}
    seen = set()
    for line, email in enumerate(emails, start=1):
        entry = {"line": line, "email": email}
        if email in seen:
            entry.update(status="skipped", reason="listed twice")
        else:
            seen.add(email)
            try:
                result = member_add(actor=actor, organization=organization, email=email)
            except errors.DomainError as exc:
                entry.update(status="skipped", reason=SKIP_REASONS.get(exc.code, exc.message))
            else:
                entry["status"] = "added" if result.status == "member" else "invited"
        counts[entry["status"]] += 1
        report.append(entry)
    with transaction.atomic():
        member_import_row = MemberImport.objects.create(
            organization=organization,
            created_by=actor,
            filename=(filename or "")[:255],
            rows=report,
            **counts,
        )
        audit_record(
            actor=actor,
            action="member.imported",
            organization=organization,
            target=member_import_row.filename or "CSV file",
            details={**counts, "import_id": member_import_row.pk},
        )
    return member_import_row


# Refusals of `member_add` in the words of the report.
SKIP_REASONS = {
    "already_member": "already a member",
    "already_invited": "already invited",
    "member_of_other_organization": "already a user of another organization",
    "invalid_request": "not an email address",
}
