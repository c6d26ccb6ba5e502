"""Maker-checker pages, included at `authority/` with the namespace "authority"."""

from django.urls import path

from authority import views

app_name = "authority"

urlpatterns = [
    path("", views.inbox_view, name="inbox"),
    path("cases/<int:case_id>/write-off/", views.case_write_off_view, name="case_write_off"),
    path("requests/<int:request_id>/approve/", views.approve_view, name="approve"),
    path("requests/<int:request_id>/reject/", views.reject_view, name="reject"),
    path("requests/<int:request_id>/cancel/", views.cancel_view, name="cancel"),
]
