"""The project's URLs with the plan pages at plans/, for tests that run before config/urls.py includes
them (once it does, this adds nothing)."""

from django.urls import include, path

from config.urls import urlpatterns as project_urlpatterns

urlpatterns = list(project_urlpatterns)
if not any(getattr(pattern, "namespace", None) == "plans" for pattern in urlpatterns):
    urlpatterns.append(path("plans/", include("repayment_plans.urls")))
