"""Automation's REST endpoint, mounted at /api/v1/ by config/urls.py ahead of the API (whose catch-all
answers 404 for any other path under v1/)."""

from rest_framework.routers import SimpleRouter

from automation.api import NightlyRunViewSet

router = SimpleRouter()
router.register("nightly-runs", NightlyRunViewSet, basename="nightly-run")

app_name = "automation_api"
urlpatterns = router.urls
