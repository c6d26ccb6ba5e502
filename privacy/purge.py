"""The personal-data purge: cardholders whose data is past retention are anonymised, set-based.

Who is due on `as_of` (`cardholders_due`):
- every case of theirs is closed (resolved or written off) - no open case - and they have at least one;
- their jurisdiction's RetentionPolicy has run out: counted from the closure of their last case, or from
  their last activity (the latest case closure, timeline event, contact or payment);
- no active legal hold on them or on any case of theirs;
- not purged before.
A jurisdiction with no policy (neither its own nor its country's) is never purged.

What a purge does to each due cardholder (privacy.holdings says where): the name becomes "Purged <id>",
national ID, e-mail, address and attorney contact are emptied with their search hashes, contact point
values become "purged-<id>", recording references on contact attempts and calls are deleted, and the
free text people wrote about them (contact notes, hold notes, plan reasons, message texts, inbox and
legal decision notes, correction values) is emptied. Amounts, dates, states, outcomes, buckets and
references stay, so the KPIs read the same figures before and after. Case events are left alone: they
are append-only and hash-chained (no UPDATE is allowed on them); they are the collection record.
The history of changes loses the same personal fields, in its snapshots and its diffs, and the purge's
own updates are not recorded there (history.context.unrecorded): the PurgeRun is their record.

Every UPDATE is one statement per table per batch of cardholders (`WHERE ... IN (batch)`), only on
rows that still hold something to clear, so a dry run counts exactly what a run changes, and a rerun
finds nobody due and changes nothing.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import date

from django.db import transaction
from django.db.models import CharField, Exists, OuterRef, Q, QuerySet, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from collections_app.models import (
    OPEN_STATES,
    Cardholder,
    Case,
    CaseEvent,
    ContactAttempt,
    ContactPoint,
    Payment,
)
from core.clock import bank_today, day_start
from history.context import unrecorded
from privacy.holdings import HOLDINGS, Holding
from privacy.models import (
    LegalHold,
    PurgedCardholder,
    PurgeRun,
    PurgeStatus,
    RetentionBasis,
    RetentionPolicy,
)

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
PURGED_NAME_PREFIX = "Purged "
PURGED_VALUE_PREFIX = "purged-"


def years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year - years, day=28)


def policy_for(jurisdiction: str, policies: dict[str, RetentionPolicy]) -> RetentionPolicy | None:
    """A profile's own policy, else its country's ("US-MA" -> "US"); None: keep for ever."""
    code = (jurisdiction or "").upper()
    return policies.get(code) or policies.get(code.partition("-")[0])


def _not_after(cutoff, *, basis: str) -> Q:
    """Cardholders with nothing on or after `cutoff` that the basis counts from."""
    mine = OuterRef("pk")
    recent = Q(
        Exists(Case.objects.filter(account__cardholder=mine, closed_at__gte=cutoff)),
    )
    if basis == RetentionBasis.LAST_ACTIVITY:
        recent |= Q(Exists(CaseEvent.objects.filter(case__account__cardholder=mine, created_at__gte=cutoff)))
        recent |= Q(Exists(ContactAttempt.objects.filter(cardholder=mine, started_at__gte=cutoff)))
        recent |= Q(Exists(Payment.objects.filter(account__cardholder=mine, paid_at__gte=cutoff)))
    return ~recent


def cardholders_due(*, as_of: date) -> QuerySet[Cardholder]:
    """The cardholders whose personal data is past retention on `as_of` (see the module docstring)."""
    policies = {policy.jurisdiction.upper(): policy for policy in RetentionPolicy.objects.all()}
    jurisdictions = Cardholder.objects.order_by().values_list("jurisdiction", flat=True).distinct()
    by_policy: dict[int, list[str]] = {}
    for code in jurisdictions:
        policy = policy_for(code, policies)
        if policy is not None:
            by_policy.setdefault(policy.pk, []).append(code)
    if not by_policy:
        return Cardholder.objects.none()
    retention = Q(pk__in=[])
    for policy in policies.values():
        if policy.pk in by_policy:
            cutoff = day_start(years_before(as_of, policy.years))
            retention |= Q(jurisdiction__in=by_policy[policy.pk]) & _not_after(
                cutoff, basis=policy.counted_from
            )
    mine = OuterRef("pk")
    active_holds = LegalHold.objects.filter(released_at__isnull=True)
    return (
        Cardholder.objects.filter(retention)
        .filter(Exists(Case.objects.filter(account__cardholder=mine)))
        .exclude(Exists(Case.objects.filter(account__cardholder=mine, state__in=OPEN_STATES)))
        .exclude(Exists(active_holds.filter(cardholder=mine)))
        .exclude(Exists(active_holds.filter(case__account__cardholder=mine)))
        .exclude(Exists(PurgedCardholder.objects.filter(cardholder=mine)))
    )


# --- What each table loses --------------------------------------------------------------------------


def _changes(holding: Holding) -> tuple[dict, Q]:
    """The UPDATE for a table, and the rows that still hold something it would change."""
    model = holding.model_class
    values: dict = dict.fromkeys(holding.personal_fields, "")
    if model is Cardholder:
        values["name"] = Concat(Value(PURGED_NAME_PREFIX), Cast("pk", CharField()))
        dirty = ~Q(name__startswith=PURGED_NAME_PREFIX)
    elif model is ContactPoint:
        values["value"] = Concat(Value(PURGED_VALUE_PREFIX), Cast("pk", CharField()))
        values["active"] = False
        dirty = ~Q(value__startswith=PURGED_VALUE_PREFIX) | Q(active=True)
    else:
        dirty = Q(pk__in=[])
    for name in holding.personal_fields:
        dirty |= ~Q(**{name: ""})
    if holding.clear and any(field.name == "pgh_diff" for field in model._meta.fields):
        # A history table: the personal fields' old and new values go from the diff too.
        values["pgh_diff"] = RawSQL('"pgh_diff" - %s::text[]', (list(holding.clear),))
        dirty |= Q(pgh_diff__has_any_keys=list(holding.clear))
    return values, dirty


def _purgeable() -> list[Holding]:
    return [holding for holding in HOLDINGS if holding.personal_fields and not holding.untouched_because]


def _purge_batch(ids: list[int], *, dry_run: bool, counts: Counter) -> None:
    for holding in _purgeable():
        model = holding.model_class
        rows = model.objects.filter(holding.of(ids))
        values, dirty = _changes(holding)
        if holding.recording:
            recordings = rows.exclude(**{holding.recording: ""})
            counts[f"{holding.label}.{holding.recording}"] += recordings.count()
        if dry_run:
            counts[holding.label] += rows.filter(dirty).count()
        else:
            counts[holding.label] += rows.filter(dirty).update(**values)


def purge_run(
    *, as_of: date | None = None, dry_run: bool = False, actor=None, trigger: str = "command"
) -> PurgeRun:
    """Anonymise every cardholder due on `as_of` (today by default), in batches of BATCH_SIZE, each in
    its own transaction that locks the batch's cardholders and selects them again (a hold placed or a
    run finished meanwhile takes them out). Records a PurgeRun with the rows changed per table; a dry
    run counts the same without changing anything. Idempotent: purged cardholders are never due again."""
    as_of = as_of or bank_today()
    run = PurgeRun.objects.create(dry_run=dry_run, as_of=as_of, trigger=trigger, started_by=actor)
    counts: Counter = Counter()
    purged = 0
    try:
        due = cardholders_due(as_of=as_of)
        ids = list(due.order_by("pk").values_list("pk", flat=True))
        for start in range(0, len(ids), BATCH_SIZE):
            chunk = ids[start : start + BATCH_SIZE]
            with transaction.atomic():
                # Lock first, then ask again: each statement reads what is committed by then, so a
                # concurrent run that purged these cardholders (or a hold placed meanwhile) is seen.
                list(Cardholder.objects.filter(pk__in=chunk).select_for_update().values_list("pk"))
                batch = list(due.filter(pk__in=chunk).values_list("pk", flat=True))
                if not batch:
                    continue
                with unrecorded():
                    _purge_batch(batch, dry_run=dry_run, counts=counts)
                if not dry_run:
                    PurgedCardholder.objects.bulk_create(
                        [PurgedCardholder(cardholder_id=pk, run=run) for pk in batch]
                    )
                purged += len(batch)
    except Exception as error:
        PurgeRun.objects.filter(pk=run.pk).update(
            status=PurgeStatus.FAILED,
            finished_at=timezone.now(),
            cardholders=purged,
            counts=dict(counts),
            error=type(error).__name__,
        )
        logger.exception("purge run %s failed", run.pk)
        raise
    PurgeRun.objects.filter(pk=run.pk).update(
        status=PurgeStatus.DONE, finished_at=timezone.now(), cardholders=purged, counts=dict(counts)
    )
    run.refresh_from_db()
    logger.info("purge run %s (dry run: %s): %s cardholders", run.pk, dry_run, purged)
    return run


def purge_with_dry_run(
    *, as_of: date | None = None, actor=None, trigger: str = "command"
) -> tuple[PurgeRun, PurgeRun]:
    """The scheduled way to purge: a dry run first, recorded, then the run itself on the same day. The
    two runs' counts agree unless a cardholder changed in between (a case opened, a hold placed), which
    then shows as a difference between two recorded runs."""
    as_of = as_of or bank_today()
    dry = purge_run(as_of=as_of, dry_run=True, actor=actor, trigger=trigger)
    return dry, purge_run(as_of=as_of, actor=actor, trigger=trigger)
