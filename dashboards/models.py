"""Rollup tables that the dashboards read, and the few records of supervisors' own actions.

Rollups are daily aggregates maintained by `dashboards.rollups.refresh(as_of=...)` (a nightly step): each
night the last few days are deleted and rebuilt with one INSERT ... SELECT per table, so a refresh is
idempotent and late data (a back-dated contact, a promise settled after its grace days) is picked up.
Days after the watermark (`RollupWatermark.through`, normally today) are read live by the same SELECT.

Every rollup row carries the same dimensions, as they stood when the row was built:
    day           the day in the bank's time zone (settings.TIME_ZONE)
    team_id       the team of the case's queue (a team's figures are the work on its queues' cases)
    queue_id      the case's queue
    agent_id      the person the fact belongs to (see each table); NULL for the system
    product       the account's product
    jurisdiction  the cardholder's jurisdiction profile
    bucket        the account's delinquency bucket
    currency      the currency of the money columns (the account's, or the payment's); amounts in
                  different currencies are never summed together (core.money.Amounts)
IDs are plain integers, not foreign keys: a rollup never blocks deleting a queue or a user.
The formulas that turn these columns into KPIs are in `dashboards.kpis`.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

MONEY = {"max_digits": 16, "decimal_places": 2, "default": 0}


class Dims(models.Model):
    # "full": every dimension; "case": all but the agent; "agent": team and agent only (the others
    # empty). The same facts three times, so that each read sums the fewest rows (rollups.level_for).
    level = models.CharField(max_length=8, default="full")
    day = models.DateField()
    team_id = models.IntegerField(null=True)
    queue_id = models.IntegerField(null=True)
    agent_id = models.IntegerField(null=True)
    product = models.CharField(max_length=24, blank=True)
    jurisdiction = models.CharField(max_length=16, blank=True)
    bucket = models.CharField(max_length=8, blank=True)
    currency = models.CharField(max_length=3, blank=True)

    DIMENSIONS = ("team_id", "queue_id", "agent_id", "product", "jurisdiction", "bucket", "currency")

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{type(self).__name__} {self.level} {self.day} team={self.team_id} agent={self.agent_id}"


def _day_indexes(prefix: str) -> list[models.Index]:
    # Every read is one level and a day range, for one team (supervisors), one agent, or every team.
    return [
        models.Index(fields=["level", "day"], name=f"{prefix}_day_idx"),
        models.Index(fields=["level", "team_id", "day"], name=f"{prefix}_team_day_idx"),
        models.Index(fields=["level", "agent_id", "day"], name=f"{prefix}_agent_day_idx"),
    ]


class ActivityDaily(Dims):
    """Contact work per day. agent_id: who made the attempt, recorded the promise or triggered the refusal
    (NULL: automated reminders). Corrected attempts are replaced by their correction."""

    attempts = models.IntegerField(default=0)
    calls = models.IntegerField(default=0)
    answered = models.IntegerField(default=0)
    rpc = models.IntegerField(default=0)
    talk_seconds = models.BigIntegerField(default=0)
    handled_calls = models.IntegerField(default=0)
    overrides = models.IntegerField(default=0)
    complaint_contacts = models.IntegerField(default=0)
    complaint_notes = models.IntegerField(default=0)
    refusals = models.IntegerField(default=0)
    promises_made = models.IntegerField(default=0)
    promised_amount = models.DecimalField(**MONEY)

    class Meta:
        indexes = _day_indexes("dash_act")


class ReachDaily(Dims):
    """Distinct accounts, made additive: one row group per (day, dims, prev_day) counting the accounts
    whose attempt (series "attempt") or right-party contact (series "rpc") on `day` followed an earlier one
    on `prev_day` (NULL: none in the year before). The accounts reached in [a, b] are then
    SUM(accounts) over days in [a, b] with prev_day NULL or before a. Scope "case": any agent (agent_id
    NULL); scope "agent": per agent, prev_day by the same agent. Levels: "bucket" (team, agent, bucket)
    and "agent" (team, agent); a read filtered on queue, product or jurisdiction is computed live."""

    scope = models.CharField(max_length=8)
    series = models.CharField(max_length=8)
    prev_day = models.DateField(null=True)
    accounts = models.IntegerField(default=0)

    class Meta:
        indexes = [
            models.Index(fields=["level", "day", "scope"], name="dash_reach_day_idx"),
            models.Index(fields=["level", "team_id", "day"], name="dash_reach_team_day_idx"),
            models.Index(fields=["level", "agent_id", "day"], name="dash_reach_agent_day_idx"),
        ]


class PromiseDaily(Dims):
    """Promises by their promised date (`day`) and status. agent_id: who recorded the promise.
    paid_capped: what was paid toward each promise, at most its amount."""

    status = models.CharField(max_length=10)
    promises = models.IntegerField(default=0)
    amount = models.DecimalField(**MONEY)
    paid_capped = models.DecimalField(**MONEY)

    class Meta:
        indexes = _day_indexes("dash_ptp")


class CollectionDaily(Dims):
    """Payments by the day they were paid. agent_id: the agent credited (the last right-party contact by
    an agent on the case in the 30 days up to the payment; NULL when there was none)."""

    payments = models.IntegerField(default=0)
    amount = models.DecimalField(**MONEY)

    class Meta:
        indexes = _day_indexes("dash_pay")


class ReasonDaily(Dims):
    """Right-party contacts by the reason for delinquency recorded on them. agent_id: who made them."""

    reason = models.CharField(max_length=24, blank=True)
    rpc = models.IntegerField(default=0)

    class Meta:
        indexes = _day_indexes("dash_reason")


class AgentDaily(models.Model):
    """An agent's working day as the contact log shows it: active_slots is the number of distinct
    quarter-hours with at least one attempt (there is no log-in clock; see kpis.ACTIVE_HOURS)."""

    day = models.DateField()
    agent_id = models.IntegerField()
    team_id = models.IntegerField(null=True)  # the agent's own team
    active_slots = models.IntegerField(default=0)
    first_at = models.DateTimeField(null=True)
    last_at = models.DateTimeField(null=True)

    class Meta:
        indexes = [
            models.Index(fields=["day"], name="dash_agent_day_idx"),
            models.Index(fields=["team_id", "day"], name="dash_agent_team_day_idx"),
        ]

    def __str__(self) -> str:
        return f"AgentDaily {self.day} agent={self.agent_id}"


class CaseFlowDaily(Dims):
    """What entered and left collections each day. agent_id: the case's assigned agent."""

    opened = models.IntegerField(default=0)
    opened_balance = models.DecimalField(**MONEY)
    cured = models.IntegerField(default=0)
    resolved_other = models.IntegerField(default=0)
    written_off = models.IntegerField(default=0)
    escalated = models.IntegerField(default=0)
    plans_activated = models.IntegerField(default=0)
    plans_completed = models.IntegerField(default=0)
    plans_broken = models.IntegerField(default=0)

    class Meta:
        indexes = _day_indexes("dash_flow")


class PortfolioDaily(Dims):
    """The open cases at the nightly run that closed `day` (a stock; it cannot be rebuilt for the past).
    agent_id: the assigned agent."""

    state = models.CharField(max_length=16)
    cases = models.IntegerField(default=0)
    balance = models.DecimalField(**MONEY)
    overdue = models.DecimalField(**MONEY)

    class Meta:
        indexes = _day_indexes("dash_stock")


class AccountMonthEnd(models.Model):
    """Each account's bucket at the end of a month (`month` is its first day); the running month's rows
    are replaced every night until the month is over. Read by the roll-rate matrix and the cure rate.
    A month-end from before the first nightly run is estimated by the first refresh (`estimated`).
    Dimensions are those of the account's open case, if any."""

    month = models.DateField()
    account_id = models.BigIntegerField()
    bucket = models.CharField(max_length=8)
    balance = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3, blank=True)
    # False: taken by the nightly run at that month-end. True: a month-end before the first nightly
    # run, rebuilt from the accounts' first missed due dates and the cases then open
    # (rollups.estimate_month_end).
    estimated = models.BooleanField(default=False)
    team_id = models.IntegerField(null=True)
    queue_id = models.IntegerField(null=True)
    agent_id = models.IntegerField(null=True)
    product = models.CharField(max_length=24, blank=True)
    jurisdiction = models.CharField(max_length=16, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["month", "account_id"], name="dash_month_account_unique")
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} account={self.account_id} {self.bucket}"


class RollTransitionMonthly(models.Model):
    """Accounts by (bucket at the end of the previous month, bucket at the end of `month`), with the
    dimensions they had at the end of the previous month."""

    month = models.DateField()
    team_id = models.IntegerField(null=True)
    queue_id = models.IntegerField(null=True)
    agent_id = models.IntegerField(null=True)
    product = models.CharField(max_length=24, blank=True)
    jurisdiction = models.CharField(max_length=16, blank=True)
    from_bucket = models.CharField(max_length=8)
    to_bucket = models.CharField(max_length=8)
    currency = models.CharField(max_length=3, blank=True)
    accounts = models.IntegerField(default=0)
    balance = models.DecimalField(**MONEY)

    class Meta:
        indexes = [models.Index(fields=["month", "team_id"], name="dash_roll_month_idx")]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.from_bucket}->{self.to_bucket}: {self.accounts}"


class RollupWatermark(models.Model):
    """One row: every day up to `through` is in the rollup tables (the nightly refresh); `intraday_day`
    was rolled up so far at `intraday_at` (the every-few-minutes refresh of today). Other days are read
    live."""

    since = models.DateField(null=True)  # the first day in the rollup tables (earlier days: live)
    through = models.DateField(null=True)
    intraday_day = models.DateField(null=True)
    intraday_at = models.DateTimeField(null=True)
    refreshed_at = models.DateTimeField(null=True)
    last_as_of = models.DateField(null=True)
    last_counts = models.JSONField(default=dict)
    last_seconds = models.FloatField(default=0)
    # The last id of each arrival table at the last refresh (rollups.seen_ids): the next nightly one
    # rebuilds from the first day the rows written since fall on.
    seen_ids = models.JSONField(default=dict)

    # --- Supervisors' records --------------------------------------------------------------------------

    def __str__(self) -> str:
        return f"rollups through {self.through}"


class Availability(models.TextChoices):
    AVAILABLE = "available", _("Available")
    BREAK = "break", _("On a break")
    TRAINING = "training", _("In training")
    OFF = "off", _("Off duty")


class AgentStatus(models.Model):
    """An agent's availability as set by their supervisor (no row: available)."""

    agent = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="agent_status",
        verbose_name=_("agent"),
    )
    availability = models.CharField(
        _("availability"), max_length=12, choices=Availability.choices, default=Availability.AVAILABLE
    )
    note = models.CharField(_("note"), max_length=200, blank=True)
    changed_at = models.DateTimeField(_("changed"), default=timezone.now)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("agent status")
        verbose_name_plural = _("agent statuses")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(availability__in=Availability.values), name="agent_status_valid"
            )
        ]

    def __str__(self) -> str:
        return f"{self.agent} {self.get_availability_display()}"


class AgentSettingChange(models.Model):
    """Append-only history of availability and queue changes (who, when, from what to what)."""

    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    field = models.CharField(max_length=16)  # "availability" | "queues"
    old_value = models.JSONField(default=None, null=True)
    new_value = models.JSONField(default=None, null=True)
    note = models.CharField(max_length=200, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["agent", "-created_at"], name="dash_setting_agent_idx")]

    def __str__(self) -> str:
        return f"{self.agent_id} {self.field}: {self.old_value} -> {self.new_value}"


class InboxDecision(models.TextChoices):
    ESCALATED = "escalated", _("Escalated to legal")
    DECLINED = "declined", _("Declined")
    DONE = "done", _("Handled")


class InboxClosure(models.Model):
    """A supervisor's answer to an inbox item (an escalation request or a refused contact waiting for an
    override): the item leaves the inbox. The answer is also written on the case timeline."""

    # No database foreign key: case events are partitioned by month (collections_app.partitions).
    event = models.OneToOneField(
        "collections_app.CaseEvent",
        on_delete=models.PROTECT,
        related_name="inbox_closure",
        db_constraint=False,
    )
    decision = models.CharField(max_length=12, choices=InboxDecision.choices)
    note = models.TextField(blank=True)
    closed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    closed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(decision__in=InboxDecision.values), name="inbox_decision_valid"
            )
        ]

    def __str__(self) -> str:
        return f"{self.event_id} {self.decision}"


class SummaryStatus(models.TextChoices):
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")


class DailySummary(models.Model):
    """One daily summary e-mail per supervisor and day: the row is claimed before the provider is called,
    so a retried task never sends the same day's summary twice."""

    supervisor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    status = models.CharField(max_length=8, choices=SummaryStatus.choices, default=SummaryStatus.SENDING)
    key = models.CharField(max_length=100)
    provider_ref = models.CharField(max_length=300, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["supervisor", "day"], name="one_summary_per_supervisor_day")
        ]

    def __str__(self) -> str:
        return f"{self.key} {self.status}"


class SavedView(models.Model):
    """A supervisor's named filter on a dashboard page: the page's URL name and its GET query string, so
    that "Save this view" and the list of "My views" bring the same list back. Private to its owner
    (dashboards.saved_views holds the rules)."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views")
    page = models.CharField(_("page"), max_length=64)
    name = models.CharField(_("name"), max_length=100)
    query = models.CharField(_("filter"), max_length=2000, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("saved view")
        verbose_name_plural = _("saved views")
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "page", "name"], name="saved_view_unique_name_per_page")
        ]

    def __str__(self) -> str:
        return self.name
