from django.contrib.auth import views as auth_views
from django.urls import path

from accounts import views

urlpatterns = [
    path("login/", views.SignInView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("language/", views.set_language, name="set_language"),
    path("settings/", views.my_settings, name="my_settings"),
    path("two-factor/", views.two_factor_verify, name="two_factor_verify"),
    path("two-factor/set-up/", views.two_factor_enrol, name="two_factor_enrol"),
]
