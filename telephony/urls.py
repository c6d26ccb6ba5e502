"""Click-to-call, included at `telephony/` with the namespace "telephony"."""

from django.urls import path

from telephony import views

app_name = "telephony"

urlpatterns = [
    path("cases/<int:case_id>/dial/", views.dial_view, name="dial"),
    path("cases/<int:case_id>/call/", views.place_view, name="place"),
    path("calls/<uuid:call_id>/status/", views.call_status_view, name="status"),
    path("calls/<uuid:call_id>/complete/", views.complete_view, name="complete"),
    path("events/", views.events_view, name="events"),
]
