"""Dashboard pages, included by config/urls.py at dashboards/ (namespace "dashboards")."""

from django.urls import path

from dashboards import access_views, floor_views, views

app_name = "dashboards"

urlpatterns = [
    path("", views.home, name="home"),
    path("kpis/", views.kpi_page, name="kpis"),
    path("kpis/<slug:key>/", views.drill, name="drill"),
    path("team/", views.team_page, name="team"),
    path("team/live/", views.team_live, name="team_live"),
    path("team/agents/<int:agent_id>/", views.agent_settings, name="agent_settings"),
    path("team/leases/release/", views.leases_release, name="leases_release"),
    path("cases/", floor_views.cases_page, name="cases"),
    path("cases/preview/", floor_views.cases_preview, name="cases_preview"),
    path("cases/apply/", floor_views.cases_apply, name="cases_apply"),
    path("views/", floor_views.saved_views_box, name="saved_views"),
    path("views/save/", floor_views.saved_view_save, name="saved_view_save"),
    path("views/<int:view_id>/delete/", floor_views.saved_view_delete, name="saved_view_delete"),
    path("cases/<int:case_id>/reassign/", views.case_reassign, name="case_reassign"),
    path("cases/<int:case_id>/release-lease/", views.lease_release, name="lease_release"),
    path("inbox/<int:event_id>/", views.inbox_answer, name="inbox_answer"),
    path("legal/", views.legal_page, name="legal"),
    path("access/", access_views.access_page, name="access"),
]
