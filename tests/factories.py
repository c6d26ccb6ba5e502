"""Test-data builders with realistic defaults. Anything with workflow history is built through the
real services (collections_app.services), never by setting states directly."""

import factory

from accounts.models import Team, User

TEST_PASSWORD = "correct-horse-battery-staple"


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Team {n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    role = "agent"
    language = "en"
    time_zone = "Asia/Shanghai"
    password = factory.django.Password(TEST_PASSWORD)
