"""Bulk add by CSV (R7): the file checked whole first, then applied row by row by a background
job (R45) whose progress the report page shows."""

import csv
import io

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from organizations.models import (
    Account,
    Invitation,
    InvitationState,
    MemberImport,
    MemberImportState,
    Membership,
    Organization,
    Role,
    normalize_email,
)
from organizations.services.members import member_add
from portal import errors, jobs
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
    """R7: record the previewed addresses as an import and save the job that applies them
    (R45), both in this transaction: the page answers at once and shows the progress."""
    from organizations import tasks  # the task module imports this one

    emails = [normalize_email(email) for email in emails if email.strip()][:CSV_MAX_ROWS]
    with transaction.atomic():
        member_import_row = MemberImport.objects.create(
            organization=organization,
            created_by=actor,
            filename=(filename or "")[:255],
            emails=emails,
            rows_total=len(emails),
        )
        jobs.job_defer(tasks.member_import_run, import_id=member_import_row.pk)
    return member_import_row


# Rows applied per transaction: a crash loses at most one batch's work (rolled back with its
# emails, so redone once), and the progress moves at least every few seconds.
BATCH_SIZE = 50


def member_import_process(*, import_id: int) -> str:
    """R7 in the worker: add the import's addresses one batch per transaction, row by row
    (each row its own savepoint, so one refusal does not undo the others), saving the report
    and the progress with the batch. A row refused meanwhile (someone joined elsewhere since
    the preview) is reported as skipped with the reason.

    Safe to run again after a crash or beside a second run: each batch locks the import and
    starts where the last committed batch stopped, and a batch that did not commit left no
    member, invitation or email behind. The last batch marks the import done and audits it."""
    try:
        while True:
            with transaction.atomic():
                item = (
                    MemberImport.objects.select_for_update(of=("self",))
                    .select_related("organization", "created_by")
                    .get(pk=import_id)
                )
                if item.state == MemberImportState.DONE:
                    return _summary(item)
                _batch_apply(item)
                if item.rows_processed >= item.rows_total:
                    _finish(item)
                    return _summary(item)
    except MemberImport.DoesNotExist:
        return "import deleted"
    except Exception:
        # Shown on its page until the job's next attempt, which goes on from the last batch.
        MemberImport.objects.filter(pk=import_id).exclude(state=MemberImportState.DONE).update(
            state=MemberImportState.FAILED
        )
        raise


def _batch_apply(item: MemberImport) -> None:
    start = item.rows_processed
    seen = set(item.emails[:start])
    counts = {"added": 0, "invited": 0, "skipped": 0}
    for line, email in enumerate(item.emails[start : start + BATCH_SIZE], start=start + 1):
        entry = {"line": line, "email": email}
        if email in seen:
            entry.update(status="skipped", reason="listed twice")
        else:
            seen.add(email)
            try:
                result = member_add(
                    actor=item.created_by, organization=item.organization, email=email
                )
            except errors.DomainError as exc:
                entry.update(status="skipped", reason=SKIP_REASONS.get(exc.code, exc.message))
            else:
                entry["status"] = "added" if result.status == "member" else "invited"
        counts[entry["status"]] += 1
        item.rows.append(entry)
    item.added += counts["added"]
    item.invited += counts["invited"]
    item.skipped += counts["skipped"]
    item.rows_processed = len(item.rows)
    item.state = MemberImportState.RUNNING
    item.save(update_fields=["rows", "added", "invited", "skipped", "rows_processed", "state"])


def _finish(item: MemberImport) -> None:
    item.state = MemberImportState.DONE
    item.finished_at = timezone.now()
    item.save(update_fields=["state", "finished_at"])
    counts = {"added": item.added, "invited": item.invited, "skipped": item.skipped}
    audit_record(
        actor=item.created_by,
        action="member.imported",
        organization=item.organization,
        target=item.filename or "CSV file",
        details={**counts, "import_id": item.pk},
    )


def _summary(item: MemberImport) -> str:
    return f"{item.added} added, {item.invited} invited, {item.skipped} skipped"


# Refusals of `member_add` in the words of the report.
SKIP_REASONS = {
    "already_member": "already a member",
    "already_invited": "already invited",
    "member_of_other_organization": "already a user of another organization",
    "invalid_request": "not an email address",
}
