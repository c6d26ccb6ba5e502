"""The project's URLs plus the bench baselines (demo.bench.baseline_views): both served the same way."""

from django.urls import path

from config.urls import urlpatterns as project_urlpatterns
from demo.bench import baseline_views

urlpatterns = [
    path("bench-baseline/api/<str:name>/", baseline_views.bare_list, name="bench_bare_list"),
    path("bench-baseline/page/", baseline_views.trivial, name="bench_trivial"),
    *project_urlpatterns,
]
