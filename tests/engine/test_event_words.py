"""Every audit event a person may read (a timeline, an approval's history, a record's history) says what
happened in words: each action written anywhere in ``engine/`` or ``web/`` has a phrase in
``engine.app.event_words`` (the domain's in ``engine.aims.event_words``), so a new event cannot reach a
page as its code ("nc triaged")."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.aims.event_words import Choice
from engine.app.event_words import WORDS, phrase, shown
from engine.app.history import described
from engine.core import audit_trail
from engine.core.clock import FixedClock
from engine.core.models import AuditEvent

from .helpers import email, user

ROOT = Path(__file__).resolve().parent.parent.parent
SOURCES = sorted([*ROOT.glob("engine/**/*.py"), *ROOT.glob("web/**/*.py")])

#: functions that append an event whose action another writer chose (and this scan finds there): the
#: operators' queued ``ctx.audit`` events, and an error's event kept across a rollback
PASS_THROUGH = {("engine/core/runtime.py", "append_effects"), ("engine/core/uow.py", "transaction")}


def _constants(node: ast.AST | None, assigned: dict[str, list[ast.AST]]) -> set[str] | None:
    """The strings ``node`` can be (a constant, either side of ``a if c else b``, a local name assigned
    such values), or None when it is anything else."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.IfExp):
        body, orelse = _constants(node.body, assigned), _constants(node.orelse, assigned)
        return body | orelse if body is not None and orelse is not None else None
    if isinstance(node, ast.Name) and assigned.get(node.id):
        found: set[str] = set()
        for value in assigned[node.id]:
            each = _constants(value, {})
            if each is None:
                return None
            found |= each
        return found
    return None


def _action_argument(call: ast.Call) -> tuple[bool, ast.AST | None]:
    """(whether ``call`` writes an audit event, the expression of its action)."""
    func = call.func
    if not isinstance(func, ast.Attribute):
        return False, None
    if func.attr == "audit":  # OperatorContext.audit(action, subject=None, **data)
        return True, call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "action"), None)
    if func.attr == "append" and isinstance(func.value, ast.Name) and func.value.id == "audit_trail":
        return True, call.args[2] if len(call.args) > 2 else next(
            (k.value for k in call.keywords if k.arg == "action"), None)
    return False, None


def written_actions() -> tuple[dict[str, set[str]], list[str]]:
    """Every audit action the source writes (action -> where), and the writers whose action this scan
    cannot read. Writers: ``ctx.audit(...)``, ``audit_trail.append(..., action, ...)`` and the event dicts
    (``{"action": "escalate", ...}``) that ``append_many`` and the rollback path append."""
    found: dict[str, set[str]] = {}
    unread: list[str] = []
    for path in SOURCES:
        rel = path.relative_to(ROOT).as_posix()
        if rel == "engine/core/audit_trail.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for fn in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)] + [tree]:
            assigned: dict[str, list[ast.AST]] = {}
            for node in ast.walk(fn):
                if isinstance(node, ast.Assign):
                    for target in node.targets:
                        if isinstance(target, ast.Name):
                            assigned.setdefault(target.id, []).append(node.value)
            for node in ast.walk(fn):
                where = f"{rel}:{getattr(node, 'lineno', 0)}"
                if isinstance(node, ast.Call):
                    writes, argument = _action_argument(node)
                    if not writes:
                        continue
                    actions = _constants(argument, assigned)
                    if actions is None:
                        if (rel, getattr(fn, "name", "")) not in PASS_THROUGH and fn is not tree:
                            unread.append(where)
                        continue
                    for action in actions:
                        found.setdefault(action, set()).add(where)
                elif isinstance(node, ast.Dict):
                    for key, value in zip(node.keys, node.values, strict=True):
                        if isinstance(key, ast.Constant) and key.value == "action":
                            for action in _constants(value, {}) or ():
                                found.setdefault(action, set()).add(where)
    return found, sorted(set(unread))


def test_every_audit_action_written_in_the_source_has_words() -> None:
    found, unread = written_actions()
    # the scan sees each kind of writer: an operator's, a service's, the application's, a dict's, a choice's
    for action in ("nc_reported", "start", "login", "escalate", "sod_violation_blocked", "user_deactivate",
                   "signal_delivered", "register_retired"):
        assert action in found, f"the scan no longer finds {action!r}"
    assert not unread, ("these write an audit event whose action the scan cannot read: spell the action out "
                        f"(a string, or 'a' if ... else 'b') so it can be given words: {unread}")
    missing = {action: where for action, where in found.items() if action not in WORDS}
    assert not missing, ("audit actions without words (add a phrase to engine/aims/event_words.py, or to "
                         f"engine/app/event_words.py for the engine's and the application's own): {missing}")


def test_no_words_for_an_action_nothing_writes() -> None:
    found, _unread = written_actions()
    assert sorted(set(WORDS) - set(found)) == []


def _texts(words: str | Choice) -> list[str]:
    return [*words.phrases.values(), words.otherwise] if isinstance(words, Choice) else [words]


@pytest.mark.parametrize("action", sorted(WORDS))
def test_each_phrase_reads_without_its_optional_parts(action: str) -> None:
    for text in _texts(WORDS[action]):
        outside = re.sub(r"\[[^\[\]]*\]", "", text)
        assert "{" not in outside and "[" not in outside and "]" not in outside, \
            f"{action}: every {{field}} sits inside [brackets], which nest no further: {text!r}"
        bare = phrase(action, {}, {})
        assert bare.strip() == bare and "  " not in bare and "_" not in bare and "{" not in bare, bare
    assert phrase(action, {}, {}) != action.replace("_", " ")


def test_phrase_names_what_the_event_names_and_chooses_by_its_data() -> None:
    assert phrase("nc_reported", {}, {"subject": ""}) == "reported the nonconformity"
    assert phrase("nc_reported", {}, {"subject": "NC-2026-005"}) == "reported the nonconformity NC-2026-005"
    assert phrase("nc_triaged", {"severity": "major"}, {"severity": "major"}) == "triaged the nonconformity as major"
    assert phrase("scope_approved", {"version": 2}, {"version": "2"}) == "approved the scope statement version 2"
    assert (phrase("nc_plan_decision", {"decision": "reject"}, {}) ==
            "sent the corrective-action plan back for rework")
    assert phrase("nc_plan_decision", {"decision": "approve"}, {}) == "approved the corrective-action plan"
    assert phrase("schedule", {"active": False}, {"subject": "p"}) == "stopped the schedule of the process p"
    assert phrase("an_event_of_an_older_version", {}, {}) == "an event of an older version"


def test_shown_values_name_people_and_say_codes_in_words() -> None:
    names = {"ravi.kumar@x.example": "Ravi Kumar"}
    assert shown(["ravi.kumar@x.example", "ai_system"], names) == "Ravi Kumar, AI system"
    assert shown([f"RSK-{i:03}" for i in range(1, 8)], {}) == "RSK-001, RSK-002, RSK-003, RSK-004, RSK-005 and 2 more"
    assert shown("2026-11-03T09:30:00+00:00", {}) == "2026-11-03 09:30 UTC"
    assert shown("2026-11-03T00:00:00+00:00", {}) == "2026-11-03"
    assert shown({"a": 1}, {}) == "" and shown(None, {}) == ""


def test_described_events_name_people_and_leave_out_the_pages_own_record(session: Session,
                                                                          clock: FixedClock) -> None:
    priya, ravi = user(session, "priya"), user(session, "ravi")
    seqs = [audit_trail.append(session, clock, "nc_triaged", actor=priya, subject="NC-2026-005",
                               data={"severity": "minor", "owner": email("ravi")}),
            audit_trail.append(session, clock, "nc_owner_reassigned", actor=priya, subject="NC-2026-005",
                               data={"previous": email("ravi"), "new": email("priya")}),
            audit_trail.append(session, clock, "risk_raised", actor=ravi, subject="RSK-042",
                               data={"origin_ref": "AIIA-003"}),
            audit_trail.append(session, clock, "timer", data={"fired": ["bt_stage1"], "status": "running"}),
            audit_trail.append(session, clock, "timer_failed", data={"error": "the script ran too long"}),
            audit_trail.append(session, clock, "risk_accepted", actor=ravi, subject="RSK-042",
                               data={"by": email("ravi")}),
            audit_trail.append(session, clock, "risk_dissent_recorded", actor=ravi,
                               data={"reason": "qa_rework_limit"}),
            audit_trail.append(session, clock, "sod_violation_blocked", subject="NC-2026-005",
                               data={"task_spec": "ut_approve", "user": email("priya"), "at": "candidate_building",
                                     "reasons": [f"{email('priya')} triaged it"]})]
    events = list(session.scalars(select(AuditEvent).where(AuditEvent.seq.in_(seqs)).order_by(AuditEvent.seq)))
    said = [(m.who, m.what, m.note) for m in described(session, events, {"ut_approve": "Approve the plan",
                                                                   "bt_stage1": "Stage 1 minus 30 days"},
                                                         "NC-2026-005")]
    assert said == [
        (priya.name, "triaged the nonconformity as minor", None),
        (priya.name, f"gave the nonconformity to a new owner, {priya.name}", None),
        (ravi.name, "raised the risk RSK-042 from the impact assessment AIIA-003", None),
        ("aimsflow", "fired the timer “Stage 1 minus 30 days”", None),
        ("aimsflow", "could not run the process on", "the script ran too long"),
        (ravi.name, "recorded the acceptance of the risk RSK-042", None),
        (ravi.name, "recorded an unresolved objection in the risk assessment", "QA rework limit"),
        ("aimsflow", f"did not give Approve the plan to {priya.name}, as segregation of duties forbids it",
         f"{priya.name} triaged it")]
