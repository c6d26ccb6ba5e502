"""The contact policy admin shows channels by name (never `null`): ticked boxes that store the list of
channel codes the engine reads, nothing ticked meaning "no restriction at this layer".

Persona: `admin_client` (pytest-django's superuser) configures policies."""

import pytest
from django.urls import reverse

from contact_policy.models import ContactPolicy

pytestmark = [pytest.mark.django_db]


def change_form(policy: ContactPolicy, **overrides) -> dict:
    """The change form as the page posts it, from the stored row."""
    values = {
        "code": policy.code,
        "name": policy.name,
        "parent": policy.parent_id or "",
        "window_start": policy.window_start.strftime("%H:%M") if policy.window_start else "",
        "window_end": policy.window_end.strftime("%H:%M") if policy.window_end else "",
        "fallback_time_zone": policy.fallback_time_zone,
        "notes": policy.notes,
    }
    for field in ContactPolicy._meta.concrete_fields:
        value = getattr(policy, field.attname)
        if field.attname in values or field.attname in ("id", "updated_at", "allowed_channels"):
            continue
        if isinstance(value, bool) or value is None and field.get_internal_type() == "BooleanField":
            values[field.attname] = "unknown" if value is None else ("true" if value else "false")
        else:
            values[field.attname] = "" if value is None else value
    return values | overrides


def test_the_change_form_names_the_channels_instead_of_null(admin_client):
    china = ContactPolicy.objects.get(code="CN")
    page = admin_client.get(reverse("admin:contact_policy_contactpolicy_change", args=[china.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert 'type="checkbox" name="allowed_channels" value="sms"' in html
    assert "Outbound call" in html and "Field visit" in html
    assert ">null<" not in html and 'value="null"' not in html


def test_ticked_channels_are_stored_as_codes_and_none_ticked_is_no_restriction(admin_client):
    massachusetts = ContactPolicy.objects.get(code="US-MA")
    url = reverse("admin:contact_policy_contactpolicy_change", args=[massachusetts.pk])
    ticked = change_form(massachusetts, allowed_channels=["letter", "outbound_call"])
    response = admin_client.post(url, ticked)
    assert response.status_code == 302, response.content.decode()[:3000]
    massachusetts.refresh_from_db()
    assert massachusetts.allowed_channels == ["outbound_call", "letter"]
    assert massachusetts.to_rules().allowed_channels == frozenset({"outbound_call", "letter"})

    response = admin_client.post(url, change_form(massachusetts))
    assert response.status_code == 302
    massachusetts.refresh_from_db()
    assert massachusetts.allowed_channels is None


def test_the_list_and_the_rules_in_force_show_channel_names(admin_client):
    ContactPolicy.objects.filter(code="US-MA").update(allowed_channels=["sms", "outbound_call"])
    html = admin_client.get(reverse("admin:contact_policy_contactpolicy_changelist")).content.decode()
    assert "Outbound call, SMS" in html
    assert "any channel (no restriction here)" in html  # CN and US restrict nothing at their layer
    us_ma = ContactPolicy.objects.get(code="US-MA")
    page = admin_client.get(reverse("admin:contact_policy_contactpolicy_change", args=[us_ma.pk]))
    assert "Outbound call, SMS" in page.content.decode()
    assert "outbound_call, sms" not in page.content.decode()
