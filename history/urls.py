from django.urls import path

from history import views

app_name = "history"

urlpatterns = [
    path("", views.history_search, name="search"),
    path("case/<int:case_id>/", views.case_changes, name="case_changes"),
]
