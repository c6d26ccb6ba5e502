"""Admin page of the legal referrals: read-only, written by legal.services."""

from django.contrib import admin

from collections_app.admin import CaseHistoryAdmin
from legal.models import LegalReferral


@admin.register(LegalReferral)
class LegalReferralAdmin(CaseHistoryAdmin):
    list_display = [
        "case_link",
        "decision",
        "referred_at",
        "referred_by",
        "rule_name",
        "reviewer",
        "decided_at",
        "court_reference",
        "limitation_date",
    ]
    list_filter = ["decision", "rule_name"]
    list_select_related = ["case", "referred_by", "reviewer"]
    search_fields = ["=case__reference", "=court_reference"]
    date_hierarchy = "referred_at"
