from django.urls import path

from collections_app import desk_views, views

urlpatterns = [
    path("work/", views.my_work, name="my_work"),
    path("work/held-back/", views.my_work_held_back, name="my_work_held_back"),
    path("work/next/", views.next_case, name="next_case"),
    path("agenda/", desk_views.agenda, name="agenda"),
    path("search/", views.search, name="search"),
    path("queues/<int:queue_id>/", views.queue_detail, name="queue_detail"),
    path("cases/<int:case_id>/", views.case_detail, name="case_detail"),
    path("cases/<int:case_id>/drawer/<slug:drawer>/", views.case_drawer, name="case_drawer"),
    path("cases/<int:case_id>/history/", views.case_history, name="case_history"),
    path("cases/<int:case_id>/documents/", views.case_documents_view, name="case_documents"),
    path("cases/<int:case_id>/contact/", views.case_log_contact, name="case_log_contact"),
    path("cases/<int:case_id>/promise/", views.case_record_promise, name="case_record_promise"),
    path("cases/<int:case_id>/callback/", views.case_schedule_callback, name="case_schedule_callback"),
    path("cases/<int:case_id>/note/", views.case_add_note, name="case_add_note"),
    path("cases/<int:case_id>/hold/", views.case_hold, name="case_hold"),
    path("cases/<int:case_id>/release-hold/", views.case_release_hold, name="case_release_hold"),
    path("cases/<int:case_id>/escalate/", views.case_request_escalation, name="case_request_escalation"),
    path("cases/<int:case_id>/transition/", views.case_transition, name="case_transition"),
    path("cases/<int:case_id>/reveal/", views.case_reveal, name="case_reveal"),
    path("cases/<int:case_id>/release/", views.case_release, name="case_release"),
    path("cases/<int:case_id>/lease/", views.case_renew_lease, name="case_renew_lease"),
    path("cases/<int:case_id>/script/", desk_views.case_call_script, name="case_call_script"),
]
