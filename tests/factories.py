"""Test-data builders with realistic defaults. Anything with workflow history is built through the
real services (collections_app.services), never by setting states directly."""

import factory

from accounts.models import Team, User

TEST_PASSWORD = "correct-horse-battery-staple"


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Team {n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    role = "agent"
    language = "en"
    time_zone = "Asia/Shanghai"
    password = factory.django.Password(TEST_PASSWORD)


# --- Portfolio ---------------------------------------------------------------------------------

import datetime as _dt  # noqa: E402
from decimal import Decimal  # noqa: E402

from collections_app.models import Cardholder, ContactPoint, CreditAccount, Queue  # noqa: E402


class CardholderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Cardholder

    external_ref = factory.Sequence(lambda n: f"CH{n:06d}")
    name = factory.Sequence(lambda n: f"王伟{n}")
    national_id = "110101199003071234"
    time_zone = "Asia/Shanghai"
    jurisdiction = "CN"


class ContactPointFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ContactPoint

    cardholder = factory.SubFactory(CardholderFactory)
    kind = "phone"
    value = factory.Sequence(lambda n: f"+8613800{n:06d}")
    party_role = "debtor"
    is_primary = True


class AccountFactory(factory.django.DjangoModelFactory):
    """An overdue credit-card account: 45 days past due (M2) by default."""

    class Meta:
        model = CreditAccount

    external_ref = factory.Sequence(lambda n: f"ACC{n:08d}")
    cardholder = factory.SubFactory(CardholderFactory)
    currency = "CNY"
    credit_limit = Decimal("20000.00")
    principal = Decimal("8000.00")
    interest = Decimal("600.00")
    fees = Decimal("200.00")
    penalties = Decimal("100.00")
    overdue_amount = Decimal("1500.00")
    minimum_due = Decimal("900.00")
    first_missed_due_date = factory.LazyFunction(lambda: _dt.date.today() - _dt.timedelta(days=45))
    days_past_due = 45
    bucket = "M2"


class QueueFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Queue
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Queue {n}")


def open_case(*, team=None, account=None, **account_fields):
    """An open case on a new delinquent account, placed in a queue of `team` (if given), built through
    the real service."""
    from collections_app import services

    account = account or AccountFactory(**account_fields)
    case = services.case_open(account=account)
    if team is not None:
        queue = QueueFactory(name=f"{team.name} queue", team=team)
        case.queue = queue
        case.save(update_fields=["queue"])
    return case


def write_off_approved(case, *, by, resolution_reason="charged_off", reason="Uncollectable"):
    """A write-off as the product makes one (maker-checker): asked for by `by`, approved by as many
    heads of collections as the amount needs (authority.services), applied through the kernel."""
    from authority import services as authority

    request = authority.request_create(
        case_id=case.pk, actor=by, kind="write_off", reason=reason, resolution_reason=resolution_reason
    )
    for number in range(1, request.required_approvals + 1):
        approver = UserFactory(username=f"approving_head{number}", role="head")
        authority.request_approve(request_id=request.pk, actor=approver, reason="Checked and approved")
    request.refresh_from_db()
    return request
