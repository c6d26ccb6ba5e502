from django.urls import path

from automation import views as automation_views

urlpatterns = [
    path("runs/", automation_views.run_list, name="automation_runs"),
    path("messages/", automation_views.message_list, name="automation_messages"),
]
