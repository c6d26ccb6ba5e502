"""The project's URLs with the automation pages at automation/, for tests that run before config/urls.py
includes them (once it does, this adds nothing)."""

from django.urls import include, path

from config.urls import urlpatterns as project_urlpatterns

urlpatterns = list(project_urlpatterns)
if not any(str(getattr(p, "pattern", "")) == "automation/" for p in urlpatterns):
    urlpatterns.append(path("automation/", include("automation.urls")))
