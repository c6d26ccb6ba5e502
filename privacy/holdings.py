"""Every table that holds a cardholder's data, in one place: the subject-access export reads each of
them, the purge anonymises the personal fields named here. tests/privacy/test_holdings.py walks the
models' foreign keys and fails when a model that leads to a cardholder is missing from this map - a new
table is then classified here before it ships (EU-01: no field without a category).

`path` is the ORM lookup from the table to the cardholder ("" for the cardholder itself). `clear`
lists the personal fields the purge empties; `replace` those it overwrites with a neutral value
(a unique column cannot be emptied twice). Amounts, dates, states, outcomes and buckets stay: the
KPIs read them. `recording` names the field holding a reference to a call recording.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.apps import apps
from django.db.models import Model, Q


@dataclass(frozen=True)
class Holding:
    model: str  # "app_label.ModelName"
    path: str
    clear: tuple[str, ...] = ()
    recording: str = ""
    # Left as they are by the purge, and why (shown in the purge's docstring and the report).
    untouched_because: str = ""

    @property
    def model_class(self) -> type[Model]:
        return apps.get_model(self.model)

    @property
    def label(self) -> str:
        return self.model.lower()

    def of(self, cardholder_ids) -> Q:
        """The rows of this table belonging to the cardholders `cardholder_ids` (a list or a subquery)."""
        return Q(pk__in=cardholder_ids) if not self.path else Q(**{f"{self.path}__in": cardholder_ids})

    @property
    def personal_fields(self) -> tuple[str, ...]:
        return (*self.clear, self.recording) if self.recording else self.clear


CASE = "case__account__cardholder"

HOLDINGS: tuple[Holding, ...] = (
    # The person. name -> "Purged <id>", the identifiers emptied (privacy.purge).
    Holding(
        "collections_app.Cardholder",
        "",
        clear=("national_id", "national_id_hash", "email", "address", "attorney_contact"),
    ),
    # Numbers and addresses: the value is replaced by "purged-<id>" (unique per cardholder and kind).
    Holding("collections_app.ContactPoint", "cardholder", clear=("value_hash", "party_name")),
    Holding("collections_app.CreditAccount", "cardholder"),
    Holding("collections_app.Case", "account__cardholder"),
    Holding("collections_app.CaseHold", CASE, clear=("note", "release_note")),
    Holding(
        "collections_app.ContactAttempt",
        "cardholder",
        clear=("person_reached", "notes", "policy_override_reason"),
        recording="recording_ref",
    ),
    Holding("collections_app.PromiseToPay", CASE),
    Holding("collections_app.Payment", "account__cardholder"),
    Holding(
        "collections_app.CaseEvent",
        CASE,
        untouched_because="append-only and hash-chained: the timeline is the collection record the "
        "regulator asks for, and no UPDATE is allowed on it",
    ),
    Holding(
        "collections_app.AccessRecord",
        "cardholder",
        untouched_because="append-only: who looked at the person's data, and why, is the record the "
        "person and the regulator may ask for",
    ),
    # Who asked for a write-off or a settlement and who approved it, and why: the bank's record of the
    # money, kept like the timeline (a decision's reason is required by the database).
    Holding(
        "authority.AuthorityRequest",
        CASE,
        untouched_because="the maker-checker record of a write-off or settlement: kept as the timeline is",
    ),
    Holding(
        "authority.AuthorityDecision",
        f"request__{CASE}",
        untouched_because="the maker-checker record of a write-off or settlement: kept as the timeline is",
    ),
    Holding("repayment_plans.RepaymentPlan", CASE, clear=("reason", "acceptance_note", "end_note")),
    Holding("repayment_plans.Installment", f"plan__{CASE}"),
    Holding("repayment_plans.PlanAllocation", f"installment__plan__{CASE}"),
    # The referral's reason and court reference are the legal record; the reviewer's note is cleared.
    Holding("legal.LegalReferral", CASE, clear=("decision_note",)),
    Holding("escalation.EscalationFiring", CASE),
    # The rendered text named the person; what the message was about (`about`) and its status stay.
    Holding(
        "messaging.OutboundMessage", CASE, clear=("recipient", "subject", "body", "detail", "last_error")
    ),
    Holding("telephony.Call", CASE, clear=("failure",), recording="recording_url"),
    Holding("dashboards.InboxClosure", f"event__{CASE}", clear=("note",)),
    Holding("privacy.LegalHold", "cardholder"),
    Holding("privacy.LegalHold", CASE),
    Holding("privacy.PurgedCardholder", "cardholder"),
    Holding("privacy.SubjectAccessRequest", "cardholder"),
    Holding("privacy.CorrectionRequest", "cardholder", clear=("current_value", "requested_value")),
    # The history of changes keeps each tracked row as it was after every change, and the changed fields'
    # old and new values (`pgh_diff`): the purge blanks the same personal fields there, in the snapshots
    # and in the diffs (privacy.purge), after the tables themselves.
    Holding(
        "history.CardholderChange",
        "pgh_obj",
        clear=("name", "national_id", "email", "address", "attorney_contact"),
    ),
    Holding("history.ContactPointChange", "cardholder", clear=("value", "party_name")),
    Holding("history.CreditAccountChange", "cardholder"),
    Holding("history.CaseChange", "account__cardholder"),
    Holding("history.PromiseChange", CASE),
    Holding("history.PaymentChange", "account__cardholder"),
    Holding("history.RepaymentPlanChange", CASE, clear=("reason", "acceptance_note", "end_note")),
)

# Tables that refer to a cardholder's rows by a plain integer (no foreign key; see dashboards.models):
# figures only, no personal data. Exported, never purged.
BY_ACCOUNT_ID: tuple[str, ...] = ("dashboards.AccountMonthEnd",)


def holdings_of(model: type[Model]) -> list[Holding]:
    label = model._meta.label
    return [holding for holding in HOLDINGS if holding.model == label]


def mapped_models() -> set[str]:
    return {holding.model for holding in HOLDINGS}


def models_leading_to_cardholder() -> set[str]:
    """Every installed model with a chain of foreign keys (or one-to-one keys) that ends at the
    Cardholder: the tables that hold a cardholder's data, whether or not this map knows them."""
    cardholder = apps.get_model("collections_app.Cardholder")
    reach = {cardholder}
    changed = True
    while changed:
        changed = False
        for model in apps.get_models():
            if model in reach:
                continue
            for field in model._meta.get_fields():
                if (
                    field.concrete
                    and (field.many_to_one or field.one_to_one)
                    and field.related_model in reach
                ):
                    reach.add(model)
                    changed = True
                    break
    return {model._meta.label for model in reach}
