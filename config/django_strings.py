"""Strings of Django's own admin templates that its Simplified Chinese catalogue (Django 5.2) leaves in
English. Marked here so that `makemessages` keeps them in the project's catalogue, which Django searches
before its own; nothing imports this module."""

from django.utils.translation import gettext_noop

DJANGO_ADMIN_STRINGS = [
    gettext_noop("Model name"),
    gettext_noop("Add link"),
    gettext_noop("Change or view list link"),
]
