from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ContactPolicyConfig(AppConfig):
    name = "contact_policy"
    verbose_name = _("Contact policy")
