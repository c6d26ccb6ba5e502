"""The daily summary e-mailed to each supervisor: yesterday's figures of their team and what waits for
them, in their language, through the e-mail provider of messaging.services (the file outbox by
default, SMTP when COLLECTIONS_EMAIL_PROVIDER=smtp).

One DailySummary row per supervisor and day is claimed before the provider is called, so a retried task
does not send the same summary twice: a provider that de-duplicates by key (the file outbox) is simply
asked again; through one that cannot (SMTP), an attempt that died mid-send is not repeated but marked
failed for a person to check - the same rule as the reminders.
"""

from __future__ import annotations

import logging
from datetime import date

from django.db import transaction
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from accounts.models import Role, User
from dashboards import kpis, selectors
from dashboards.models import DailySummary, SummaryStatus
from dashboards.scope import Filters, Period, teams_for
from dashboards.templatetags.dashboard_tags import kpi_value
from messaging import services as messaging
from messaging.models import MessageChannel

logger = logging.getLogger(__name__)

SUMMARY_KPIS = (
    "contact_attempts",
    "contact_rate",
    "rpc_rate",
    "rpc_rate_accounts",
    "promise_rate",
    "kept_rate",
    "broken_promises",
    "amount_collected",
    "cases_cured",
    "escalations",
    "refusals",
    "overrides",
    "complaints",
)


def recipients():
    """Active supervisors with an e-mail address."""
    return User.objects.filter(role=Role.SUPERVISOR, is_active=True).exclude(email="").order_by("pk")


def _format(value, unit: str) -> str:
    return kpi_value(value, unit)


def summary_text(supervisor, day: date) -> tuple[str, str]:
    """Subject and body of `supervisor`'s summary of `day`, in their language."""
    filters = Filters(teams=teams_for(supervisor))
    with translation.override(supervisor.language):
        values = kpis.kpi_values(filters, Period(day, day))
        now = selectors.team_now(supervisor, filters, now=timezone.now())
        team = supervisor.team.name if supervisor.team else ""
        shown = formats.date_format(day, "SHORT_DATE_FORMAT")  # in the supervisor's language
        subject = _("Collections summary %(day)s · %(team)s") % {"day": shown, "team": team}
        width = max(len(str(kpis.KPI_BY_KEY[k].label)) for k in SUMMARY_KPIS)
        lines = [_("Figures of %(day)s (bank time):") % {"day": shown}, ""]
        for key in SUMMARY_KPIS:
            kpi = kpis.KPI_BY_KEY[key]
            lines.append(f"  {str(kpi.label):<{width}}  {_format(kpi.compute(values), kpi.unit)}")
        lines += [
            "",
            _("Waiting for you now:"),
            "  " + _("Plans outside limits: %(n)s") % {"n": len(now.plans)},
            "  " + _("Escalation requests: %(n)s") % {"n": len(now.escalations)},
            "  " + _("Compliance override requests: %(n)s") % {"n": len(now.override_requests)},
            "  " + _("Callbacks overdue: %(n)s") % {"n": now.callbacks_overdue_count},
            "",
            _("Dashboard: %(path)s") % {"path": reverse("dashboards:home")},
            _("Every figure's formula is on the KPI page: %(path)s") % {"path": reverse("dashboards:kpis")},
        ]
    return subject, "\n".join(lines)


def summary_key(supervisor_id: int, day: date) -> str:
    return f"daily-summary:{supervisor_id}:{day.isoformat()}"


def daily_summary_send(*, supervisor_id: int, day: date) -> str:
    """Send one supervisor's summary of `day`. Idempotent: "sent" once; again, "skipped". Raises
    messaging.RetryLater on a temporary provider failure (the task retries)."""
    supervisor = User.objects.select_related("team").filter(pk=supervisor_id, is_active=True).first()
    if supervisor is None or not supervisor.email:
        return "skipped"
    provider = messaging.provider_for(MessageChannel.EMAIL)
    key = summary_key(supervisor_id, day)
    with transaction.atomic():
        row, _created = DailySummary.objects.select_for_update().get_or_create(
            supervisor=supervisor, day=day, defaults={"key": key}
        )
        if row.status in (SummaryStatus.SENT, SummaryStatus.FAILED):
            return "skipped"
        if row.attempts and not row.error and not provider.idempotent:
            # The last attempt died between claiming and answering: it may have gone out.
            row.status, row.error = SummaryStatus.FAILED, "outcome unknown (the sending process stopped)"
            row.save(update_fields=["status", "error"])
            return "failed"
        row.attempts += 1
        row.error = ""
        row.save(update_fields=["attempts", "error"])
    subject, body = summary_text(supervisor, day)
    outgoing = messaging.Outgoing(
        key=key,
        channel=MessageChannel.EMAIL,
        recipient=supervisor.email,
        subject=subject,
        body=body,
        language=supervisor.language,
    )
    try:
        reference = provider.send(outgoing)
    except messaging.TemporaryFailure as exc:
        DailySummary.objects.filter(pk=row.pk).update(error=str(exc)[:2000])
        raise messaging.RetryLater(messaging.backoff_seconds(row.attempts), str(exc)) from exc
    except messaging.PermanentFailure as exc:
        DailySummary.objects.filter(pk=row.pk).update(status=SummaryStatus.FAILED, error=str(exc)[:2000])
        return "failed"
    DailySummary.objects.filter(pk=row.pk).update(
        status=SummaryStatus.SENT, sent_at=timezone.now(), provider_ref=str(reference)[:300]
    )
    logger.info("dashboards: daily summary %s sent", key)
    return "sent"
