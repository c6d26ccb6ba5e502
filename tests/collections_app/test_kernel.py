"""The case kernel (collections_app.services.kernel): the one module that changes a case's state.

- `bulk_transition` moves, set-based, only the cases whose state allows the transition, writes one event per
  case moved, applies the transition's effects (TRANSITION_EFFECTS), and changes nothing the second time;
- `transition` (one locked case) refuses a state the machine does not allow and a role without the right;
- no other module of the project updates a case's state in bulk (a static scan of the source).
"""

import ast
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine
from django.apps import apps
from django.db import connection, transaction
from django.test import TestCase
from django.test.utils import CaptureQueriesContext

from collections_app.models import Case, CaseEvent, CaseState, EventKind, ResolutionReason
from collections_app.services import kernel
from core.exceptions import InvalidTransition, NotAllowed
from tests.factories import UserFactory, open_case

NOW = datetime(2026, 6, 2, 18, 0, tzinfo=UTC)


def arrange(case: Case, state: str, **fields) -> None:
    """Put a case in `state` for the test. Only the arrangement writes the column directly: what is under
    test is the kernel, and the services that lead to each state are tested with those services."""
    Case.objects.filter(pk=case.pk).update(state=state, **fields)


def snapshot(cases) -> dict[int, tuple]:
    rows = Case.objects.filter(pk__in=[c.pk for c in cases]).values_list(
        "pk", "state", "version", "broken_promise_count", "closed_at", "resolution_reason"
    )
    return {row[0]: row[1:] for row in rows}


@time_machine.travel("2026-06-01 10:00 +0800", tick=False)
class BulkTransitionTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.promised = [open_case() for _ in range(3)]
        for case in cls.promised:
            arrange(case, CaseState.PROMISED)
        cls.working = open_case()
        arrange(cls.working, CaseState.IN_PROGRESS)
        cls.held = open_case()
        arrange(cls.held, CaseState.ON_HOLD)
        cls.new = open_case()
        cls.closed = open_case()
        arrange(cls.closed, CaseState.WRITTEN_OFF, closed_at=NOW)
        cls.everyone = [*cls.promised, cls.working, cls.held, cls.new, cls.closed]
        cls.others = [cls.working, cls.held, cls.new, cls.closed]

    def break_promises(self, **kwargs) -> list[int]:
        return kernel.bulk_transition(
            Case.objects.filter(pk__in=[c.pk for c in self.everyone]),
            "break_promise",
            reason="Promise broken",
            details={"as_of": "2026-06-02"},
            now=NOW,
            **kwargs,
        )

    def test_only_the_cases_whose_state_allows_the_transition_move_and_their_ids_are_returned(self):
        before = snapshot(self.everyone)

        moved = self.break_promises()

        assert sorted(moved) == sorted(c.pk for c in self.promised)
        after = snapshot(self.everyone)
        for case in self.promised:
            state, version, broken, closed_at, _reason = after[case.pk]
            # the transition's effect (TRANSITION_EFFECTS["break_promise"]): the counter goes up by one
            assert (state, version, broken) == (CaseState.IN_PROGRESS, before[case.pk][1] + 1, 1)
            assert closed_at is None
        for case in self.others:
            assert after[case.pk] == before[case.pk]

    def test_one_event_per_case_moved_with_what_happened(self):
        events_before = CaseEvent.objects.filter(case__in=self.others).count()

        moved = self.break_promises()

        events = CaseEvent.objects.filter(case_id__in=moved, kind=EventKind.TRANSITION)
        assert sorted(e.case_id for e in events) == sorted(moved)
        for event in events:
            assert (event.from_state, event.to_state) == (CaseState.PROMISED, CaseState.IN_PROGRESS)
            assert (event.reason, event.details, event.actor_id) == (
                "Promise broken",
                {"as_of": "2026-06-02"},
                None,
            )
            assert event.created_at == NOW
        assert CaseEvent.objects.filter(case__in=self.others).count() == events_before

    def test_a_second_run_moves_nothing_and_writes_nothing(self):
        self.break_promises()
        before, events = snapshot(self.everyone), CaseEvent.objects.count()

        assert self.break_promises() == []

        assert snapshot(self.everyone) == before
        assert CaseEvent.objects.count() == events

    def test_resolving_sets_closed_at_and_the_given_values_and_keeps_each_cases_own_from_state(self):
        open_cases = [*self.promised, self.working, self.held, self.new]

        moved = kernel.bulk_transition(
            Case.objects.filter(pk__in=[c.pk for c in self.everyone]),
            "resolve",
            reason="Overdue amount paid",
            kind=EventKind.RESOLVED,
            details={"resolution_reason": ResolutionReason.CURED},
            values={"resolution_reason": ResolutionReason.CURED},
            now=NOW,
        )

        assert sorted(moved) == sorted(c.pk for c in open_cases)
        after = snapshot(self.everyone)
        for case in open_cases:
            assert after[case.pk][0] == CaseState.RESOLVED
            assert after[case.pk][3:] == (NOW, ResolutionReason.CURED)  # closed_at (TRANSITION_EFFECTS)
        assert after[self.closed.pk][0] == CaseState.WRITTEN_OFF  # closed already: left alone
        from_states = dict(
            CaseEvent.objects.filter(kind=EventKind.RESOLVED, case_id__in=moved).values_list(
                "case_id", "from_state"
            )
        )
        assert from_states == {
            **{c.pk: CaseState.PROMISED for c in self.promised},
            self.working.pk: CaseState.IN_PROGRESS,
            self.held.pk: CaseState.ON_HOLD,
            self.new.pk: CaseState.NEW,
        }

    def test_details_particular_to_a_case_are_merged_over_the_common_ones(self):
        first, second, third = self.promised

        self.break_promises(details_by_case={first.pk: {"promise": 7}, second.pk: {"as_of": "other"}})

        details = dict(
            CaseEvent.objects.filter(kind=EventKind.TRANSITION, case__in=self.promised).values_list(
                "case_id", "details"
            )
        )
        assert details == {
            first.pk: {"as_of": "2026-06-02", "promise": 7},
            second.pk: {"as_of": "other"},
            third.pk: {"as_of": "2026-06-02"},
        }

    def test_the_cases_may_be_any_queryset_of_cases(self):
        moved = kernel.bulk_transition(
            Case.objects.filter(account__in=[c.account for c in self.promised[:2]]).order_by("-pk"),
            "break_promise",
            reason="Promise broken",
            now=NOW,
        )
        assert sorted(moved) == sorted(c.pk for c in self.promised[:2])

    def test_the_number_of_statements_does_not_grow_with_the_number_of_cases(self):
        with CaptureQueriesContext(connection) as one:
            kernel.bulk_transition(
                Case.objects.filter(pk=self.promised[0].pk), "break_promise", reason="x", now=NOW
            )
        with CaptureQueriesContext(connection) as many:
            moved = kernel.bulk_transition(
                Case.objects.filter(pk__in=[c.pk for c in self.promised]),
                "break_promise",
                reason="x",
                now=NOW,
            )
        assert len(moved) == 2
        assert len(many.captured_queries) == len(one.captured_queries) <= 5

    def test_an_unknown_transition_is_refused(self):
        with pytest.raises(InvalidTransition):
            kernel.bulk_transition(Case.objects.all(), "vanish", reason="x")

    def test_the_sources_of_a_transition_are_read_from_the_model(self):
        assert set(kernel.transition_sources("start_plan")) == {
            CaseState.NEW,
            CaseState.IN_PROGRESS,
            CaseState.PROMISED,
        }
        assert kernel.transition_sources("break_promise") == (CaseState.PROMISED,)


@pytest.mark.django_db
def test_cases_closed_in_bulk_are_told_to_the_handlers_with_their_ids(monkeypatch):
    calls = []
    monkeypatch.setattr(kernel, "_cases_closed_handlers", [])
    kernel.on_cases_closed(lambda **kwargs: calls.append(kwargs))

    kernel.cases_closed([], actor=None, reason="nothing closed")
    kernel.cases_closed([3, 5], actor=None, reason="Paid")

    assert calls == [{"case_ids": [3, 5], "actor": None, "reason": "Paid"}]


# --- One case: transition ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_transition_refuses_a_state_the_machine_does_not_allow_and_writes_nothing():
    case = open_case()  # new
    version = case.version
    with transaction.atomic():
        locked = kernel.lock_case(case.pk)
        with pytest.raises(InvalidTransition) as refused:
            kernel.transition(locked, "break_promise", actor=None)
    assert refused.value.rule == "state_machine"
    case.refresh_from_db()
    assert (case.state, case.version) == (CaseState.NEW, version)
    assert not CaseEvent.objects.filter(case=case, kind=EventKind.TRANSITION).exists()


@pytest.mark.django_db
def test_transition_refuses_a_role_without_the_right_and_allows_one_with_it(team_a):
    agent = UserFactory(role="agent", team=team_a)
    supervisor = UserFactory(role="supervisor", team=team_a)
    case = open_case(team=team_a)
    version = case.version
    with transaction.atomic():
        locked = kernel.lock_case(case.pk)
        with pytest.raises(NotAllowed):
            kernel.transition(locked, "write_off", actor=agent)
    case.refresh_from_db()
    assert (case.state, case.version) == (CaseState.NEW, version)

    with transaction.atomic():
        locked = kernel.lock_case(case.pk)
        event = kernel.transition(locked, "resolve", actor=supervisor, kind=EventKind.RESOLVED)
    case.refresh_from_db()
    assert (case.state, case.version, event.actor) == (CaseState.RESOLVED, version + 1, supervisor)
    assert case.closed_at is not None
    assert (event.from_state, event.to_state) == (CaseState.NEW, CaseState.RESOLVED)


@pytest.mark.django_db
def test_the_kernel_runs_a_write_off_only_for_an_approved_request(team_a):
    supervisor = UserFactory(role="supervisor", team=team_a)
    case = open_case(team=team_a)
    with transaction.atomic():
        locked = kernel.lock_case(case.pk)
        with pytest.raises(NotAllowed) as refused:
            kernel.transition(locked, "write_off", actor=supervisor, kind=EventKind.WRITTEN_OFF)
    assert refused.value.rule == "authority_required"
    with transaction.atomic():
        locked = kernel.lock_case(case.pk)
        with pytest.raises(NotAllowed):  # a made-up request id
            kernel.transition(locked, "write_off", actor=supervisor, authority_request_id=999_999)
    with pytest.raises(NotAllowed):  # never in bulk
        kernel.bulk_transition(Case.objects.filter(pk=case.pk), "write_off", reason="Charged off")
    case.refresh_from_db()
    assert case.state == CaseState.NEW


# --- Nobody else updates a case's state in bulk --------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
KERNEL = ROOT / "collections_app" / "services" / "kernel.py"
# The benchmark's raw baselines of the nightly steps write case states by hand to measure what the kernel
# costs, always in a transaction they roll back (demo/bench/nightly_sql.py, run by demo/bench/timing.py).
BENCH = ROOT / "demo" / "bench" / "nightly_sql.py"
SKIPPED_DIRS = {"tests", "migrations", "node_modules", "static", "templates", "locale", "docs", "samples"}
# UPDATE <table> [[AS] alias] SET ..., state = ...
SQL_SETS_STATE = re.compile(r"\bUPDATE\s+\S+(?:\s+(?:AS\s+)?\w+)?\s+SET\b[^;]*?\bstate\s*=", re.IGNORECASE)


def other_models_with_a_state() -> set[str]:
    """Models other than Case that have a `state` column: `Model.objects....update(state=...)` is theirs."""
    return {
        model.__name__
        for model in apps.get_models()
        if model is not Case and any(f.name == "state" for f in model._meta.concrete_fields)
    }


def _root_name(node: ast.AST) -> str | None:
    """The name a call chain starts from: `Case` in `Case.objects.filter(x).update`, `qs` in `qs.update`."""
    while isinstance(node, ast.Attribute | ast.Call | ast.Subscript):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _names_state(call: ast.Call) -> bool:
    for keyword in call.keywords:
        if keyword.arg == "state":
            return True
        if (
            keyword.arg is None  # update(**{"state": ...})
            and isinstance(keyword.value, ast.Dict)
            and any(isinstance(k, ast.Constant) and k.value == "state" for k in keyword.value.keys)
        ):
            return True
    return False


def _strings(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value
        elif isinstance(node, ast.JoinedStr):
            parts = [v.value if isinstance(v, ast.Constant) else "{}" for v in node.values]
            yield node.lineno, "".join(parts)


def bulk_state_writes(source: str, others: set[str]) -> list[tuple[int, str]]:
    """Where `source` updates a case's state in bulk: a queryset `.update(state=...)`, a `bulk_update` of
    the "state" field, or SQL that sets a state column - unless the chain starts from another model that
    has a state of its own (a repayment plan). A queryset held in a variable counts as a case queryset."""
    found = []
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if _root_name(node.func) in others:
            continue
        if node.func.attr == "update" and _names_state(node):
            found.append((node.lineno, "update(state=...)"))
        elif node.func.attr == "bulk_update" and any(
            isinstance(n, ast.Constant) and n.value == "state"
            for arg in [*node.args[1:], *(k.value for k in node.keywords if k.arg == "fields")]
            for n in ast.walk(arg)
        ):
            found.append((node.lineno, "bulk_update([..., 'state'])"))
    found += [(line, "SQL SET state") for line, text in _strings(tree) if SQL_SETS_STATE.search(text)]
    return found


def project_sources():
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).parts
        if any(p.startswith(".") or p in SKIPPED_DIRS for p in parts[:-1]) or path in (KERNEL, BENCH):
            continue
        yield path


def test_the_scan_finds_every_form_of_a_bulk_state_write():
    others = {"RepaymentPlan"}
    source = '''
Case.objects.filter(pk=1).update(state="resolved")
cases.filter(pk__in=ids).update(
    version=F("version") + 1,
    state=CaseState.IN_PROGRESS,
)
account.cases.update(**{"state": "resolved"})
Case.objects.bulk_update(cases, fields=["state", "version"])
cursor.execute(f"UPDATE {table} AS c SET version = c.version + 1, state = %s WHERE c.id = ANY(%s)")
RepaymentPlan.objects.filter(pk=1).update(state="broken")
Case.objects.filter(state="new").update(priority=3)
Case.objects.bulk_update(cases, ["priority"])
"""Set-based: a compare-and-swap (`filter(state=old).update(...)`) on the plans."""
'''
    assert [line for line, _what in bulk_state_writes(source, others)] == [2, 3, 7, 8, 9]


def test_no_module_but_the_kernel_updates_a_cases_state_in_bulk():
    others = other_models_with_a_state()
    assert "RepaymentPlan" in others and "Case" not in others
    sources = list(project_sources())
    assert len(sources) > 50  # the scan does look at the project
    offenders = [
        f"{path.relative_to(ROOT)}:{line}: {what}"
        for path in sources
        for line, what in bulk_state_writes(path.read_text(encoding="utf-8"), others)
    ]
    assert offenders == [], "only collections_app/services/kernel.py changes a case's state:\n" + "\n".join(
        offenders
    )
