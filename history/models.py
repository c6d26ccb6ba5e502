"""What is tracked, and what is left out of the record.

Every insert, update and delete of these models is written by a database trigger into one event table
per model (history/tracking.py). Left out (neither stored nor compared, so an update that changes only
them writes nothing):
- everywhere: `updated_at` (it changes with every save and says nothing the event's time does not);
- users: the password hash and `last_login` (a secret, and a sign-in is not a change of the user);
- cardholders, contact points and accounts: the keyed hashes of the national ID, of the number and of
  the card number (derived from the stored value, and searchable: a hash of a national ID is personal
  data too); the national ID and card number themselves are kept encrypted, as in their own tables;
- accounts: `balance` (a generated column), `days_past_due`, `bucket` and `dpd_as_of`, which the nightly
  delinquency roll recomputes over the whole portfolio from the due dates (the inputs are tracked);
- cases: what the nightly jobs and the claim machinery recompute - `priority` (the nightly score),
  `contactable_from`, `contactable_until`, `contact_block_rule`, `contact_zones` (the stored
  contactability, rolled on schedule), `lease_owner`, `lease_expires_at` (a claim's lease, renewed on
  every page view and swept on expiry; the case's events say who worked it) and `version` (the API's
  ETag, bumped by every write, including the lease sweep).
"""

from accounts.models import User
from authority.models import AuthorityLimit
from collections_app.models import (
    Cardholder,
    Case,
    ContactPoint,
    CreditAccount,
    Payment,
    PromiseToPay,
)
from contact_policy.models import ContactPolicy
from escalation.models import EscalationRule
from history.tracking import track_changes
from messaging.models import MessageTemplate
from repayment_plans.models import ApprovalLimit, RepaymentPlan

CASE_DERIVED_COLUMNS = (
    "priority",
    "contactable_from",
    "contactable_until",
    "contact_block_rule",
    "contact_zones",
    "lease_owner",
    "lease_expires_at",
    "version",
)
ACCOUNT_DERIVED_COLUMNS = ("balance", "days_past_due", "bucket", "dpd_as_of", "updated_at")

CardholderChange = track_changes(Cardholder, "CardholderChange", exclude=("national_id_hash", "updated_at"))
ContactPointChange = track_changes(
    ContactPoint, "ContactPointChange", exclude=("value_hash",), indexed=("cardholder",)
)
CreditAccountChange = track_changes(
    CreditAccount, "CreditAccountChange", exclude=(*ACCOUNT_DERIVED_COLUMNS, "card_number_hash")
)
CaseChange = track_changes(Case, "CaseChange", exclude=CASE_DERIVED_COLUMNS)
PromiseChange = track_changes(PromiseToPay, "PromiseChange", indexed=("case",))
PaymentChange = track_changes(Payment, "PaymentChange", indexed=("account",))
RepaymentPlanChange = track_changes(
    RepaymentPlan, "RepaymentPlanChange", exclude=("updated_at",), indexed=("case",)
)
ApprovalLimitChange = track_changes(ApprovalLimit, "ApprovalLimitChange")
AuthorityLimitChange = track_changes(AuthorityLimit, "AuthorityLimitChange")
ContactPolicyChange = track_changes(ContactPolicy, "ContactPolicyChange", exclude=("updated_at",))
EscalationRuleChange = track_changes(EscalationRule, "EscalationRuleChange", exclude=("updated_at",))
MessageTemplateChange = track_changes(MessageTemplate, "MessageTemplateChange", exclude=("updated_at",))
UserChange = track_changes(User, "UserChange", exclude=("password", "last_login"))
