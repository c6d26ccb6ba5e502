"""Send from the case, included at `messaging/` with the namespace "messaging"."""

from django.urls import path

from messaging import views

app_name = "messaging"

urlpatterns = [
    path("cases/<int:case_id>/send/", views.case_send_view, name="case_send"),
    path("cases/<int:case_id>/send/preview/", views.case_preview_view, name="case_preview"),
    path("cases/<int:case_id>/send/letter/", views.case_letter_preview_view, name="case_letter_preview"),
    path("letters/<int:message_id>/", views.letter_view, name="letter"),
]
