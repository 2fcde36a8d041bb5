"""R44 conformance: the public SCIM checker `scim2-tester` (through the `scim2` command of
scim2-cli) runs against the live server and must report no ERROR, CRITICAL or DEVIATION.
Its counts are recorded for the end of the test run's output (tests/conftest.py), so that CI's
log shows them."""

import collections
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from portal.services import api_token_create
from tests.factories import add_member, make_org_admin

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SCIM2 = Path(sys.executable).with_name("scim2")
RESULT_LINE = re.compile(r"^(SUCCESS|COMPLIANT|ACCEPTABLE|DEVIATION|ERROR|CRITICAL|SKIPPED) (\S+)")


def test_the_public_scim_checker_finds_nothing_wrong(live_server, record_property):
    admin = make_org_admin()
    organization = admin.administered_organization
    add_member(organization)
    # Another organization's member, which the checker's token must never see.
    add_member(make_org_admin().administered_organization)
    _token, secret = api_token_create(
        actor=admin, name="checker", scopes=["scim"], organization=organization
    )
    # The server's first request loads every URL module, which takes longer than the checker
    # waits for an answer on a busy machine: that first request is made here.
    with urllib.request.urlopen(f"{live_server.url}/scim/v2/ServiceProviderConfig", timeout=120):
        pass
    run = subprocess.run(
        [
            str(SCIM2),
            "--url",
            f"{live_server.url}/scim/v2",
            "-h",
            f"Authorization: Bearer {secret}",
            "test",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    results = [m.groups() for line in run.stdout.splitlines() if (m := RESULT_LINE.match(line))]
    counts = collections.Counter(status for status, _check in results)
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    record_property("summary", f"scim2-tester against /scim/v2/: {summary}")
    failed = [line for line in run.stdout.splitlines() if not line.startswith(("SUCCESS", "  "))]
    assert run.returncode == 0, run.stdout + run.stderr
    assert counts["SUCCESS"] >= 40, run.stdout
    assert not counts.keys() & {"ERROR", "CRITICAL", "DEVIATION"}, failed
    # Nothing the checker did left its users behind, and the other organization is untouched.
    assert organization.memberships.count() == 2
