"""Operations on cases: the one entry point for pages, API, admin actions, commands and tasks.

Every operation is keyword-only, takes an explicit `actor` (None = the system), locks what it changes,
checks the actor's reach (collections_app.access) and the state machine, and writes the `CaseEvent`
timeline in the same transaction. Raises core.exceptions on refusal. Only `kernel` changes a case's
state; the other modules call it.

    kernel          lock, transition one case, bulk_transition many, events, extension points
    access          access records: every look at personal data, with its reason
    cases           open, hold, release, close, notes, escalation requests, transitions by name, reveals
    contacts        contact attempts through the contact policy
    contactability  the facts the contact policy needs, gathered for a case
    promises        promises to pay and the nightly broken-promise check
    payments        payments and their allocation
    claims          Next case, leases, callbacks
    queues          priority scores, queue placement, moving a case to another queue
"""

from collections_app.services.access import (
    AccessReasonMissing,
    GivenReason,
    access_reason,
    access_reason_from,
    access_record,
    access_record_many,
    request_id_of,
)
from collections_app.services.cases import (
    REVEALABLE_FIELDS,
    available_transitions,
    case_close,
    case_hold,
    case_open,
    case_release_hold,
    case_transition,
    cases_open_for_delinquent_accounts,
    cases_resolve_cured,
    cured_resolution_sql,
    escalation_request,
    note_add,
    pii_reveal,
)
from collections_app.services.claims import (
    CLAIM_ORDER,
    CLAIMABLE_STATES,
    ClaimResult,
    agent_queue_ids,
    callback_schedule,
    case_claim_next,
    case_lease_renew,
    case_release,
    not_ready_summary,
    ready_now,
)
from collections_app.services.contacts import (
    ContactInput,
    call_script_for_case,
    contact_attempt_log,
    contact_attempt_record_sent,
)
from collections_app.services.kernel import (
    USER_TRANSITIONS,
    bulk_transition,
    bump_version,
    event_write,
    lock_case,
    start_work_if_new,
    transition,
)
from collections_app.services.payments import PaymentResult, payment_record
from collections_app.services.promises import (
    promise_conversations,
    promise_record,
    promises_check_broken,
)
from collections_app.services.queues import case_move_queue

__all__ = [
    "AccessReasonMissing",
    "GivenReason",
    "access_reason",
    "access_reason_from",
    "access_record",
    "access_record_many",
    "request_id_of",
    "CLAIMABLE_STATES",
    "CLAIM_ORDER",
    "REVEALABLE_FIELDS",
    "USER_TRANSITIONS",
    "ClaimResult",
    "ContactInput",
    "PaymentResult",
    "agent_queue_ids",
    "available_transitions",
    "bulk_transition",
    "bump_version",
    "call_script_for_case",
    "callback_schedule",
    "case_claim_next",
    "case_close",
    "case_hold",
    "case_lease_renew",
    "case_move_queue",
    "case_open",
    "case_release",
    "case_release_hold",
    "case_transition",
    "cases_open_for_delinquent_accounts",
    "cases_resolve_cured",
    "cured_resolution_sql",
    "contact_attempt_log",
    "contact_attempt_record_sent",
    "escalation_request",
    "event_write",
    "lock_case",
    "not_ready_summary",
    "note_add",
    "payment_record",
    "pii_reveal",
    "promise_conversations",
    "ready_now",
    "promise_record",
    "promises_check_broken",
    "start_work_if_new",
    "transition",
]
