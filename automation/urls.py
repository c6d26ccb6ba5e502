from django.urls import path

from automation import views as automation_views

urlpatterns = [
    path("runs/", automation_views.run_list, name="automation_runs"),
    path("runs/start/", automation_views.run_start, name="automation_run_start"),
    path("messages/", automation_views.message_list, name="automation_messages"),
]
