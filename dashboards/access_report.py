"""Who looked at which cardholders (issue 16, item 4): the supervisors' report over AccessRecord, and the
unusual volumes it flags.

A person's day is unusual when the distinct cardholders they looked at that day (bank time zone) are
more than ACCESS_DAILY_CARDHOLDERS_LIMIT, or more than ACCESS_MEDIAN_FACTOR times the median of their
own daily counts over the 30 days before (days on which they looked at someone). Both are computed by
one SQL statement over the daily aggregate (PostgreSQL's percentile_cont); the report reads indexed
ranges of AccessRecord (at; actor, at), never a Python loop over the records.

A supervisor sees the looks of their team's people; an admin everyone's."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from statistics import median

from django.conf import settings
from django.db import connection
from django.db.models import Count, Max, Q, QuerySet
from django.db.models.functions import TruncDate

from accounts.models import User
from collections_app.models import AccessRecord
from core.clock import bank_zone
from core.db_routing import read_connection
from dashboards.scope import sees_every_team

BASELINE_DAYS = 30


@dataclass(frozen=True)
class AccessFilters:
    start: date
    end: date  # inclusive
    actor_id: int | None = None
    kind: str = ""
    reason: str = ""


@dataclass(frozen=True)
class UnusualDay:
    actor_id: int
    actor: str
    day: date
    cardholders: int
    median: float | None
    over_limit: bool


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    zone = bank_zone()
    return datetime.combine(start, time.min, zone), datetime.combine(end + timedelta(days=1), time.min, zone)


def people_in_reach(viewer) -> QuerySet[User]:
    """Whose looks `viewer` may see: everyone for an admin; the people of a supervisor's team."""
    if sees_every_team(viewer):
        return User.objects.all()
    return User.objects.filter(team_id=viewer.team_id) if viewer.team_id else User.objects.none()


def _in_reach(viewer, records: QuerySet[AccessRecord]) -> QuerySet[AccessRecord]:
    if sees_every_team(viewer):
        return records
    return records.filter(actor__team_id=viewer.team_id) if viewer.team_id else records.none()


def access_records(viewer, filters: AccessFilters) -> QuerySet[AccessRecord]:
    """The looks in the period (and of the user, kind, reason chosen) that `viewer` may see."""
    since, until = _bounds(filters.start, filters.end)
    records = _in_reach(viewer, AccessRecord.objects.filter(at__gte=since, at__lt=until))
    if filters.actor_id:
        records = records.filter(actor_id=filters.actor_id)
    if filters.kind:
        records = records.filter(kind=filters.kind)
    if filters.reason:
        records = records.filter(reason=filters.reason)
    return records


def who_looked_at_whom(viewer, filters: AccessFilters):
    """One row per (person, cardholder): how many looks, the last one, and how many of them unmasked
    exported rows. One grouped query over the (actor, at) / (at) indexes."""
    return (
        access_records(viewer, filters)
        .filter(cardholder__isnull=False)
        .values(
            "actor_id",
            "actor__username",
            "actor__first_name",
            "actor__last_name",
            "cardholder_id",
            "cardholder__external_ref",
            "cardholder__name",
        )
        .annotate(
            looks=Count("id"),
            last_at=Max("at"),
            reveals=Count("id", filter=Q(kind="reveal")),
            exports=Count("id", filter=Q(kind="export")),
            prints=Count("id", filter=Q(kind="print")),
            api_reads=Count("id", filter=Q(kind="api_read")),
        )
        .order_by("-last_at", "actor_id", "cardholder_id")
    )


def _daily(viewer, filters: AccessFilters) -> QuerySet:
    """Distinct cardholders per person per bank day, from 30 days before the period to its end."""
    since, until = _bounds(filters.start - timedelta(days=BASELINE_DAYS), filters.end)
    records = _in_reach(
        viewer, AccessRecord.objects.filter(at__gte=since, at__lt=until, cardholder__isnull=False)
    )
    if filters.actor_id:
        records = records.filter(actor_id=filters.actor_id)
    return (
        records.annotate(day=TruncDate("at", tzinfo=bank_zone()))
        .values("actor_id", "day")
        .annotate(n=Count("cardholder_id", distinct=True))
        .order_by()
    )


def unusual_days(viewer, filters: AccessFilters) -> list[UnusualDay]:
    """The person-days of the period above the limit or above k times the person's own median."""
    limit = settings.ACCESS_DAILY_CARDHOLDERS_LIMIT
    factor = settings.ACCESS_MEDIAN_FACTOR
    daily = _daily(viewer, filters)
    if connection.vendor == "postgresql":
        daily_sql, params = daily.query.sql_with_params()
        sql = f"""
            WITH daily AS ({daily_sql}),
            judged AS (
                SELECT d.actor_id, d.day, d.n,
                    (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY p.n) FROM daily p
                     WHERE p.actor_id = d.actor_id AND p.day >= d.day - %s AND p.day < d.day) AS median
                FROM daily d WHERE d.day >= %s AND d.day <= %s
            )
            SELECT actor_id, day, n, median FROM judged
            WHERE n > %s OR (median IS NOT NULL AND n > %s * median)
            ORDER BY day DESC, n DESC, actor_id
        """  # noqa: S608 - the inner statement is Django's, every value a parameter
        with read_connection().cursor() as cursor:  # the read replica if any (core.db_routing)
            cursor.execute(sql, [*params, BASELINE_DAYS, filters.start, filters.end, limit, factor])
            rows = [(a, d, n, float(m) if m is not None else None) for a, d, n, m in cursor.fetchall()]
    else:
        rows = _unusual_in_python(list(daily), filters, limit=limit, factor=factor)
    names = {u.pk: str(u) for u in User.objects.filter(pk__in={r[0] for r in rows})}
    return [
        UnusualDay(
            actor_id=a, actor=names.get(a, str(a)), day=d, cardholders=n, median=m, over_limit=n > limit
        )
        for a, d, n, m in rows
    ]


def _unusual_in_python(daily: list[dict], filters: AccessFilters, *, limit: int, factor: float) -> list:
    """The embedded default (SQLite has no percentile_cont): the same rule over the daily aggregate
    (one row per person-day, already counted by the database)."""
    by_actor: dict[int, list[tuple[date, int]]] = {}
    for row in daily:
        day = row["day"] if isinstance(row["day"], date) else date.fromisoformat(str(row["day"]))
        by_actor.setdefault(row["actor_id"], []).append((day, row["n"]))
    rows = []
    for actor_id, days in by_actor.items():
        for day, n in days:
            if not filters.start <= day <= filters.end:
                continue
            before = [c for d, c in days if day - timedelta(days=BASELINE_DAYS) <= d < day]
            mid = float(median(before)) if before else None
            if n > limit or (mid is not None and n > factor * mid):
                rows.append((actor_id, day, n, mid))
    return sorted(rows, key=lambda r: (-r[1].toordinal(), -r[2], r[0]))
