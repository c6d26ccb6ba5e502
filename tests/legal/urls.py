"""The project's URLs with the legal pages at legal/, for tests that run before config/urls.py includes
them (once it does, this adds nothing)."""

from django.urls import include, path

from config.urls import urlpatterns as project_urlpatterns

urlpatterns = list(project_urlpatterns)
if not any(getattr(pattern, "namespace", None) == "legal" for pattern in urlpatterns):
    urlpatterns.append(path("legal/", include("legal.urls")))
