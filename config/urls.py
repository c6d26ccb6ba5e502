from django.contrib import admin
from django.urls import include, path
from mozilla_django_oidc import urls as oidc_urls

from accounts import views as account_views

urlpatterns = [
    path("", account_views.home, name="home"),
    path("accounts/", include("accounts.urls")),
    # Single sign-on's round trip to the provider (accounts.oidc; 404 while it is not configured). The
    # library's logout view is left out: everybody signs out at accounts' logout.
    path("oidc/", include([p for p in oidc_urls.urlpatterns if p.name != "oidc_logout"])),
    path("admin/", admin.site.urls),
    # Automation's endpoint under the API's prefix, before the API's catch-all 404 (they are siblings).
    path("api/v1/", include("automation.api_urls")),
    path("api/", include("api.urls")),
    path("plans/", include("repayment_plans.urls")),
    path("authority/", include("authority.urls")),
    path("dashboards/", include("dashboards.urls")),
    path("history/", include("history.urls")),
    path("legal/", include("legal.urls")),
    path("messaging/", include("messaging.urls")),
    path("automation/", include("automation.urls")),
    path("telephony/", include("telephony.urls")),
    path("privacy/", include("privacy.urls")),
    path("", include("collections_app.urls")),
]
