"""Server time of the Organization pages and of My credits, at both scales (rules.md "Performance").

Requests go through Django's test client in this process, with the production settings
(DEBUG off, cached templates, persistent connections), so the figure is the request handling
alone: URL resolution, middleware, view, queries, template. No network and no client parsing.
Each scenario is requested a few times to warm up, then `repeat` times; median and p95 are
reported, with the number of SQL queries of one request.
"""

import re
import statistics
import time
from dataclasses import dataclass
from html import unescape

from django.db import connection
from django.test import Client
from django.urls import Resolver404, resolve

from benchmarks.scale_data import Scale, organization_for
from credits.models import AccessMode, CreditAccess, QuotaPeriod


@dataclass
class PageResult:
    name: str
    path: str
    members: int
    median_ms: float
    p95_ms: float
    queries: int
    status: int


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


# A path starting with this names a link of another page: "link:prev <page>" is the page's
# rel="prev" link, read when the benchmark starts (cursors depend on the data).
LINK = "link:"


def _follow(client, path: str) -> str:
    if not path.startswith(LINK):
        return path
    rel, page = path[len(LINK) :].split(" ", 1)
    html = client.get(page, secure=True).content.decode()
    found = re.search(rf'href="([^"]+)"[^>]*rel="{rel}"', html)
    if found is None:
        raise SystemExit(f"No {rel} link on {page}")
    return unescape(found.group(1))


def scenarios(include_credits: bool) -> list[tuple[str, str, str]]:
    """(name, path, who): who is `admin` or `quota member`."""
    users = "/organization/users/"
    items = [
        ("overview", "/organization/", "admin"),
        ("users", users, "admin"),
        ("users search", f"{users}?q=user00004", "admin"),
        ("users sort", f"{users}?sort=credit&dir=desc", "admin"),
        # Every other order the page offers, both directions (each reads its own index, the
        # other way round), the last page as its "Last" link asks for it, and the page before
        # the last, reached by its "Previous" link (a cursor taken at measure time).
        *[
            (f"users sort {sort}{' desc' if desc else ''}", f"{users}?sort={sort}&dir={d}", "admin")
            for sort in ("name", "email", "role", "status", "since", "credit")
            for desc, d in ((False, "asc"), (True, "desc"))
            if (sort, desc) not in {("name", False), ("credit", True)}
        ],
        ("users last page", f"{users}?sort=name&dir=asc&per_page=25&page=last", "admin"),
        ("users before last", f"{LINK}prev {users}?sort=email&dir=desc&page=last", "admin"),
        ("licenses", "/organization/licenses/", "admin"),
        ("activity", "/organization/activity/", "admin"),
    ]
    if include_credits:
        items.insert(5, ("org credits", "/organization/credits/", "admin"))
        items.append(("my credits", "/credits/", "quota member"))
    return items


def credits_pages_exist() -> bool:
    """/organization/credits/ arrives with the credits pages; measured once it is there."""
    try:
        resolve("/organization/credits/")
    except Resolver404:
        return False
    return True


def _quota_member(organization):
    access = (
        CreditAccess.objects.filter(
            organization=organization, mode=AccessMode.QUOTA, period=QuotaPeriod.MONTHLY
        )
        .exclude(used=0)
        .select_related("account")
        .order_by("id")
        .first()
    )
    return access.account


def measure(
    scales: list[Scale], *, repeat: int = 30, warmup: int = 3, include_credits: bool = True
) -> list[PageResult]:
    """Requests alternate between the scales, so that a change of load on the machine
    weighs on both alike and the growth ratio stays fair."""
    clients = {}
    for scale in scales:
        organization = organization_for(scale)
        if organization is None:
            raise SystemExit(f"No scale data for {scale.members} members: generate_scale_data.")
        clients[scale, "admin"] = Client()
        clients[scale, "admin"].force_login(organization.administrator)
        clients[scale, "quota member"] = Client()
        clients[scale, "quota member"].force_login(_quota_member(organization))
    results = []
    for name, link, who in scenarios(include_credits):
        timings = {scale: [] for scale in scales}
        queries, status, paths = {}, {}, {}
        for scale in scales:
            client = clients[scale, who]
            paths[scale] = path = _follow(client, link)
            for _ in range(warmup):
                client.get(path, secure=True)
            statements = []

            def count(execute, sql, params, many, context, statements=statements):
                statements.append(sql)
                return execute(sql, params, many, context)

            with connection.execute_wrapper(count):
                status[scale] = client.get(path, secure=True).status_code
            queries[scale] = len(statements)
        for _ in range(repeat):
            for scale in scales:
                client = clients[scale, who]
                started = time.perf_counter()
                response = client.get(paths[scale], secure=True)
                timings[scale].append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    status[scale] = response.status_code
        for scale in scales:
            results.append(
                PageResult(
                    name=name,
                    path=paths[scale],
                    members=scale.members,
                    median_ms=statistics.median(timings[scale]),
                    p95_ms=_percentile(timings[scale], 0.95),
                    queries=queries[scale],
                    status=status[scale],
                )
            )
    return results
