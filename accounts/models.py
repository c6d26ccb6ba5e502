import zoneinfo

from django.contrib.auth.models import AbstractUser, UserManager
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from core.choices import ChoiceLabels
from core.clock import bank_zone


class Role(models.TextChoices):
    """Who a person is in the department. The approval ladder (authority.services.LADDER) runs
    agent -> team lead -> supervisor -> head of collections; legal and admin stand beside it."""

    AGENT = "agent", _("Agent")
    TEAM_LEAD = "team_lead", _("Team lead")
    SUPERVISOR = "supervisor", _("Supervisor")
    HEAD = "head", _("Head of collections")
    LEGAL = "legal", _("Legal reviewer")
    ADMIN = "admin", _("Administrator")


class Language(models.TextChoices):
    ZH_HANS = "zh-hans", "简体中文"
    EN = "en", "English"


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(_("%(value)s is not a known time zone."), params={"value": value})


class Team(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    supervisor = models.ForeignKey(
        "accounts.User",
        verbose_name=_("supervisor"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="supervised_teams",
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("team")
        verbose_name_plural = _("teams")

    def __str__(self) -> str:
        return self.name


class CollectionsUserManager(UserManager):
    def create_superuser(self, username, email=None, password=None, **extra_fields):
        extra_fields.setdefault("role", Role.ADMIN)
        return super().create_superuser(username, email, password, **extra_fields)


class User(ChoiceLabels, AbstractUser):
    """A person who works in the system. What they may do follows from `role` (accounts.permissions);
    what they see follows from `team`. Django's is_staff / is_superuser flags are not used for access."""

    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.AGENT)
    team = models.ForeignKey(
        Team, verbose_name=_("team"), on_delete=models.SET_NULL, null=True, blank=True, related_name="members"
    )
    language = models.CharField(
        _("language"), max_length=8, choices=Language.choices, default=Language.ZH_HANS
    )
    # Empty: the bank's zone (settings.TIME_ZONE), so a user follows it if the bank's setting changes.
    time_zone = models.CharField(
        _("time zone"),
        max_length=64,
        blank=True,
        default="",
        validators=[validate_time_zone],
        help_text=_("The zone every time is shown in; empty for the bank's zone."),
    )

    # The `sub` claim of the single sign-on provider (accounts.oidc): who this user is there, for good;
    # empty for a user who has never signed in through it.
    oidc_subject = models.CharField(_("single sign-on subject"), max_length=255, blank=True, default="")

    objects = CollectionsUserManager()

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [
            models.CheckConstraint(condition=models.Q(role__in=Role.values), name="user_role_valid"),
            models.CheckConstraint(
                condition=models.Q(language__in=Language.values), name="user_language_valid"
            ),
            models.UniqueConstraint(
                fields=["oidc_subject"],
                condition=~models.Q(oidc_subject=""),
                name="user_oidc_subject_unique",
            ),
        ]

    def __str__(self) -> str:
        return self.get_full_name() or self.username

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        """The zone this user reads times in: their own, else the bank's."""
        if self.time_zone:
            try:
                return zoneinfo.ZoneInfo(self.time_zone)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                pass  # a zone the system's tz database no longer knows: the bank's, not a server error
        return bank_zone()

    def get_full_name(self) -> str:
        # Chinese names are written family name first, without a space (李伟, not 伟 李).
        if any("\u4e00" <= ch <= "\u9fff" for ch in self.last_name + self.first_name):
            return f"{self.last_name}{self.first_name}".strip()
        return super().get_full_name()

    # Django admin's own model permissions: the admin role holds them all, nobody else any.
    def has_perm(self, perm, obj=None) -> bool:
        return self.is_active and self.role == Role.ADMIN

    def has_module_perms(self, app_label) -> bool:
        return self.is_active and self.role == Role.ADMIN
