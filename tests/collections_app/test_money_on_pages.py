"""Every money figure on the working pages carries its currency, written as the reader's language writes it:
grouped, with the currency's symbol ("CN¥8,900.00" / "$12,345.60" in English, "¥8,900.00" / "US$12,345.60" in
Chinese), never a bare "8900.00" whose currency the reader has to guess."""

from decimal import Decimal

import pytest
from django.urls import reverse

from legal import services as legal_services
from tests.factories import UserFactory, open_case

pytestmark = pytest.mark.django_db

# The factory's components: principal 8,000 + interest 600 + fees 200 + penalties 100 = balance 8,900.
WRITTEN = {
    ("en", "CNY"): {"balance": "CN¥8,900.00", "overdue": "CN¥1,500.00"},
    ("zh-hans", "CNY"): {"balance": "¥8,900.00", "overdue": "¥1,500.00"},
    ("en", "USD"): {"balance": "$12,345.60", "overdue": "$2,345.60"},
    ("zh-hans", "USD"): {"balance": "US$12,345.60", "overdue": "US$2,345.60"},
}
BARE = ("8900.00", "1500.00", "12345.60", "2345.60")


@pytest.fixture
def cases(team_a):
    cny = open_case(team=team_a)
    usd = open_case(
        team=team_a,
        currency="USD",
        principal=Decimal("11445.60"),
        overdue_amount=Decimal("2345.60"),
        cardholder__jurisdiction="US",
        cardholder__time_zone="America/New_York",
    )
    return {"CNY": cny, "USD": usd}


def assert_money_written(html: str, language: str, currency: str, *, figures=("balance", "overdue")):
    for figure in figures:
        assert WRITTEN[language, currency][figure] in html, (language, currency, figure)
    for bare in BARE:
        assert f">{bare}<" not in html and f"{bare} {currency}" not in html, bare


@pytest.mark.parametrize("language", ["en", "zh-hans"])
@pytest.mark.parametrize("currency", ["CNY", "USD"])
def test_case_page_and_plan_pages_write_money_in_its_currency(client, supervisor, cases, language, currency):
    supervisor.language = language
    supervisor.save(update_fields=["language"])
    client.force_login(supervisor)
    case = cases[currency]

    assert_money_written(
        client.get(reverse("case_detail", args=[case.pk])).content.decode(), language, currency
    )
    propose = client.get(reverse("plans:propose", args=[case.pk])).content.decode()
    assert_money_written(propose, language, currency)


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_lists_write_each_row_in_its_own_currency(client, supervisor, cases, language):
    supervisor.language = language
    supervisor.save(update_fields=["language"])
    client.force_login(supervisor)

    queue = client.get(reverse("queue_detail", args=[cases["CNY"].queue_id])).content.decode()
    assert_money_written(queue, language, "CNY", figures=("overdue",))
    assert_money_written(queue, language, "USD", figures=("overdue",))
    for currency, case in cases.items():
        found = client.get(reverse("search"), {"q": case.reference}).content.decode()
        assert_money_written(found, language, currency, figures=("overdue",))


def test_the_legal_package_writes_money_in_its_currency(client, cases, supervisor):
    reviewer = UserFactory(username="legal_zh", role="legal", language="zh-hans")
    case = cases["USD"]
    legal_services.legal_refer(case_id=case.pk, actor=supervisor, reason="refuses to pay")
    client.force_login(reviewer)

    package = client.get(reverse("legal:case", args=[case.pk])).content.decode()

    assert_money_written(package, "zh-hans", "USD")
