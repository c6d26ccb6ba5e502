"""Dashboard pages, included by config/urls.py at dashboards/ (namespace "dashboards")."""

from django.urls import path

from dashboards import views

app_name = "dashboards"

urlpatterns = [
    path("", views.home, name="home"),
    path("kpis/", views.kpi_page, name="kpis"),
    path("kpis/<slug:key>/", views.drill, name="drill"),
    path("team/", views.team_page, name="team"),
    path("team/agents/<int:agent_id>/", views.agent_settings, name="agent_settings"),
    path("team/leases/release/", views.leases_release, name="leases_release"),
    path("cases/<int:case_id>/reassign/", views.case_reassign, name="case_reassign"),
    path("cases/<int:case_id>/release-lease/", views.lease_release, name="lease_release"),
    path("inbox/<int:event_id>/", views.inbox_answer, name="inbox_answer"),
    path("legal/", views.legal_page, name="legal"),
]
