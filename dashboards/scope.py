"""What a dashboard shows: the period and the filters, within what the viewer may see.

A supervisor sees the figures of their own team (the cases of its queues, as collections_app.access
scopes cases); an admin sees every team and may choose one. Filters narrow that further.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from django.db.models import Q

from accounts.models import Team
from accounts.permissions import Capability, has_capability
from core.clock import day_start

MAX_PERIOD_DAYS = 366  # the distinct-account rollup (ReachDaily) looks back one year at most


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive

    def __post_init__(self):
        if self.end < self.start:
            raise ValueError("a period ends on or after its start")
        if (self.end - self.start).days + 1 > MAX_PERIOD_DAYS:
            raise ValueError(f"a period is at most {MAX_PERIOD_DAYS} days")

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]

    @property
    def start_at(self) -> datetime:
        return day_start(self.start)

    @property
    def end_before(self) -> datetime:
        return day_start(self.end + timedelta(days=1))


@dataclass(frozen=True)
class Filters:
    """`teams` is the viewer's reach (None: every team, and cases outside any team); the other fields
    are the viewer's choices."""

    teams: tuple[int, ...] | None = None
    team: int | None = None
    queue: int | None = None
    agent: int | None = None
    product: str = ""
    jurisdiction: str = ""
    bucket: str = ""

    # Dimension alias -> attribute, as every rollup and source names its dimensions.
    ALIASES = {
        "d_team": "team",
        "d_queue": "queue",
        "d_agent": "agent",
        "d_product": "product",
        "d_jurisdiction": "jurisdiction",
        "d_bucket": "bucket",
    }

    def conditions(self) -> dict[str, object]:
        """alias -> value for each chosen filter (teams handled apart)."""
        return {alias: getattr(self, attr) for alias, attr in self.ALIASES.items() if getattr(self, attr)}

    def q(self, *, skip: tuple[str, ...] = ()) -> Q:
        """The filters as a Q over a source annotated with the d_* aliases."""
        q = Q()
        if self.teams is not None and "d_team" not in skip:
            q &= Q(d_team__in=self.teams)
        for alias, value in self.conditions().items():
            if alias not in skip:
                q &= Q(**{alias: value})
        return q

    def without(self, *attrs: str) -> Filters:
        return replace(self, **{a: (None if a in ("team", "queue", "agent") else "") for a in attrs})

    def as_query(self) -> dict[str, str]:
        return {attr: str(getattr(self, attr)) for attr in self.ALIASES.values() if getattr(self, attr)}


def sees_every_team(user) -> bool:
    """Whether `user` reaches every team's figures and people (those who administer, the head of
    collections), not just their own team's - the same test as collections_app.access.queues_visible_to."""
    return has_capability(user, Capability.SEE_ALL_TEAMS)


def teams_for(user) -> tuple[int, ...] | None:
    """The teams whose figures `user` may see: None for an admin (all), the user's own team for a
    supervisor (none if they have no team)."""
    if sees_every_team(user):
        return None
    return (user.team_id,) if user.team_id else ()


def visible_teams(user):
    teams = teams_for(user)
    return Team.objects.all() if teams is None else Team.objects.filter(pk__in=teams)
