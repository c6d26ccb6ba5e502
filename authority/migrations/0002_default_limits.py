"""The authority limits a new installation starts with; admins change them in the admin pages.

Amounts per currency (CNY, USD), shares of the balance, months:

| kind                | agent            | team lead          | supervisor            | head                                  |
|---------------------|------------------|--------------------|-----------------------|---------------------------------------|
| settlement discount | 10%, 5,000 / 700 | 20%, 20,000 / 3,000| 30%, 100,000 / 15,000 | 50%, 500,000 / 70,000; two above 200,000 / 30,000 |
| fee waiver          | 5%, 500 / 70     | 10%, 2,000 / 300   | 20%, 10,000 / 1,500   | 50%, 50,000 / 7,000                   |
| interest waiver     | 5%, 1,000 / 150  | 10%, 5,000 / 700   | 20%, 20,000 / 3,000   | 50%, 100,000 / 15,000                 |
| plan length         | 12 months        | 12 months          | 24 months             | 60 months                             |
| write-off           | none             | 10,000 / 1,500     | 100,000 / 15,000      | 500,000 / 70,000; two above 200,000 / 30,000 |

Beyond the head's limit a request still goes to the head, and needs two different heads' approval.
"""

from decimal import Decimal

from django.db import migrations

D = Decimal
# kind -> role -> (max percent, {currency: max amount}, max months, {currency: two approvers above})
DEFAULTS = {
    "settlement_discount": {
        "agent": (D("10"), {"CNY": D("5000"), "USD": D("700")}, None, {}),
        "team_lead": (D("20"), {"CNY": D("20000"), "USD": D("3000")}, None, {}),
        "supervisor": (D("30"), {"CNY": D("100000"), "USD": D("15000")}, None, {}),
        "head": (D("50"), {"CNY": D("500000"), "USD": D("70000")}, None, {"CNY": D("200000"), "USD": D("30000")}),
    },
    "fee_waiver": {
        "agent": (D("5"), {"CNY": D("500"), "USD": D("70")}, None, {}),
        "team_lead": (D("10"), {"CNY": D("2000"), "USD": D("300")}, None, {}),
        "supervisor": (D("20"), {"CNY": D("10000"), "USD": D("1500")}, None, {}),
        "head": (D("50"), {"CNY": D("50000"), "USD": D("7000")}, None, {}),
    },
    "interest_waiver": {
        "agent": (D("5"), {"CNY": D("1000"), "USD": D("150")}, None, {}),
        "team_lead": (D("10"), {"CNY": D("5000"), "USD": D("700")}, None, {}),
        "supervisor": (D("20"), {"CNY": D("20000"), "USD": D("3000")}, None, {}),
        "head": (D("50"), {"CNY": D("100000"), "USD": D("15000")}, None, {}),
    },
    "plan_length": {
        "agent": (None, {"": None}, 12, {}),
        "team_lead": (None, {"": None}, 12, {}),
        "supervisor": (None, {"": None}, 24, {}),
        "head": (None, {"": None}, 60, {}),
    },
    "write_off": {
        "team_lead": (None, {"CNY": D("10000"), "USD": D("1500")}, None, {}),
        "supervisor": (None, {"CNY": D("100000"), "USD": D("15000")}, None, {}),
        "head": (None, {"CNY": D("500000"), "USD": D("70000")}, None, {"CNY": D("200000"), "USD": D("30000")}),
    },
}


def rows():
    for kind, roles in DEFAULTS.items():
        for role, (percent, amounts, months, dual) in roles.items():
            for currency, amount in amounts.items():
                yield {
                    "role": role,
                    "kind": kind,
                    "currency": currency,
                    "max_amount": amount,
                    "max_percent": percent,
                    "max_months": months,
                    "dual_control_above": dual.get(currency),
                }


def create_limits(apps, schema_editor):
    AuthorityLimit = apps.get_model("authority", "AuthorityLimit")
    for row in rows():
        AuthorityLimit.objects.get_or_create(
            role=row["role"], kind=row["kind"], currency=row["currency"], defaults=row
        )


class Migration(migrations.Migration):
    dependencies = [("authority", "0001_initial")]

    operations = [migrations.RunPython(create_limits, migrations.RunPython.noop)]
