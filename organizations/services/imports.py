"""Bulk add by CSV (R7): the file checked whole first, then applied row by row."""

import csv
import io

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from organizations.models import (
    Account,
    MemberImport,
    Organization,
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
    """Validate a whole CSV file before anything is applied (R7).

    UTF-8 with or without BOM, at most 1 MiB and 1,000 data rows, one email per row; a first
    row without "@" is a header. Blank lines are ignored. Returns one dict per data row
    (`line`, `email`, and `duplicate_of` for an email seen on an earlier line).
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
    problems = []
    header_seen = False
    seen: dict[str, int] = {}
    for number, cells in enumerate(lines, start=1):
        values = [cell.strip() for cell in cells if cell.strip()]
        if not values:
            continue
        if not rows and not header_seen and not problems and "@" not in values[0]:
            header_seen = True
            if len(values) > 1:
                problems.append(f"Line {number}: the header has {len(values)} columns; use one.")
            continue
        if len(values) > 1:
            problems.append(f"Line {number}: {len(values)} values; put one email per row.")
            continue
        email = normalize_email(values[0])
        try:
            validate_email(email)
            if len(email) > 254:
                raise ValidationError("too long")
        except ValidationError:
            problems.append(f"Line {number}: “{values[0][:80]}” is not an email address.")
            continue
        row = {"line": number, "email": email}
        if email in seen:
            row["duplicate_of"] = seen[email]
        else:
            seen[email] = number
        rows.append(row)
    if not rows and not problems:
        raise CsvInvalid(
            "The file has no email addresses." + (" It has only a header." if header_seen else "")
        )
    if len(rows) + len(problems) > CSV_MAX_ROWS:
        raise CsvInvalid(
            f"The file has {len(rows) + len(problems):,} rows; at most {CSV_MAX_ROWS:,} are "
            "allowed at once."
        )
    if problems:
        raise CsvInvalid(_problems_message(problems), problems=problems)
    return rows


def _problems_message(problems: list[str]) -> str:
    shown = " ".join(problems[:5])
    more = f" And {len(problems) - 5} more problems." if len(problems) > 5 else ""
    return f"The file was not applied; nothing changed. {shown}{more}"


def member_import(
    *, actor: Account, organization: Organization, data: bytes, filename: str = ""
) -> MemberImport:
    """R7: validate the whole file, then add row by row and keep the per-row report.

    Each row is its own transaction (one failure does not undo the others); a duplicate row is
    reported as failed and its first occurrence applied.
    """
    rows = member_csv_parse(data)
    report = []
    counts = {"added": 0, "invited": 0, "failed": 0}
    for row in rows:
        entry = {"line": row["line"], "email": row["email"]}
        if "duplicate_of" in row:
            entry.update(
                status="failed",
                code="duplicate",
                message=f"Duplicate of line {row['duplicate_of']}.",
            )
        else:
            try:
                result = member_add(actor=actor, organization=organization, email=row["email"])
            except errors.DomainError as exc:
                entry.update(status="failed", code=exc.code, message=exc.message)
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
