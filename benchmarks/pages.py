"""Server time of the Organization pages and of My credits, at both scales (rules.md "Performance").

Requests go through Django's test client in this process, with the production settings
(DEBUG off, cached templates, persistent connections), so the figure is the request handling
alone: URL resolution, middleware, view, queries, template. No network and no client parsing.
Each scenario is requested a few times to warm up, then `repeat` times; median and p95 are
reported, with the number of SQL queries of one request.
"""

import statistics
import time
from dataclasses import dataclass

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


def scenarios(include_credits: bool) -> list[tuple[str, str, str]]:
    """(name, path, who): who is `admin` or `quota member`."""
    items = [
        ("overview", "/organization/", "admin"),
        ("users", "/organization/users/", "admin"),
        ("users search", "/organization/users/?q=user00004", "admin"),
        ("users sort", "/organization/users/?sort=credit&dir=desc", "admin"),
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
    for name, path, who in scenarios(include_credits):
        timings = {scale: [] for scale in scales}
        queries, status = {}, {}
        for scale in scales:
            client = clients[scale, who]
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
                response = client.get(path, secure=True)
                timings[scale].append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    status[scale] = response.status_code
        for scale in scales:
            results.append(
                PageResult(
                    name=name,
                    path=path,
                    members=scale.members,
                    median_ms=statistics.median(timings[scale]),
                    p95_ms=_percentile(timings[scale], 0.95),
                    queries=queries[scale],
                    status=status[scale],
                )
            )
    return results
