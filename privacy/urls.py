"""The privacy pages, included by config/urls.py at privacy/ (namespace "privacy")."""

from django.urls import path

from privacy import views

app_name = "privacy"

urlpatterns = [
    path("", views.privacy_home, name="home"),
    path("subject-access/", views.subject_access, name="subject_access"),
    path("legal-holds/", views.legal_holds, name="holds"),
    path("legal-holds/<int:hold_id>/release/", views.legal_hold_release, name="hold_release"),
    path("corrections/", views.corrections, name="corrections"),
    path("corrections/<int:request_id>/decide/", views.correction_decide, name="correction_decide"),
]
