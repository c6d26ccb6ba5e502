"""Personal data in the admin leaves only through a logged reveal: change forms never hold a stored
national ID, e-mail, address or number; "Reveal" calls services.pii_reveal (the case page's service,
its PII_REVEAL event); people are found by national ID or number through a POST matched on keyed
hashes, never through a URL; the hashes are kept by save() and by the daily import's bulk paths.

Personas: admin_user (the only role in /admin/), agent (team A; refused the admin)."""

import re

import pytest
from django.urls import reverse

from collections_app.models import Cardholder, CaseEvent, ContactPoint, EventKind
from collections_app.pii import cardholders_matching_pii, pii_hash_refresh
from core.masking import pii_hash
from tests.factories import CardholderFactory, ContactPointFactory, open_case
from tests.imports.test_imports import account_row, load_accounts
from tests.messaging.pii_logs import scan_module_logs

pytestmark = [pytest.mark.django_db]

NATIONAL_ID = "110101199003071234"
PHONE = "+8613912345678"
EMAIL = "li.na@example.com"
ADDRESS = "北京市朝阳区建国路88号3单元1202室"

pii_logs = scan_module_logs((NATIONAL_ID, PHONE, "13912345678", EMAIL, "建国路88号"))


@pytest.fixture
def holder(db):
    case = open_case(
        cardholder__national_id=NATIONAL_ID, cardholder__email=EMAIL, cardholder__address=ADDRESS
    )
    holder = case.account.cardholder
    ContactPointFactory(cardholder=holder, value=PHONE)
    holder.case = case
    return holder


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def change_url(obj) -> str:
    return reverse(f"admin:collections_app_{obj._meta.model_name}_change", args=[obj.pk])


def reveal_url(obj) -> str:
    return reverse(f"admin:collections_app_{obj._meta.model_name}_reveal", args=[obj.pk])


def assert_no_pii(html: str) -> None:
    for value in (NATIONAL_ID, PHONE, "13912345678", EMAIL, ADDRESS):
        assert value not in html, value


def test_the_cardholder_page_shows_personal_data_masked_only(admin_client, holder):
    html = admin_client.get(change_url(holder)).content.decode()
    assert_no_pii(html)
    assert "110***********1234" in html and "l***@example.com" in html and "+86139****5678" in html
    assert 'name="reveal" value="national_id"' in html


def test_the_contact_point_page_and_lists_show_the_number_masked_only(admin_client, holder):
    point = holder.contact_points.get()
    for url in (
        change_url(point),
        reverse("admin:collections_app_contactpoint_changelist"),
        reverse("admin:collections_app_cardholder_changelist"),
    ):
        html = admin_client.get(url).content.decode()
        assert_no_pii(html)
        assert "+86139****5678" in html


def test_saving_the_page_with_the_masked_fields_empty_keeps_the_values(admin_client, holder):
    page = admin_client.get(change_url(holder))
    form = page.context["adminform"].form
    # The page as the browser would post it back: the masked fields empty, everything else as shown.
    data = {name: form[name].value() for name in form.fields if form[name].value() not in (None, False)}
    data["name"] = "李娜"
    data.update({"contact_points-TOTAL_FORMS": "1", "contact_points-INITIAL_FORMS": "1"})
    point = holder.contact_points.get()
    inline = page.context["inline_admin_formsets"][0].formset.forms[0]
    for name in inline.fields:
        value = inline[name].value()
        if value not in (None, False):
            data[f"contact_points-0-{name}"] = value
    data["contact_points-0-id"] = point.pk
    data["contact_points-0-cardholder"] = holder.pk

    response = admin_client.post(change_url(holder), data)

    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    holder.refresh_from_db()
    point.refresh_from_db()
    assert (holder.name, holder.national_id, holder.email, holder.address) == (
        "李娜",
        NATIONAL_ID,
        EMAIL,
        ADDRESS,
    )
    assert point.value == PHONE


def test_a_reveal_goes_through_the_reveal_service_and_is_on_the_timeline(admin_client, admin_user, holder):
    response = admin_client.post(reveal_url(holder), {"reveal": "national_id", "reason": "complaint"})

    assert response.status_code == 200
    assert NATIONAL_ID in response.content.decode()
    event = CaseEvent.objects.get(case=holder.case, kind=EventKind.PII_REVEAL)
    assert event.actor == admin_user and event.details["field"] == "national_id"

    point = holder.contact_points.get()
    response = admin_client.post(reveal_url(point), {"reveal": f"phone:{point.pk}", "reason": "complaint"})
    assert PHONE in response.content.decode()
    assert CaseEvent.objects.filter(case=holder.case, kind=EventKind.PII_REVEAL).count() == 2


def test_a_reveal_is_a_post(admin_client, holder):
    assert admin_client.get(reveal_url(holder), {"reveal": "national_id"}).status_code == 405
    assert not CaseEvent.objects.filter(kind=EventKind.PII_REVEAL).exists()


def test_without_a_case_to_record_it_on_nothing_is_revealed(admin_client):
    lonely = CardholderFactory(external_ref="C-LONELY", national_id=NATIONAL_ID)
    response = admin_client.post(
        reveal_url(lonely), {"reveal": "national_id", "reason": "complaint"}, follow=True
    )
    assert_no_pii(response.content.decode())
    assert "no case to record the reveal on" in response.content.decode()


def test_a_field_that_is_not_revealable_is_refused(admin_client, holder):
    response = admin_client.post(reveal_url(holder), {"reveal": "name", "reason": "complaint"}, follow=True)
    assert "cannot be revealed" in response.content.decode()
    assert not CaseEvent.objects.filter(kind=EventKind.PII_REVEAL).exists()


def test_other_roles_cannot_reveal_or_search_in_the_admin(client, agent, holder):
    client.force_login(agent)
    response = client.post(reveal_url(holder), {"reveal": "national_id", "reason": "complaint"})
    assert response.status_code in (302, 403)
    assert NATIONAL_ID not in response.content.decode()
    search = reverse("admin:collections_app_cardholder_pii_search")
    assert client.post(search, {"value": NATIONAL_ID}).status_code in (302, 403)
    assert not CaseEvent.objects.filter(kind=EventKind.PII_REVEAL).exists()


def test_the_url_search_no_longer_matches_national_ids_or_numbers(admin_client, holder):
    changelist = reverse("admin:collections_app_cardholder_changelist")
    for value in (NATIONAL_ID, PHONE):
        html = admin_client.get(changelist, {"q": value}).content.decode()
        assert holder.external_ref not in html
    html = admin_client.get(changelist, {"q": holder.external_ref}).content.decode()
    assert holder.external_ref in html  # references and names are still searched as before


@pytest.mark.parametrize(
    "typed", [NATIONAL_ID, "110101 19900307 1234", PHONE, "13912345678", "139-1234-5678"]
)
def test_the_post_search_finds_the_person_without_the_value_in_the_url(admin_client, holder, typed):
    CardholderFactory(external_ref="C-OTHER", national_id="110101198001011111")

    response = admin_client.post(reverse("admin:collections_app_cardholder_pii_search"), {"value": typed})

    assert response.status_code == 302
    assert re.search(r"\?id__in=\d+$", response["Location"]) and "1234" not in response["Location"]
    assert response["Location"].endswith(f"id__in={holder.pk}")
    html = admin_client.get(response["Location"]).content.decode()
    assert holder.external_ref in html and "C-OTHER" not in html


def test_the_post_search_says_when_nobody_matches(admin_client, holder):
    response = admin_client.post(
        reverse("admin:collections_app_cardholder_pii_search"), {"value": "110101200001010000"}, follow=True
    )
    assert "Nobody has that national ID or number." in response.content.decode()


def test_the_contact_point_list_has_the_post_search_too(admin_client, holder):
    point = holder.contact_points.get()
    response = admin_client.post(
        reverse("admin:collections_app_contactpoint_pii_search"), {"value": "13912345678"}
    )
    assert response["Location"].endswith(f"?id__in={point.pk}")
    html = admin_client.get(reverse("admin:collections_app_cardholder_changelist")).content.decode()
    assert 'action="/admin/collections_app/cardholder/pii-search/"' in html and 'method="post"' in html


def test_the_hashes_follow_the_values_on_save(holder):
    assert holder.national_id_hash == pii_hash(NATIONAL_ID) and len(holder.national_id_hash) == 64
    holder.national_id = "110101198001011111"
    holder.save(update_fields=["national_id"])
    holder.refresh_from_db()
    assert holder.national_id_hash == pii_hash("110101198001011111")
    assert list(cardholders_matching_pii("110101198001011111")) == [holder]
    assert not cardholders_matching_pii(NATIONAL_ID).exists()


def test_the_hash_is_keyed(settings, holder):
    before = pii_hash(NATIONAL_ID)
    settings.PII_HASH_KEY = "another key"
    assert pii_hash(NATIONAL_ID) != before
    assert not cardholders_matching_pii(NATIONAL_ID).exists()  # stored under the old key
    assert pii_hash_refresh() == {"cardholders": 1, "contact_points": 1, "accounts": 0}
    assert list(cardholders_matching_pii(NATIONAL_ID)) == [holder]


def test_a_bulk_write_that_skipped_the_hashes_is_caught_up_by_the_refresh(holder):
    Cardholder.objects.filter(pk=holder.pk).update(national_id_hash="")
    ContactPoint.objects.filter(cardholder=holder).update(value_hash="")
    assert not cardholders_matching_pii(PHONE).exists()
    assert pii_hash_refresh() == {"cardholders": 1, "contact_points": 1, "accounts": 0}
    assert list(cardholders_matching_pii(PHONE)) == [holder]
    assert pii_hash_refresh() == {"cardholders": 0, "contact_points": 0, "accounts": 0}


def test_the_daily_import_keeps_the_hashes_on_its_bulk_paths(tmp_path):
    first = load_accounts(
        tmp_path, [account_row(national_id="999999198503120017", phone="+86 138 0013 8001")]
    )
    assert first.counts["cardholders_created"] == 1
    (holder,) = cardholders_matching_pii("999999198503120017")
    assert list(cardholders_matching_pii("13800138001")) == [holder]  # the number, as typed without +86

    load_accounts(tmp_path, [account_row(national_id="999999198503120025", phone="+86 138 0013 8001")])

    assert list(cardholders_matching_pii("999999198503120025")) == [holder]  # the upsert updated the hash
    assert not cardholders_matching_pii("999999198503120017").exists()
