"""The personal-data purge: who is due per jurisdiction, what is anonymised, what stays for the KPIs,
the dry run, the rerun and the run record (privacy.purge)."""

from datetime import date
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db.models import Count, Sum

from collections_app.models import (
    Cardholder,
    Case,
    CaseEvent,
    ContactAttempt,
    ContactPoint,
    Payment,
    PromiseToPay,
)
from dashboards import rollups
from history import models as history
from privacy.models import LegalHold, PurgedCardholder, PurgeRun, PurgeStatus, RetentionPolicy
from privacy.purge import cardholders_due, purge_run
from tests.privacy.conftest import (
    cardholder,
    close_case_on,
    closed_case,
    contact_on,
    open_case_on,
    pay_on,
    promise_on,
)

pytestmark = pytest.mark.django_db

OPENED = date(2020, 11, 2)
CLOSED = date(2021, 1, 10)
LATER_CONTACT = date(2022, 6, 1)


def due_on(day: date) -> set[int]:
    return set(cardholders_due(as_of=day).values_list("pk", flat=True))


def test_the_shipped_policies_are_those_of_the_reference():
    policies = {p.jurisdiction: (p.years, p.counted_from) for p in RetentionPolicy.objects.all()}
    assert policies["CN"] == (3, "closure")
    assert policies["US"] == (3, "last_activity")
    assert policies["UK"] == (6, "closure")
    assert policies["EU"] == (6, "closure")


def test_china_is_due_three_years_after_its_last_case_closed_whatever_came_later():
    holder = cardholder(jurisdiction="CN")
    case = closed_case(holder=holder, opened=OPENED, closed=CLOSED)
    contact_on(case, LATER_CONTACT)  # activity after closure does not move the CN clock
    assert holder.pk not in due_on(date(2024, 1, 9))
    assert holder.pk in due_on(date(2024, 1, 11))


def test_the_us_is_due_three_years_after_the_last_activity():
    holder = cardholder(jurisdiction="US")
    case = closed_case(holder=holder, opened=OPENED, closed=CLOSED)
    contact_on(case, LATER_CONTACT)
    assert holder.pk not in due_on(date(2024, 1, 11))  # 3 years after closure, but not after the contact
    assert holder.pk not in due_on(date(2025, 5, 31))
    assert holder.pk in due_on(date(2025, 6, 2))


def test_a_state_layer_follows_its_country_and_a_profile_without_policy_is_kept():
    massachusetts = cardholder(jurisdiction="US-MA")
    closed_case(holder=massachusetts, opened=OPENED, closed=CLOSED)
    unknown = cardholder(jurisdiction="JP")
    closed_case(holder=unknown, opened=OPENED, closed=CLOSED)
    due = due_on(date(2030, 1, 1))
    assert massachusetts.pk in due
    assert unknown.pk not in due


def test_an_edited_policy_moves_the_date():
    holder = cardholder(jurisdiction="CN")
    closed_case(holder=holder, opened=OPENED, closed=CLOSED)
    RetentionPolicy.objects.filter(jurisdiction="CN").update(years=5)
    assert holder.pk not in due_on(date(2024, 1, 11))
    assert holder.pk in due_on(date(2026, 1, 11))


def test_a_cardholder_with_an_open_case_is_not_due():
    holder = cardholder()
    closed_case(holder=holder, opened=OPENED, closed=CLOSED)
    open_case_on(date(2023, 5, 1), holder=holder)
    assert holder.pk not in due_on(date(2030, 1, 1))


def test_a_legal_hold_on_the_cardholder_or_a_case_stops_the_purge_until_released(supervisor):
    on_holder = cardholder()
    closed_case(holder=on_holder, opened=OPENED, closed=CLOSED)
    on_case = cardholder()
    held_case = closed_case(holder=on_case, opened=OPENED, closed=CLOSED)
    hold = LegalHold.objects.create(cardholder=on_holder, reason="Litigation pending", placed_by=supervisor)
    LegalHold.objects.create(case=held_case, reason="Regulator inquiry", placed_by=supervisor)

    run = purge_run(as_of=date(2030, 1, 1))

    assert run.cardholders == 0
    assert Cardholder.objects.get(pk=on_holder.pk).name == on_holder.name
    assert Cardholder.objects.get(pk=on_case.pk).name == on_case.name

    LegalHold.objects.filter(pk=hold.pk).update(released_at=run.started_at, released_by=supervisor)
    assert due_on(date(2030, 1, 1)) == {on_holder.pk}


FIGURES = {
    "amount",
    "outcome",
    "channel",
    "duration_seconds",
    "state",
    "resolution_reason",
    "status",
    "currency",
}


def _kpis() -> dict:
    """The figures dashboards read, straight from the tables the purge touches."""
    return {
        "payments": list(Payment.objects.values("currency").annotate(total=Sum("amount"), n=Count("id"))),
        "cases": list(
            Case.objects.values("state", "resolution_reason").annotate(n=Count("id")).order_by("state")
        ),
        "promises": list(
            PromiseToPay.objects.values("status")
            .annotate(total=Sum("amount"), n=Count("id"))
            .order_by("status")
        ),
        "contacts": list(
            ContactAttempt.objects.values("outcome", "channel")
            .annotate(n=Count("id"), seconds=Sum("duration_seconds"))
            .order_by("outcome")
        ),
        "accounts": list(
            Case.objects.values("account__bucket", "account__currency")
            .annotate(balance=Sum("account__balance"))
            .order_by("account__bucket")
        ),
        "events": CaseEvent.objects.count(),
        # The dashboards' own sources: each fact with its day, dimensions and figures.
        **{
            source.__name__: sorted(
                (tuple(sorted((k, str(v)) for k, v in row.items() if k.startswith("d_") or k in FIGURES)))
                for row in source(date(2019, 1, 1), date(2026, 6, 2)).values()
            )
            for source in (
                rollups.src_attempts,
                rollups.src_payments,
                rollups.src_cases_opened,
                rollups.src_cases_closed,
                rollups.src_promises_made,
            )
        },
    }


@pytest.fixture
def portfolio():
    """Two CN cardholders past retention (one written off), one with a recent closure, one with an
    open case; each with contacts (recorded), payments and promises."""
    due = cardholder()
    due_case = open_case_on(OPENED, holder=due)
    pay_on(due_case, date(2020, 12, 1))
    promise_on(due_case, date(2020, 12, 1))
    contact_on(due_case, date(2020, 11, 20), recording="REC-1")
    contact_on(due_case, date(2020, 11, 25), recording="REC-2")
    close_case_on(due_case, CLOSED)

    written_off = cardholder()
    wo_case = open_case_on(OPENED, holder=written_off)
    contact_on(wo_case, date(2020, 11, 21), recording="", notes="")
    close_case_on(wo_case, CLOSED, write_off=True)

    recent = cardholder()
    recent_case = open_case_on(date(2025, 1, 2), holder=recent)
    contact_on(recent_case, date(2025, 2, 1), recording="REC-3")
    close_case_on(recent_case, date(2025, 3, 1))

    working = cardholder()
    contact_on(open_case_on(date(2020, 1, 2), holder=working), date(2020, 2, 1), recording="REC-4")
    return {"due": [due, written_off], "kept": [recent, working]}


AS_OF = date(2026, 6, 2)


def test_the_purge_anonymises_the_due_and_keeps_the_figures(portfolio):
    before = _kpis()
    assert before["src_attempts"] and before["src_payments"] and before["src_cases_closed"]
    kept_names = {h.pk: h.name for h in portfolio["kept"]}

    run = purge_run(as_of=AS_OF)

    assert run.status == PurgeStatus.DONE
    assert run.cardholders == 2
    for holder in portfolio["due"]:
        holder = Cardholder.objects.get(pk=holder.pk)
        assert holder.name == f"Purged {holder.pk}"
        assert (holder.national_id, holder.national_id_hash, holder.email, holder.address) == ("", "", "", "")
        assert holder.external_ref  # the bank's reference stays
        for point in ContactPoint.objects.filter(cardholder=holder):
            assert point.value == f"purged-{point.pk}"
            assert (point.value_hash, point.party_name, point.active) == ("", "", False)
        for attempt in ContactAttempt.objects.filter(cardholder=holder):
            assert (attempt.recording_ref, attempt.notes, attempt.person_reached) == ("", "", "")
    for pk, name in kept_names.items():
        holder = Cardholder.objects.get(pk=pk)
        assert holder.name == name
        assert holder.national_id == "110101199003071234"
        assert ContactAttempt.objects.filter(cardholder=holder).exclude(recording_ref="").exists()
    assert _kpis() == before
    assert set(PurgedCardholder.objects.values_list("cardholder_id", flat=True)) == {
        h.pk for h in portfolio["due"]
    }


def test_the_run_records_its_counts_per_table(portfolio):
    run = PurgeRun.objects.get(pk=purge_run(as_of=AS_OF, trigger="command").pk)
    assert run.finished_at is not None
    assert run.trigger == "command"
    assert run.counts["collections_app.cardholder"] == 2
    assert run.counts["collections_app.contactpoint"] == 2
    assert run.counts["collections_app.contactattempt"] == 3
    assert run.counts["collections_app.contactattempt.recording_ref"] == 2


def test_the_dry_run_changes_nothing_and_counts_what_the_run_changes(portfolio):
    names = dict(Cardholder.objects.values_list("pk", "name"))
    recordings = set(ContactAttempt.objects.values_list("pk", "recording_ref"))

    dry = purge_run(as_of=AS_OF, dry_run=True)

    assert dry.dry_run and dry.cardholders == 2
    assert dict(Cardholder.objects.values_list("pk", "name")) == names
    assert set(ContactAttempt.objects.values_list("pk", "recording_ref")) == recordings
    assert not PurgedCardholder.objects.exists()
    real = purge_run(as_of=AS_OF)
    assert real.counts == dry.counts
    assert real.cardholders == dry.cardholders


def test_a_rerun_changes_nothing(portfolio):
    purge_run(as_of=AS_OF)
    snapshot = (
        list(Cardholder.objects.order_by("pk").values()),
        list(ContactPoint.objects.order_by("pk").values()),
        list(ContactAttempt.objects.order_by("pk").values()),
    )
    again = purge_run(as_of=AS_OF)
    assert again.cardholders == 0
    assert not any(again.counts.values())
    assert snapshot == (
        list(Cardholder.objects.order_by("pk").values()),
        list(ContactPoint.objects.order_by("pk").values()),
        list(ContactAttempt.objects.order_by("pk").values()),
    )


def test_case_events_are_left_alone(portfolio):
    events = list(CaseEvent.objects.order_by("pk").values())
    purge_run(as_of=AS_OF)
    assert list(CaseEvent.objects.order_by("pk").values()) == events


def test_the_history_of_changes_loses_the_same_personal_values_and_records_no_purge(portfolio):
    due, kept = portfolio["due"][0], portfolio["kept"][0]
    Cardholder.objects.filter(pk=due.pk).update(address="上海市黄浦区南京东路1号")  # an old value in a diff
    before = history.CardholderChange.objects.filter(pgh_obj=due).count()

    purge_run(as_of=AS_OF)

    changes = history.CardholderChange.objects.filter(pgh_obj=due)
    assert changes.count() == before  # the anonymisation itself left no event with the old values
    for change in changes:
        assert (change.name, change.national_id, change.email, change.address) == ("", "", "", "")
        assert not set(change.pgh_diff or {}) & {"name", "national_id", "email", "address"}
    points = history.ContactPointChange.objects.filter(cardholder=due)
    assert points.exists() and not points.exclude(value="", party_name="").exists()
    untouched = history.CardholderChange.objects.filter(pgh_obj=kept).first()
    assert untouched.email == "wang.wei@example.cn"  # not due: kept as it was


def test_the_command_runs_a_dry_run_with_a_date(portfolio, capsys):
    call_command("purge_personal_data", "--dry-run", "--as-of", "2026-06-02")
    run = PurgeRun.objects.get()
    assert run.dry_run and run.as_of == AS_OF and run.cardholders == 2
    assert "2 cardholders" in capsys.readouterr().out
    assert Cardholder.objects.filter(name__startswith="Purged ").count() == 0


def test_the_command_refuses_a_bad_date():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("purge_personal_data", "--as-of", "yesterday")
    assert not PurgeRun.objects.exists()


def test_money_stays_decimal_after_the_purge(portfolio):
    purge_run(as_of=AS_OF)
    assert Payment.objects.get(account__cardholder=portfolio["due"][0]).amount == Decimal("300.00")


def test_the_command_runs_a_dry_run_first_then_the_purge(portfolio, capsys):
    call_command("purge_personal_data", "--as-of", "2026-06-02")
    dry, real = PurgeRun.objects.order_by("pk")
    assert (dry.dry_run, real.dry_run) == (True, False)
    assert dry.counts == real.counts and real.cardholders == 2
    assert Cardholder.objects.filter(name__startswith="Purged ").count() == 2
    out = capsys.readouterr().out
    assert f"Dry run {dry.pk}" in out and f"Purge {real.pk}" in out
