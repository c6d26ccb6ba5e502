from django.contrib import admin
from django.urls import include, path

from accounts import views as account_views

urlpatterns = [
    path("", account_views.home, name="home"),
    path("accounts/", include("accounts.urls")),
    path("admin/", admin.site.urls),
    path("api/", include("api.urls")),
    path("plans/", include("repayment_plans.urls")),
    path("dashboards/", include("dashboards.urls")),
    path("legal/", include("collections_app.legal_urls")),
    path("automation/", include("collections_app.automation_urls")),
    path("", include("collections_app.urls")),
]
