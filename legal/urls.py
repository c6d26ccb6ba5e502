"""The legal reviewers' pages, included by config/urls.py at legal/ (namespace "legal")."""

from django.urls import path

from legal import views as legal_views

app_name = "legal"

urlpatterns = [
    path("", legal_views.legal_queue, name="queue"),
    path("cases/<int:case_id>/", legal_views.legal_case, name="case"),
    path("cases/<int:case_id>/decide/", legal_views.legal_decide, name="decide"),
    path("cases/<int:case_id>/export/", legal_views.legal_export, name="export"),
]
